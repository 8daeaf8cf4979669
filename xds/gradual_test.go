package xds

import (
	"os"
	"path/filepath"
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

// midRollbackState applies testdata/gradual/mid-rollback.yaml, moves both
// releases to 50%, starts their gradual rollbacks and takes one step back,
// as the FSM would.
func midRollbackState(t *testing.T) *state.State {
	t.Helper()
	path := filepath.Join("testdata", "gradual", "mid-rollback.yaml")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	docs, err := config.Parse(path, data)
	require.NoError(t, err)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	idx := uint64(1)
	cmd, err := state.NewCommand(state.CmdApply, now, "test", state.ApplyPayload{Documents: docs})
	require.NoError(t, err)
	st, _, err := state.Apply(state.New(), idx, cmd)
	require.NoError(t, err)
	events := []func(r *state.Release) state.Event{
		func(r *state.Release) state.Event { return &state.StartRelease{On: state.OnRelease(r, "start")} },
		func(r *state.Release) state.Event { return &state.AdvanceStep{On: state.OnRelease(r, "advance")} },
		func(r *state.Release) state.Event {
			return &state.GradualRollback{On: state.OnRelease(r, "failed"), Bar: 30}
		},
		func(r *state.Release) state.Event { return &state.RollbackStep{On: state.OnRelease(r, "step back")} },
	}
	for _, name := range []string{"greeter-v2", "web-v2"} {
		for _, ev := range events {
			cmd, err := state.EventCommand(ev(st.Releases[name]), now, "test")
			require.NoError(t, err)
			idx++
			st, _, err = state.Apply(st, idx, cmd)
			require.NoError(t, err)
		}
		require.Equal(t, uint32(17), st.Releases[name].Status.Weight)
	}
	return st
}

// TestGradualRollbackGolden pins the routes of a release in the middle
// of a gradual rollback: the weights are the rollback step's (83/17), for
// gRPC and HTTP alike.
func TestGradualRollbackGolden(t *testing.T) {
	st := midRollbackState(t)
	res, err := Translate(st, Group{})
	require.NoError(t, err)
	got := routesOnly(res)
	for _, rc := range got.Routes {
		for _, vh := range rc.(*routev3.RouteConfiguration).VirtualHosts {
			for _, rt := range vh.Routes {
				w := map[string]uint32{}
				for _, c := range rt.GetRoute().GetWeightedClusters().GetClusters() {
					w[c.Name] = c.Weight.GetValue()
				}
				require.Len(t, w, 2, "route %s of %s splits two versions", rt.Name, vh.Name)
				for name, v := range w {
					if filepath.Base(name) == "v2" {
						require.Equal(t, uint32(17), v, "route %s: %v", rt.Name, w)
					} else {
						require.Equal(t, uint32(83), v, "route %s: %v", rt.Name, w)
					}
				}
			}
		}
	}
	out := filepath.Join("testdata", "gradual", "mid-rollback.out.yaml")
	if *update {
		b, err := marshalGolden(got)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(out, b, 0o644))
	}
	data, err := os.ReadFile(out)
	require.NoError(t, err, "missing golden: go test ./xds -run TestGradualRollbackGolden -update")
	want, err := unmarshalGolden(data)
	require.NoError(t, err)
	if diff := cmp.Diff(want, got, protocmp.Transform(), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("routes mid-rollback (-want +got):\n%s", diff)
	}
}
