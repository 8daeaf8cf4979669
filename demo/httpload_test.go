package demo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHTTPLoadCountsVersionsAndStatuses(t *testing.T) {
	b := startBackend(t, "v2", Faults{ErrorRatio: 0.5}, 7)
	var mu sync.Mutex
	var gotHost, gotTenant string
	// A front that records what the load sends and forwards to the backend.
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotHost, gotTenant = r.Host, r.Header.Get(TenantHeader)
		mu.Unlock()
		b.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	l, err := NewLoad(LoadConfig{RPS: 200, HTTP: &HTTPTarget{URL: front.URL + "/", Host: "greeter.example.com"},
		Headers: map[string]string{TenantHeader: "acme"}})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	require.Eventually(t, func() bool {
		c := l.Counts()
		return c.ByVersion["v2"] >= 20 && c.ByCode["503"] >= 20
	}, 20*time.Second, 10*time.Millisecond, "answers by version and failures by status")
	cancel()
	require.NoError(t, <-done)
	c := l.Counts()
	require.Equal(t, c.OK, c.ByVersion["v2"])
	require.Equal(t, c.Errors, c.ByCode["503"])
	mu.Lock()
	require.Equal(t, "greeter.example.com", gotHost)
	require.Equal(t, "acme", gotTenant)
	mu.Unlock()

	// A refused connection counts as a transport failure.
	front.Close()
	_, err = l.Call(context.Background())
	require.Error(t, err)
	require.Equal(t, uint64(1), l.Counts().ByCode[CodeTransport])
}

func TestHTTPLoadRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]LoadConfig{
		"no scheme":    {HTTP: &HTTPTarget{URL: "127.0.0.1:80"}},
		"bad host":     {HTTP: &HTTPTarget{URL: "http://127.0.0.1:80/", Host: "a b"}},
		"bad header":   {HTTP: &HTTPTarget{URL: "http://127.0.0.1:80/"}, Headers: map[string]string{"x y": "1"}},
		"negative rps": {HTTP: &HTTPTarget{URL: "http://127.0.0.1:80/"}, RPS: -1},
	} {
		_, err := NewLoad(cfg)
		require.ErrorIs(t, err, ErrInvalidConfig, name)
	}
}
