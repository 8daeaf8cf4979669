package controller

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// HealthChecker runs a train member's pre-traffic health check once.
type HealthChecker interface {
	Check(ctx context.Context, st *state.State, t *state.Train, member string) (ok bool, detail string)
}

// ProbeChecker probes a member's new version over HTTP and/or with a
// PromQL condition.
type ProbeChecker struct {
	Prom *Prometheus
	HTTP *http.Client
	// Now is the evaluation time of health queries (default time.Now).
	Now func() time.Time
}

// Check implements HealthChecker: every configured probe must pass.
func (p *ProbeChecker) Check(ctx context.Context, st *state.State, t *state.Train, member string) (bool, string) {
	hc := memberHealthCheck(t, member)
	if hc == nil {
		return true, "no health check"
	}
	m, _ := t.Member(member)
	r := st.Releases[m.Release]
	svc := st.Services[m.Service]
	if r == nil || svc == nil {
		return false, "member release or service missing"
	}
	timeout := hc.Timeout.D()
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var passed []string
	if h := hc.HTTP; h != nil {
		var eps []config.Endpoint
		for _, v := range svc.Spec.Versions {
			if v.Name == r.Spec.Spec.To {
				eps = v.Endpoints
			}
		}
		for _, ep := range eps {
			if err := p.probe(ctx, ep.Address, h); err != nil {
				return false, err.Error()
			}
		}
		passed = append(passed, fmt.Sprintf("HTTP %d endpoint(s)", len(eps)))
	}
	if q := strings.TrimSpace(hc.Query); q != "" {
		ok, detail := p.query(ctx, r, q)
		if !ok {
			return false, detail
		}
		passed = append(passed, detail)
	}
	return true, strings.Join(passed, "; ")
}

func (p *ProbeChecker) probe(ctx context.Context, addr string, h *config.HTTPProbe) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("endpoint %s: %w", addr, err)
	}
	if h.Port != 0 {
		port = strconv.Itoa(int(h.Port))
	}
	path := h.Path
	if path == "" {
		path = "/"
	}
	want := h.ExpectStatus
	if want == 0 {
		want = http.StatusOK
	}
	url := "http://" + net.JoinHostPort(host, port) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := p.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("GET %s: status %d, want %d", url, resp.StatusCode, want)
	}
	return nil
}

func (p *ProbeChecker) query(ctx context.Context, r *state.Release, tmpl string) (bool, string) {
	q := strings.NewReplacer(config.PlaceholderService, r.Service(), config.PlaceholderVersion, r.Spec.Spec.To).Replace(tmpl)
	qr, err := p.Prom.For(&r.Status.PolicySpec)
	if err != nil {
		return false, "health query: " + err.Error()
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	v, err := qr.Query(ctx, q, now())
	if err != nil {
		return false, fmt.Sprintf("query %s: %v", q, err)
	}
	switch val := v.(type) {
	case model.Vector:
		for _, s := range val {
			if f := float64(s.Value); f != 0 && !math.IsNaN(f) {
				return true, fmt.Sprintf("query %s = %g", q, f)
			}
		}
	case *model.Scalar:
		if f := float64(val.Value); f != 0 && !math.IsNaN(f) {
			return true, fmt.Sprintf("query %s = %g", q, f)
		}
	}
	return false, fmt.Sprintf("query %s returned no non-zero sample", q)
}
