package discovery

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/sluicehq/sluice/config"
)

// maxProbesAtOnce bounds the probes of one version running at once.
const maxProbesAtOnce = 16

// Prober probes one endpoint once; nil means it passed.
type Prober interface {
	Probe(ctx context.Context, addr string, hc *config.EndpointHealthCheck) error
}

// NetProber probes over TCP (a connect) or HTTP (a GET).
type NetProber struct {
	// HTTP is the client of HTTP probes (default: one without redirects
	// or keep-alives).
	HTTP *http.Client
}

// Probe implements Prober.
func (p *NetProber) Probe(ctx context.Context, addr string, hc *config.EndpointHealthCheck) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	switch {
	case hc.TCP != nil:
		if hc.TCP.Port != 0 {
			port = strconv.Itoa(int(hc.TCP.Port))
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
		if err != nil {
			return err
		}
		return c.Close()
	case hc.HTTP != nil:
		return p.probeHTTP(ctx, host, port, hc.HTTP)
	}
	return nil
}

func (p *NetProber) probeHTTP(ctx context.Context, host, port string, h *config.HTTPProbe) error {
	if h.Port != 0 {
		port = strconv.Itoa(int(h.Port))
	}
	path, want := h.Path, h.ExpectStatus
	if path == "" {
		path = "/"
	}
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
		client = &http.Client{
			Transport:     &http.Transport{DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("GET %s: status %d, want %d", url, resp.StatusCode, want)
	}
	return nil
}

// tracker is one endpoint's health as probes found it: its first probe
// decides, then it changes only after threshold probes in a row say
// otherwise.
type tracker struct {
	known   bool
	healthy bool
	streak  int // probes in a row that disagree with healthy
	last    string
}

// observe counts one probe result and reports whether the health changed.
func (t *tracker) observe(passed bool, detail string, p config.Probing) bool {
	t.last = detail
	if !t.known {
		t.known, t.healthy = true, passed
		return true
	}
	if passed == t.healthy {
		t.streak = 0
		return false
	}
	t.streak++
	need := p.UnhealthyThreshold
	if passed {
		need = p.HealthyThreshold
	}
	if t.streak < need {
		return false
	}
	t.healthy, t.streak = passed, 0
	return true
}

// probeAll probes addrs, at most maxProbesAtOnce at a time, each within
// the check's timeout; the result maps an address to its error (nil for
// passed).
func probeAll(ctx context.Context, pr Prober, hc *config.EndpointHealthCheck, addrs []string) map[string]error {
	timeout := hc.Probing().Timeout
	out := make(map[string]error, len(addrs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxProbesAtOnce)
	for _, addr := range addrs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			pctx, cancel := context.WithTimeout(ctx, timeout)
			err := pr.Probe(pctx, addr, hc)
			cancel()
			mu.Lock()
			out[addr] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}
