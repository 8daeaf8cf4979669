package test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/test/envoytest"
)

// maxFailoverErrorShare is the share of requests that may fail while a
// control-plane node dies: the data plane does not depend on it, so none
// should, but a connection Envoy was closing at that moment may.
const maxFailoverErrorShare = 0.005

// TestEnvoyControlPlaneFailover kills the Sluice node a real Envoy is
// connected to, and then the leader: Envoy keeps routing on its last
// config, reconnects to another node from its bootstrap, receives the
// same version, and follows the next change.
func TestEnvoyControlPlaneFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server and Envoy processes")
	}
	procs := startCluster(t, 3)
	backends := startBackends(t, "shop")
	port := freePortNumber(t)
	route := "http_" + strconv.Itoa(port)
	applied, err := procs[0].client().Apply(ctxT(t), "shop.yaml", []byte(httpServiceYAML("shop", port, 100, 0, backends)))
	require.NoError(t, err)
	e := startEnvoy(t, procs, envoyNode{id: "edge-1", cluster: "edge", region: "eu-west", zone: "eu-west-1a", gateway: "127.0.0.2"})
	e.waitRouteVersion(t, route, applied.Index)
	load := e.httpLoad(t, port, "shop.example.com", nil, 200)
	waitTraffic(t, load, "v1")

	alive := slices.Clone(procs)
	weights := 0 // v2's weight, moved on after each failure
	survive := func(name string, victim *proc) {
		t.Helper()
		before := load.Counts()
		routes, err := e.Admin().Routes(ctxT(t))
		require.NoError(t, err)
		held := routes[route]
		killed := time.Now()
		victim.stop(syscall.SIGKILL)
		alive = slices.DeleteFunc(alive, func(p *proc) bool { return p == victim })

		// Envoy reconnects to a live node from its bootstrap (or stays on
		// its own, when the victim was not it) and holds the same version
		// and content: every node serves the same resources for a state.
		var node *proc
		eventually(t, 60*time.Second, name+": Envoy connected to a live node", func() error {
			on := e.connectedTo(alive)
			if len(on) != 1 {
				return fmt.Errorf("connected to %d live nodes", len(on))
			}
			node = on[0]
			return nil
		})
		reconnected := time.Since(killed)
		e.waitRoute(t, route, func(rc envoytest.RouteConfig) error {
			if rc.Version != held.Version || string(rc.Config) != string(held.Config) {
				return fmt.Errorf("holds version %s, held %s before", rc.Version, held.Version)
			}
			return nil
		})
		// Traffic went on throughout.
		eventually(t, 30*time.Second, name+": 400 more requests", func() error {
			if n := load.Counts().Sub(before).RPCs(); n < 400 {
				return fmt.Errorf("%d so far", n)
			}
			return nil
		})
		d := load.Counts().Sub(before)
		share := float64(d.Errors) / float64(d.RPCs())
		t.Logf("%s: Envoy on %s %s after the kill; %d requests meanwhile, %d failed %v", name, node.id, reconnected.Round(time.Millisecond), d.RPCs(), d.Errors, d.ByCode)
		require.LessOrEqualf(t, share, maxFailoverErrorShare, "%s: %d of %d requests failed: %v", name, d.Errors, d.RPCs(), d.ByCode)

		// The next change, written through the node Envoy now uses,
		// reaches Envoy at the index the cluster gives it.
		weights += 50
		var applied uint64
		eventually(t, 30*time.Second, name+": apply after the failure", func() error {
			r, err := node.client().Apply(context.Background(), "shop.yaml", []byte(httpServiceYAML("shop", port, 100-weights, weights, backends)))
			if err == nil {
				applied = r.Index
			}
			return err
		})
		e.waitRouteVersion(t, route, applied)
		if weights == 100 {
			waitTraffic(t, load, "v2")
		}
	}

	// The node Envoy is connected to.
	var first *proc
	eventually(t, 30*time.Second, "Envoy's node", func() error {
		on := e.connectedTo(procs)
		if len(on) != 1 {
			return fmt.Errorf("connected to %d nodes", len(on))
		}
		first = on[0]
		return nil
	})
	survive("kill "+first.id+" (Envoy's node)", first)
	first.start()
	waitReady(t, first)
	alive = append(alive, first)

	// The leader, wherever Envoy is connected.
	leader := leaderOf(t, alive)
	survive("kill "+leader.id+" (the leader)", leader)
}
