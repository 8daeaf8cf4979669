package demo

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names and labels a backend exposes at /metrics. Release analysis
// queries depend on this shape:
//
//	requests_total{service,version,protocol,code,tenant,region}
//	request_duration_seconds{service,version,protocol} (histogram)
//
// protocol is "grpc" or "http"; code is the gRPC code name ("OK",
// "UNAVAILABLE", ...) or the HTTP status ("200", "503", ...); tenant is
// the request's x-tenant-id ("" without one) and region the backend's
// configured region: exposure estimates group traffic by them.
const (
	MetricRequests = "requests_total"
	MetricDuration = "request_duration_seconds"
)

// Protocol label values.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http"
)

// DurationBuckets cover 1 ms to 2 s, 25 ms apart from 100 ms to 400 ms:
// histogram_quantile interpolates inside a bucket, so with the old
// 250-500 ms bucket a 300 ms regression read as a p99 of 497.5 ms; now it
// reads as at most 325 ms.
var DurationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075,
	0.1, 0.125, 0.15, 0.175, 0.2, 0.225, 0.25, 0.275, 0.3, 0.325, 0.35, 0.375, 0.4,
	0.5, 0.75, 1, 1.5, 2}

// TenantHeader is the header (gRPC metadata key) a tenant is read from.
const TenantHeader = "x-tenant-id"

type metrics struct {
	service, version, region string
	requests                 *prometheus.CounterVec
	duration                 *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, service, version, region string) *metrics {
	m := &metrics{
		service: service,
		version: version,
		region:  region,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRequests,
			Help: "Requests served, by protocol and result code.",
		}, []string{"service", "version", "protocol", "code", "tenant", "region"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricDuration,
			Help:    "Time to answer a request, injected latency included.",
			Buckets: DurationBuckets,
		}, []string{"service", "version", "protocol"}),
	}
	reg.MustRegister(m.requests, m.duration)
	// Start every expected series at zero so that rates exist before the
	// first error.
	for proto, codes := range map[string][]string{ProtocolGRPC: {"OK", "UNAVAILABLE"}, ProtocolHTTP: {"200", "503"}} {
		for _, c := range codes {
			m.requests.WithLabelValues(service, version, proto, c, "", region)
		}
		m.duration.WithLabelValues(service, version, proto)
	}
	return m
}

func (m *metrics) observe(protocol, code, tenant string, d time.Duration) {
	m.requests.WithLabelValues(m.service, m.version, protocol, code, tenant, m.region).Inc()
	m.duration.WithLabelValues(m.service, m.version, protocol).Observe(d.Seconds())
}
