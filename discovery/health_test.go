package discovery

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
)

func TestTrackerThresholds(t *testing.T) {
	p := config.Probing{HealthyThreshold: 2, UnhealthyThreshold: 3}
	var tr tracker
	steps := []struct {
		passed, changed, healthy bool
	}{
		{true, true, true},   // the first probe decides
		{false, false, true}, // 1 of 3
		{false, false, true}, // 2 of 3
		{true, false, true},  // streak broken
		{false, false, true}, // 1 of 3
		{false, false, true}, // 2 of 3
		{false, true, false}, // 3 of 3: unhealthy
		{true, false, false}, // 1 of 2
		{true, true, true},   // 2 of 2: healthy
	}
	for i, s := range steps {
		changed := tr.observe(s.passed, "", p)
		if changed != s.changed || tr.healthy != s.healthy {
			t.Fatalf("probe %d (passed %v): changed %v healthy %v, want %v %v", i, s.passed, changed, tr.healthy, s.changed, s.healthy)
		}
	}
}

func TestNetProber(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := l.Addr().String()
	closed := closedPort(t)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	defer l.Close()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer ok.Close()
	pr := &NetProber{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tcp := &config.EndpointHealthCheck{TCP: &config.TCPHealthCheck{}}
	if err := pr.Probe(ctx, open, tcp); err != nil {
		t.Errorf("tcp open port: %v", err)
	}
	if err := pr.Probe(ctx, closed, tcp); err == nil {
		t.Errorf("tcp closed port passed")
	}
	httpOK := &config.EndpointHealthCheck{HTTP: &config.HTTPProbe{Path: "/healthz"}}
	httpBad := &config.EndpointHealthCheck{HTTP: &config.HTTPProbe{Path: "/other"}}
	addr := ok.Listener.Addr().String()
	if err := pr.Probe(ctx, addr, httpOK); err != nil {
		t.Errorf("http /healthz: %v", err)
	}
	if err := pr.Probe(ctx, addr, httpBad); err == nil {
		t.Errorf("http 503 passed")
	}
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
