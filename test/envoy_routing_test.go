package test

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/test/envoytest"
)

// TestEnvoyRoutesTraffic puts real Envoys, one on state-of-the-world ADS
// and one on delta ADS, in front of real HTTP backends, with a 3-node
// cluster as the control plane: the weights Sluice writes are the split
// Envoy makes, and a change reaches both.
func TestEnvoyRoutesTraffic(t *testing.T) { testEnvoyRoutesTraffic(t) }

// TestEnvoyRoutesTrafficGCPStream is TestEnvoyRoutesTraffic on servers
// running go-control-plane's state-of-the-world stream loop instead of
// Sluice's own (--xds-stream gcp).
func TestEnvoyRoutesTrafficGCPStream(t *testing.T) {
	testEnvoyRoutesTraffic(t, "--xds-stream", "gcp")
}

func testEnvoyRoutesTraffic(t *testing.T, extra ...string) {
	if testing.Short() {
		t.Skip("starts server and Envoy processes")
	}
	procs := startCluster(t, 3, extra...)
	leader, followers := splitLeader(t, procs)
	backends := startBackends(t, "shop")
	port := freePortNumber(t)
	_, err := followers[0].client().Apply(ctxT(t), "shop.yaml", []byte(httpServiceYAML("shop", port, 80, 20, backends)))
	require.NoError(t, err)

	sotw := startEnvoy(t, procs, envoyNode{id: "edge-sotw", cluster: "edge", region: "eu-west", zone: "eu-west-1a", gateway: "127.0.0.2"})
	delta := startEnvoy(t, procs, envoyNode{id: "edge-delta", cluster: "edge", region: "us-east", zone: "us-east-1a", gateway: "127.0.0.3", delta: true})
	envoys := []*fleetEnvoy{sotw, delta}

	// The gateway listener binds the address from the proxy's bootstrap.
	for _, e := range envoys {
		eventually(t, 30*time.Second, e.node.id+" gateway listener", func() error {
			ls, err := e.Admin().Listeners(context.Background())
			if err != nil {
				return err
			}
			l := ls["http_"+strconv.Itoa(port)]
			if want := fmt.Sprintf("%s:%d", e.node.gateway, port); l.Address != want {
				return fmt.Errorf("listener %+v, want address %s", l, want)
			}
			return nil
		})
	}

	// 80/20: the share of 2,000 requests reaching v1 is binomial around 80%.
	for _, e := range envoys {
		l := e.httpLoad(t, port, "shop.example.com", nil, 0)
		allReachOneOf(t, l, 30*time.Second)
		const n = 2000
		got := send(t, l, n)
		require.Zero(t, got.Errors, "%s: failures %v", e.node.id, got.ByCode)
		require.Equal(t, uint64(n), got.ByVersion["v1"]+got.ByVersion["v2"], "%s: %v", e.node.id, got.ByVersion)
		t.Logf("%s:", e.node.id)
		checkShare(t, int(got.ByVersion["v1"]), n, 0.8)
	}

	// 0/100 applied through the leader: every request reaches v2, and
	// both Envoys hold the route at the new state index.
	applied, err := leader.client().Apply(ctxT(t), "shop.yaml", []byte(httpServiceYAML("shop", port, 0, 100, backends)))
	require.NoError(t, err)
	route := "http_" + strconv.Itoa(port)
	for _, e := range envoys {
		allReach(t, e.httpLoad(t, port, "shop.example.com", nil, 0), "v2", 20*time.Second)
		e.waitRoute(t, route, func(rc envoytest.RouteConfig) error {
			split, err := rc.Split("shop")
			if err != nil {
				return err
			}
			if want := map[string]uint32{"shop/v2": 100}; !maps.Equal(split, want) {
				return fmt.Errorf("split %v, want %v", split, want)
			}
			return nil
		})
	}
	// On state of the world the version is the Raft state index; on delta
	// each resource's version is its content hash (so a reconnect resends
	// nothing unchanged), and the index is the response's system version.
	sotw.waitRouteVersion(t, route, applied.Index)
	routes, err := delta.Admin().Routes(ctxT(t))
	require.NoError(t, err)
	require.Len(t, routes[route].Version, 64, "a SHA-256 content hash: %q", routes[route].Version)

	// Listeners and clusters are wildcard subscriptions for Envoy: the
	// zero-weight version keeps its cluster and endpoints, so the next
	// weight change is a route change only.
	for _, e := range envoys {
		cs, err := e.Admin().Clusters(ctxT(t))
		require.NoError(t, err)
		require.Len(t, cs["shop/v1"], 1, "%s: v1 cluster and its endpoint stay at weight 0", e.node.id)
		require.Equal(t, backends["shop/v1"].HTTPAddr(), cs["shop/v1"][0].Address)
	}

	// Every node reports both groups synced at the leader's index, with
	// no NACK.
	for _, e := range envoys {
		eventually(t, 20*time.Second, e.node.id+" synced", func() error {
			for _, p := range e.connectedTo(procs) {
				s, err := p.client().XDSStatus(context.Background())
				if err != nil {
					return err
				}
				for _, g := range s.Groups {
					if g.Key == e.node.group() && (g.AckedIndex < applied.Index || len(g.NACKs) > 0 || g.Synced != g.Streams) {
						return fmt.Errorf("%s on %s: %+v", g.Key, p.id, g)
					}
				}
				return nil
			}
			return fmt.Errorf("no node has a stream of group %s", e.node.group())
		})
	}
}

// allReachOneOf waits until requests through l are answered at all (the
// first routes arrived and warmed).
func allReachOneOf(t testing.TB, l interface {
	Call(context.Context) (string, error)
}, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "first answer through Envoy", func() error {
		_, err := l.Call(context.Background())
		return err
	})
}
