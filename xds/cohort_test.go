package xds

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// cohortState builds a state with testdata/cohorts/in/_common.yaml, the
// case's policy, a release of both services and the release moved to the
// case's step, as the FSM would.
func cohortState(t *testing.T, path string) (*state.State, []string) {
	t.Helper()
	common, err := os.ReadFile(filepath.Join("testdata", "cohorts", "in", "_common.yaml"))
	require.NoError(t, err)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var groups []string
	step := 0
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "# groups: "); ok {
			for _, g := range strings.Split(v, ",") {
				groups = append(groups, strings.TrimSpace(g))
			}
		}
		if v, ok := strings.CutPrefix(line, "# step: "); ok {
			step, err = strconv.Atoi(strings.TrimSpace(v))
			require.NoError(t, err)
		}
	}
	releases := `
---
apiVersion: sluice.dev/v1alpha1
kind: Release
metadata: {name: greeter-v2}
spec: {service: greeter, to: v2}
---
apiVersion: sluice.dev/v1alpha1
kind: Release
metadata: {name: web-v2}
spec: {service: web, to: v2}
`
	docs, err := config.Parse(path, []byte(string(common)+"\n---\n"+string(data)+releases))
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
	return st, groups
}

func routesOnly(r *Resources) *Resources { return &Resources{Routes: r.Routes} }

// TestCohortGolden pins the routes of each cohort kind and a combination,
// per proxy group region. Every resource also passes Check (Translate).
func TestCohortGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "cohorts", "in", "[a-z]*.yaml"))
	require.NoError(t, err)
	require.Len(t, inputs, 6)
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		st, groups := cohortState(t, in)
		require.NotEmpty(t, groups, "%s: no '# groups:' line", in)
		for _, region := range groups {
			t.Run(name+"/"+region, func(t *testing.T) {
				res, err := Translate(st, Group{Cluster: "edge", Region: region, Zone: region + "-1"})
				require.NoError(t, err)
				got := routesOnly(res)
				out := filepath.Join("testdata", "cohorts", "out", name+"."+region+".yaml")
				if *update {
					b, err := marshalGolden(got)
					require.NoError(t, err)
					require.NoError(t, os.WriteFile(out, b, 0o644))
				}
				data, err := os.ReadFile(out)
				require.NoError(t, err, "missing golden: go test ./xds -run TestCohortGolden -update")
				want, err := unmarshalGolden(data)
				require.NoError(t, err)
				if diff := cmp.Diff(want, got, protocmp.Transform(), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("routes for %s in %s (-want +got):\n%s", in, region, diff)
				}
			})
		}
	}
}

func findRoutes(t *testing.T, res *Resources, name string) []*routev3.Route {
	t.Helper()
	for _, r := range res.Routes {
		rc := r.(*routev3.RouteConfiguration)
		if rc.Name == name {
			return rc.VirtualHosts[0].Routes
		}
	}
	t.Fatalf("no route configuration %q", name)
	return nil
}

// The rules the goldens carry, asserted directly.
func TestCohortRules(t *testing.T) {
	// Region stage: eu-west splits 95/5, us-east stays on v1.
	st, _ := cohortState(t, filepath.Join("testdata", "cohorts", "in", "regions.yaml"))
	eu, err := Translate(st, Group{Region: "eu-west"})
	require.NoError(t, err)
	us, err := Translate(st, Group{Region: "us-east"})
	require.NoError(t, err)
	weights := func(r *routev3.Route) map[string]uint32 {
		out := map[string]uint32{}
		for _, c := range r.GetRoute().GetWeightedClusters().GetClusters() {
			out[c.Name] = c.Weight.GetValue()
		}
		return out
	}
	euRoutes := findRoutes(t, eu, "grpc_greeter")
	require.Len(t, euRoutes, 1)
	require.Equal(t, map[string]uint32{"greeter/v1": 95, "greeter/v2": 5}, weights(euRoutes[0]))
	usRoutes := findRoutes(t, us, "grpc_greeter")
	require.Equal(t, map[string]uint32{"greeter/v1": 100}, weights(usRoutes[0]))

	// Tenant stage: one route per tenant before the default, which keeps
	// everyone else on v1.
	st, _ = cohortState(t, filepath.Join("testdata", "cohorts", "in", "tenants.yaml"))
	res, err := Translate(st, Group{Region: "eu-west"})
	require.NoError(t, err)
	rs := findRoutes(t, res, "grpc_greeter")
	require.Len(t, rs, 3)
	require.Equal(t, "x-tenant-id", rs[0].Match.Headers[0].Name)
	require.Equal(t, "beta", rs[0].Match.Headers[0].GetStringMatch().GetExact())
	require.Equal(t, map[string]uint32{"greeter/v2": 100}, weights(rs[0]))
	require.Equal(t, "default", rs[2].Name)
	require.Equal(t, map[string]uint32{"greeter/v1": 100}, weights(rs[2]))

	// After a rollback every cohort route is gone from every group.
	r := st.Releases["greeter-v2"]
	cmd, err := state.EventCommand(&state.Rollback{On: state.OnRelease(r, "rollback")}, time.Unix(0, 0), "t")
	require.NoError(t, err)
	st, _, err = state.Apply(st, 100, cmd)
	require.NoError(t, err)
	for _, region := range []string{"eu-west", "us-east", ""} {
		res, err := Translate(st, Group{Region: region})
		require.NoError(t, err)
		rs := findRoutes(t, res, "grpc_greeter")
		require.Len(t, rs, 1, "region %q", region)
		require.Equal(t, map[string]uint32{"greeter/v1": 100}, weights(rs[0]))
	}

	// Sticky percentage: the new version is listed first and picked by a
	// hash of the sticky header.
	st, _ = cohortState(t, filepath.Join("testdata", "cohorts", "in", "sticky-percent.yaml"))
	res, err = Translate(st, Group{Region: "eu-west"})
	require.NoError(t, err)
	rs = findRoutes(t, res, "grpc_greeter")
	wc := rs[len(rs)-1].GetRoute().GetWeightedClusters()
	require.Equal(t, "greeter/v2", wc.Clusters[0].Name)
	require.True(t, wc.GetUseHashPolicy().GetValue())
	require.Equal(t, "x-user-id", rs[len(rs)-1].GetRoute().HashPolicy[0].GetHeader().HeaderName)
}
