package envoytest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// staticBootstrap proxies listen (host:port) to upstream through a static
// cluster named "svc/v1", with the admin interface on a free port.
func staticBootstrap(listen, upstream string) []byte {
	lh, lp, _ := net.SplitHostPort(listen)
	uh, up, _ := net.SplitHostPort(upstream)
	return fmt.Appendf(nil, `admin: {address: {socket_address: {address: 127.0.0.1, port_value: 0}}}
static_resources:
  listeners:
  - name: gateway
    address: {socket_address: {address: %s, port_value: %s}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: gateway
          http_filters: [{name: envoy.filters.http.router, typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}]
          route_config:
            virtual_hosts: [{name: all, domains: ["*"], routes: [{match: {prefix: "/"}, route: {cluster: svc/v1}}]}]
  clusters:
  - name: svc/v1
    type: STATIC
    load_assignment: {cluster_name: svc/v1, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: %s, port_value: %s}}}}]}]}
`, lh, lp, uh, up)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// TestProxyAdmin starts a real Envoy and reads its admin interface.
func TestProxyAdmin(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "svc v1\n") }))
	t.Cleanup(up.Close)
	upAddr := up.Listener.Addr().String()
	listen := freePort(t)
	p := Start(t, staticBootstrap(listen, upAddr))
	ctx := context.Background()
	require.True(t, p.Running())
	require.NoError(t, p.Admin().Ready(ctx))

	const n = 7
	for i := 0; i < n; i++ {
		var resp *http.Response
		require.Eventually(t, func() bool {
			var err error
			resp, err = http.Get("http://" + listen + "/")
			return err == nil
		}, 30*time.Second, 20*time.Millisecond)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, "svc v1\n", string(body))
	}
	require.Eventually(t, func() bool {
		rq, err := p.Admin().UpstreamRequests(ctx)
		require.NoError(t, err)
		return rq["svc/v1"] == n
	}, 30*time.Second, 50*time.Millisecond, "Envoy counts the requests it sent upstream (stats are flushed periodically)")

	clusters, err := p.Admin().Clusters(ctx)
	require.NoError(t, err)
	require.Len(t, clusters["svc/v1"], 1)
	require.Equal(t, upAddr, clusters["svc/v1"][0].Address)

	st, err := p.Admin().Stats(ctx, `^http\.gateway\.downstream_rq_total$`)
	require.NoError(t, err)
	require.Equal(t, map[string]uint64{"http.gateway.downstream_rq_total": n}, st)

	// No dynamic resources in a static bootstrap.
	routes, err := p.Admin().Routes(ctx)
	require.NoError(t, err)
	require.Empty(t, routes)
	ls, err := p.Admin().Listeners(ctx)
	require.NoError(t, err)
	require.Empty(t, ls)

	p.Stop()
	require.False(t, p.Running())
	require.Zero(t, p.Pid())
	_, err = http.Get("http://" + listen + "/")
	require.Error(t, err, "stopped Envoy no longer listens")
	require.Contains(t, p.Log(), "starting main dispatch loop")
}

// TestTwoEnvoysOnOneHost checks that Envoys started by this package do not
// collide on the hot-restart shared memory.
func TestTwoEnvoysOnOneHost(t *testing.T) {
	up := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(up.Close)
	a := Start(t, staticBootstrap(freePort(t), up.Listener.Addr().String()))
	b := Start(t, staticBootstrap(freePort(t), up.Listener.Addr().String()))
	require.True(t, a.Running())
	require.True(t, b.Running())
	require.NotEqual(t, a.Admin().Addr(), b.Admin().Addr())
}
