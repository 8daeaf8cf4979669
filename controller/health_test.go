package controller

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

// The HTTP probe hits every endpoint of the member's new version on the
// probe's path (and port, when given) and wants the expected status.
func TestProbeCheckerHTTP(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))

	w := newTrainWorld(t, "", ", healthCheck: {http: {path: /healthz, port: "+port+"}}")
	// Point a's v2 endpoint at the test server's host (the probe's port
	// overrides the endpoint's).
	svc := *w.st.Services["a"]
	svc.Spec.Versions = append([]config.Version(nil), svc.Spec.Versions...)
	svc.Spec.Versions[1].Endpoints = []config.Endpoint{{Address: "127.0.0.1:1"}}
	w.st.Services["a"] = &svc

	p := &ProbeChecker{HTTP: srv.Client()}
	ok, detail := p.Check(context.Background(), w.st, w.train(), "a")
	require.True(t, ok, detail)
	require.Equal(t, "HTTP 1 endpoint(s)", detail)

	healthy.Store(false)
	ok, detail = p.Check(context.Background(), w.st, w.train(), "a")
	require.False(t, ok)
	require.Contains(t, detail, "/healthz: status 503, want 200")

	// A member without a check passes.
	ok, _ = p.Check(context.Background(), w.st, w.train(), "b")
	require.True(t, ok)
}
