package test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/test/envoytest"
	"github.com/sluicehq/sluice/xds"
)

// TestEnvoyOverMutualTLS: a real Envoy whose bootstrap `sluice envoy
// bootstrap --tls-*` printed, with the proxy certificate `sluice tls init`
// issued for its cluster, receives its listeners and routes traffic; an
// Envoy presenting a certificate of another CA, and one whose certificate
// names another cluster, receive nothing and hold no stream.
func TestEnvoyOverMutualTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server and Envoy processes")
	}
	procs, dir := tlsCluster(t, 1)
	backends := startBackends(t, "shop")
	port := freePortNumber(t)
	_, err := procs[0].client().Apply(ctxT(t), "shop.yaml", []byte(httpServiceYAML("shop", port, 100, 0, backends)))
	require.NoError(t, err)

	files := func(d, name string) *envoyTLS {
		return &envoyTLS{ca: filepath.Join(dir, "ca.crt"), cert: filepath.Join(d, name+".crt"), key: filepath.Join(d, name+".key")}
	}
	web := startEnvoy(t, procs, envoyNode{id: "web-1", cluster: "web", region: "eu-west", zone: "a", gateway: "127.0.0.2", tls: files(dir, "proxy-web")})
	route := "http_" + strconv.Itoa(port)
	web.waitRoute(t, route, func(rc envoytest.RouteConfig) error {
		_, err := rc.Split("shop")
		return err
	})
	allReach(t, web.httpLoad(t, port, "shop.example.com", nil, 0), "v1", 30*time.Second)
	require.NotEmpty(t, web.connectedTo(procs), "the server holds web-1's stream")

	// Another CA's certificate for the same cluster: the handshake fails.
	other := t.TempDir()
	out, err := exec.Command(sluiceBin, "tls", "init", "--dir", other, "--node", "n1=127.0.0.1", "--proxy", "web", "--validity", "1h").CombinedOutput()
	require.NoError(t, err, string(out))
	intruder := refusedEnvoy(t, procs, envoyNode{id: "intruder", cluster: "web", region: "eu-west", zone: "b", gateway: "127.0.0.3", tls: files(other, "proxy-web")},
		"cluster.sluice_xds.ssl.connection_error")
	// A valid certificate of another cluster: the stream is refused.
	payments := refusedEnvoy(t, procs, envoyNode{id: "payments-as-web", cluster: "web", region: "eu-west", zone: "c", gateway: "127.0.0.4", tls: files(dir, "proxy-payments")},
		"cluster.sluice_xds.upstream_rq_total")
	eventually(t, 30*time.Second, "the server logging the refused stream", func() error {
		for _, l := range procs[0].logs.since(0) {
			if strings.Contains(l, "xds stream refused") && strings.Contains(l, "code=PermissionDenied") && strings.Contains(l, "proxy/payments") {
				return nil
			}
		}
		return errors.New("no refusal of the payments identity logged")
	})
	for _, e := range []*fleetEnvoy{intruder, payments} {
		ls, err := e.Admin().Listeners(context.Background())
		require.NoError(t, err)
		require.Empty(t, ls, "%s received listeners", e.node.id)
		require.Empty(t, e.connectedTo(procs), "%s holds a stream", e.node.id)
	}
	// web-1 is served on, at the same state as before.
	allReach(t, web.httpLoad(t, port, "shop.example.com", nil, 0), "v1", 30*time.Second)
}

// refusedEnvoy starts an Envoy the server must turn away and waits until
// it has tried more than once (stat, a counter of its attempts, above 1)
// while its control plane never counts as connected.
func refusedEnvoy(t *testing.T, procs []*proc, n envoyNode, stat string) *fleetEnvoy {
	t.Helper()
	px := envoytest.Start(t, envoyBootstrapFor(t, procs, n, xds.FormatYAML))
	eventually(t, 60*time.Second, n.id+" turned away more than once", func() error {
		st, err := px.Admin().Stats(context.Background(), `^(cluster\.sluice_xds\.(ssl\.connection_error|ssl\.handshake|upstream_rq_total|upstream_cx_total)|control_plane\.connected_state)$`)
		if err != nil {
			return err
		}
		if st["control_plane.connected_state"] != 0 {
			return errors.New("control plane connected")
		}
		if st[stat] < 2 {
			return fmt.Errorf("%s = %d; stats %v", stat, st[stat], st)
		}
		return nil
	})
	return &fleetEnvoy{Proxy: px, node: n}
}
