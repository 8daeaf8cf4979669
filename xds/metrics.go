package xds

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the xDS server's Prometheus metrics.
type Metrics struct {
	pushes       *prometheus.CounterVec
	acks         *prometheus.CounterVec
	nacks        *prometheus.CounterVec
	buildSeconds prometheus.Histogram
	buildErrors  prometheus.Counter
	stateIndex   prometheus.Gauge
	reg          prometheus.Registerer
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_xds_pushes_total", Help: "xDS responses sent to proxies, by resource type.",
		}, []string{"type"}),
		acks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_xds_acks_total", Help: "xDS responses accepted by proxies, by resource type.",
		}, []string{"type"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_xds_nacks_total", Help: "xDS responses rejected by proxies, by proxy group and resource type.",
		}, []string{"group", "type"}),
		buildSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sluice_xds_snapshot_build_seconds", Help: "Time to translate state and publish one group's snapshot.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		buildErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_xds_snapshot_build_errors_total", Help: "Snapshot builds that failed; the last good snapshot stays.",
		}),
		stateIndex: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_xds_state_index", Help: "Raft index of the state the last snapshot rebuild read.",
		}),
		reg: reg,
	}
	reg.MustRegister(m.pushes, m.acks, m.nacks, m.buildSeconds, m.buildErrors, m.stateIndex)
	return m
}

// byType returns a function counting on vec by type, with the counters of
// the served types looked up once: it runs for every response and ACK.
func byType(vec *prometheus.CounterVec) func(typeURL string) {
	var served [len(servedTypes)]prometheus.Counter
	for i, url := range servedTypes {
		served[i] = vec.WithLabelValues(shortType(url))
	}
	return func(typeURL string) {
		if i := servedIndex(typeURL); i >= 0 {
			served[i].Inc()
			return
		}
		vec.WithLabelValues(shortType(typeURL)).Inc()
	}
}

// bind registers gauges that read the server's live state at scrape time.
func (m *Metrics) bind(s *Server) {
	m.reg.MustRegister(&liveCollector{s: s})
}

var (
	streamsDesc = prometheus.NewDesc("sluice_xds_streams", "Open xDS streams on this node.", []string{"protocol"}, nil)
	groupDesc   = prometheus.NewDesc("sluice_xds_group_streams", "Open xDS streams per proxy group.", []string{"group"}, nil)
	syncedDesc  = prometheus.NewDesc("sluice_xds_group_synced_streams", "Streams of a group holding its current snapshot.", []string{"group"}, nil)
	nackingDesc = prometheus.NewDesc("sluice_xds_group_nacking_streams", "Streams of a group whose last answer was a NACK.", []string{"group"}, nil)
)

type liveCollector struct{ s *Server }

func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- streamsDesc
	ch <- groupDesc
	ch <- syncedDesc
	ch <- nackingDesc
}

func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	sotw, delta := c.s.tracker.StreamCount()
	ch <- prometheus.MustNewConstMetric(streamsDesc, prometheus.GaugeValue, float64(sotw), "sotw")
	ch <- prometheus.MustNewConstMetric(streamsDesc, prometheus.GaugeValue, float64(delta), "delta")
	for _, g := range c.s.Status().Groups {
		ch <- prometheus.MustNewConstMetric(groupDesc, prometheus.GaugeValue, float64(g.Streams), g.Key)
		ch <- prometheus.MustNewConstMetric(syncedDesc, prometheus.GaugeValue, float64(g.Synced), g.Key)
		nacking := map[int64]bool{}
		for _, n := range g.NACKs {
			nacking[n.Stream] = true
		}
		ch <- prometheus.MustNewConstMetric(nackingDesc, prometheus.GaugeValue, float64(len(nacking)), g.Key)
	}
}

// shortType turns a type URL into a label: "Listener", "RouteConfiguration".
func shortType(url string) string {
	if i := strings.LastIndexByte(url, '.'); i >= 0 {
		return url[i+1:]
	}
	return url
}
