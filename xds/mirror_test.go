package xds

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/testing/protocmp"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// mirrorState is testdata/mirror/in.yaml with both releases moved to plan
// step step, as the FSM would.
func mirrorState(t *testing.T, step int) *state.State {
	t.Helper()
	path := filepath.Join("testdata", "mirror", "in.yaml")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	docs, err := config.Parse(path, data)
	require.NoError(t, err)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	var idx uint64 = 1
	cmd, err := state.NewCommand(state.CmdApply, now, "test", state.ApplyPayload{Documents: docs})
	require.NoError(t, err)
	st, _, err := state.Apply(state.New(), idx, cmd)
	require.NoError(t, err)
	for _, name := range []string{"greeter-v2", "web-v2"} {
		for s := -1; s < step; s++ {
			r := st.Releases[name]
			var e state.Event = &state.AdvanceStep{On: state.OnRelease(r, "advance")}
			if s < 0 {
				e = &state.StartRelease{On: state.OnRelease(r, "start")}
			}
			cmd, err := state.EventCommand(e, now, "test")
			require.NoError(t, err)
			idx++
			st, _, err = state.Apply(st, idx, cmd)
			require.NoError(t, err)
		}
	}
	return st
}

// TestMirrorGolden pins the routes of a mirror step and of the weight step
// after it. Every resource also passes Check (Translate).
func TestMirrorGolden(t *testing.T) {
	for step := range 2 {
		t.Run(fmt.Sprint("step", step), func(t *testing.T) {
			res, err := Translate(mirrorState(t, step), Group{Cluster: "edge", Region: "eu-west", Zone: "eu-west-1"})
			require.NoError(t, err)
			got := routesOnly(res)
			out := filepath.Join("testdata", "mirror", "out", fmt.Sprintf("step%d.yaml", step))
			if *update {
				b, err := marshalGolden(got)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(out, b, 0o644))
			}
			data, err := os.ReadFile(out)
			require.NoError(t, err, "missing golden: go test ./xds -run TestMirrorGolden -update")
			want, err := unmarshalGolden(data)
			require.NoError(t, err)
			if diff := cmp.Diff(want, got, protocmp.Transform(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("routes at step %d (-want +got):\n%s", step, diff)
			}
		})
	}
}

// The rules the goldens carry, asserted directly.
func TestMirrorRoutes(t *testing.T) {
	res, err := Translate(mirrorState(t, 0), Group{Cluster: "edge", Region: "eu-west", Zone: "eu-west-1"})
	require.NoError(t, err)
	routeConfig := func(name string) *routev3.RouteConfiguration {
		for _, r := range res.Routes {
			if rc := r.(*routev3.RouteConfiguration); rc.Name == name {
				return rc
			}
		}
		t.Fatalf("no route configuration %q", name)
		return nil
	}
	for _, vh := range routeConfig("http_8080").VirtualHosts {
		routes := vh.Routes
		require.Len(t, routes, 1, vh.Name)
		ra := routes[0].GetRoute()
		wc := ra.GetWeightedClusters().GetClusters()
		require.Len(t, wc, 1, "%s: every user on stable", vh.Name)
		require.Equal(t, vh.Name+"/v1", wc[0].Name)
		require.Len(t, ra.RequestMirrorPolicies, 1, vh.Name)
		mp := ra.RequestMirrorPolicies[0]
		require.Equal(t, vh.Name+"/v2", mp.Cluster)
		require.Equal(t, uint32(25), mp.RuntimeFraction.DefaultValue.Numerator)
		require.Equal(t, typev3.FractionalPercent_HUNDRED, mp.RuntimeFraction.DefaultValue.Denominator)
	}
	require.Len(t, routeConfig("http_9090").VirtualHosts, 1, "greeter on Envoy's gateway port mirrors too")
	// Proxyless clients read grpc_greeter: stable only, no mirror policy
	// (grpc-go does not mirror).
	grpcRoutes := routeConfig("grpc_greeter").VirtualHosts[0].Routes
	require.Len(t, grpcRoutes, 1)
	require.Empty(t, grpcRoutes[0].GetRoute().RequestMirrorPolicies)
	require.Equal(t, "greeter/v1", grpcRoutes[0].GetRoute().GetWeightedClusters().GetClusters()[0].Name)
	require.Len(t, grpcRoutes[0].GetRoute().GetWeightedClusters().GetClusters(), 1)

	// After the mirror step nothing mirrors.
	res, err = Translate(mirrorState(t, 1), Group{})
	require.NoError(t, err)
	for _, r := range res.Routes {
		for _, vh := range r.(*routev3.RouteConfiguration).VirtualHosts {
			for _, rt := range vh.Routes {
				require.Empty(t, rt.GetRoute().RequestMirrorPolicies, "%s", vh.Name)
			}
		}
	}
}

// A mirror policy naming a cluster that does not exist is refused.
func TestCheckMirrorReference(t *testing.T) {
	res, err := Translate(mirrorState(t, 0), Group{})
	require.NoError(t, err)
	rc := res.Routes[1].(*routev3.RouteConfiguration)
	require.Equal(t, "http_8080", rc.Name)
	rc.VirtualHosts[0].Routes[0].GetRoute().RequestMirrorPolicies[0].Cluster = "nowhere/v9"
	err = Check(res)
	require.ErrorIs(t, err, ErrDanglingReference)
	require.ErrorContains(t, err, "request_mirror_policies")
	require.ErrorContains(t, err, "nowhere/v9")
}

func TestProxyless(t *testing.T) {
	require.False(t, Proxyless(&corev3.Node{UserAgentName: "envoy"}))
	require.True(t, Proxyless(&corev3.Node{UserAgentName: "gRPC Go"}))
	require.True(t, Proxyless(&corev3.Node{}), "a client that does not say it is Envoy is taken not to mirror")
}

func TestTrackerCountsProxyless(t *testing.T) {
	tr := NewTracker(TrackerEvents{})
	now := time.Now()
	tr.Open(1, "web/eu/", "envoy-1", false, now)
	tr.Open(2, "web/eu/", "grpc-1", false, now)
	tr.markProxyless(2)
	tr.markProxyless(9) // unknown streams are ignored
	groups := tr.Groups(func(string) uint64 { return 0 })
	require.Len(t, groups, 1)
	require.Equal(t, 2, groups[0].Streams)
	require.Equal(t, 1, groups[0].Proxyless)
}
