package demo

import (
	"maps"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Mirrored requests. Envoy copies a mirror step's share of requests to the
// new version and appends ShadowSuffix to the copy's Host (HTTP/1.1) or
// :authority (HTTP/2, gRPC), before any port. The backend serves a copy
// like any request and counts it in requests_total under its own version,
// so a release's analysis judges the new version on the mirrored
// requests; it also counts copies apart:
//
//	mirrored_requests_total{service,version,protocol}
const (
	ShadowSuffix    = "-shadow"
	MetricMirrored  = "mirrored_requests_total"
	mirroredHelpMsg = "Requests received as mirrored copies (Host or :authority ending in -shadow)."
)

// IsShadow reports whether a Host or :authority value, with or without a
// port, is a mirrored copy's.
func IsShadow(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.HasSuffix(host, ShadowSuffix)
}

// shadowCount counts the mirrored copies a backend received.
type shadowCount struct {
	counter *prometheus.CounterVec
	mu      sync.Mutex
	n       map[string]uint64 // by protocol
	direct  uint64
	hosts   map[string]bool
}

// maxShadowHosts bounds the distinct copy hosts a backend remembers.
const maxShadowHosts = 16

func newShadowCount(reg prometheus.Registerer, service, version string) *shadowCount {
	c := &shadowCount{n: map[string]uint64{}, hosts: map[string]bool{}, counter: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        MetricMirrored,
		Help:        mirroredHelpMsg,
		ConstLabels: prometheus.Labels{"service": service, "version": version},
	}, []string{"protocol"})}
	reg.MustRegister(c.counter)
	for _, p := range []string{ProtocolGRPC, ProtocolHTTP} {
		c.counter.WithLabelValues(p)
	}
	return c
}

// note counts a request whose Host or :authority is host: a copy, or a
// request sent to this backend directly.
func (c *shadowCount) note(protocol, host string) {
	if !IsShadow(host) {
		c.mu.Lock()
		c.direct++
		c.mu.Unlock()
		return
	}
	c.counter.WithLabelValues(protocol).Inc()
	c.mu.Lock()
	c.n[protocol]++
	if len(c.hosts) < maxShadowHosts {
		c.hosts[host] = true
	}
	c.mu.Unlock()
}

// MirrorCount is what a backend saw of mirrored copies.
type MirrorCount struct {
	// HTTP and GRPC count the copies received per protocol.
	HTTP, GRPC uint64
	// Direct counts the application requests that were not copies.
	Direct uint64
	// Hosts are the distinct Host or :authority values of the copies
	// (the first 16 seen), sorted.
	Hosts []string
}

// Mirrored returns how many mirrored copies the backend received.
func (b *Backend) Mirrored() MirrorCount {
	b.shadow.mu.Lock()
	defer b.shadow.mu.Unlock()
	return MirrorCount{HTTP: b.shadow.n[ProtocolHTTP], GRPC: b.shadow.n[ProtocolGRPC], Direct: b.shadow.direct, Hosts: slices.Sorted(maps.Keys(b.shadow.hosts))}
}
