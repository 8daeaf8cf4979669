package xds

import (
	"fmt"
	"os"
	"path/filepath"
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

// previewRun applies a blue/green case and a release of every service it
// holds, then walks the releases through the strategy's phases as the FSM
// would, calling at with the state after each.
type previewRun struct {
	t   *testing.T
	st  *state.State
	idx uint64
	now time.Time
}

func newPreviewRun(t *testing.T, path string) (*previewRun, []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	docs, err := config.Parse(path, data)
	require.NoError(t, err)
	var services []string
	for _, d := range docs {
		if d.Service != nil {
			services = append(services, d.Name)
		}
	}
	var rels strings.Builder
	for _, s := range services {
		fmt.Fprintf(&rels, "---\napiVersion: sluice.dev/v1alpha1\nkind: Release\nmetadata: {name: %s-v2}\nspec: {service: %s, to: v2}\n", s, s)
	}
	relDocs, err := config.Parse("releases.yaml", []byte(rels.String()))
	require.NoError(t, err)
	p := &previewRun{t: t, st: state.New(), now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	p.apply(state.CmdApply, state.ApplyPayload{Documents: docs})
	p.apply(state.CmdApply, state.ApplyPayload{Documents: relDocs})
	return p, services
}

func (p *previewRun) apply(typ state.Type, payload any) {
	p.t.Helper()
	cmd, err := state.NewCommand(typ, p.now, "test", payload)
	require.NoError(p.t, err)
	p.idx++
	st, _, err := state.Apply(p.st, p.idx, cmd)
	require.NoError(p.t, err)
	p.st = st
}

func (p *previewRun) event(name string, mk func(r *state.Release) state.Event) {
	p.t.Helper()
	e := mk(p.st.Releases[name])
	p.apply(e.Type(), e)
}

// previewPhases are the phases of a blue/green release the goldens pin,
// each reached from the one before.
var previewPhases = []struct {
	name string
	step func(r *state.Release) state.Event
}{
	{"preview", func(r *state.Release) state.Event { return &state.StartRelease{On: state.OnRelease(r, "start")} }},
	{"switched", func(r *state.Release) state.Event { return &state.AdvanceStep{On: state.OnRelease(r, "switch")} }},
	{"promoted", func(r *state.Release) state.Event { return &state.Promote{On: state.OnRelease(r, "promote")} }},
	{"retired", func(r *state.Release) state.Event { return &state.RetireOld{On: state.OnRelease(r, "retire")} }},
}

func checkGolden(t *testing.T, got *Resources, out string) {
	t.Helper()
	if *update {
		b, err := marshalGolden(got)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(out, b, 0o644))
	}
	data, err := os.ReadFile(out)
	require.NoError(t, err, "missing golden: go test ./xds -run TestPreviewGolden -update")
	want, err := unmarshalGolden(data)
	require.NoError(t, err)
	if diff := cmp.Diff(want, got, protocmp.Transform(), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("routes differ from %s (-want +got):\n%s", out, diff)
	}
}

// TestPreviewGolden pins the routes of each blue/green phase, for a
// header preview (grpc and http) and a domain preview (http).
func TestPreviewGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "preview", "in", "*.yaml"))
	require.NoError(t, err)
	require.Len(t, inputs, 2)
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		run, services := newPreviewRun(t, in)
		for _, ph := range previewPhases {
			for _, s := range services {
				run.event(s+"-v2", ph.step)
			}
			t.Run(name+"/"+ph.name, func(t *testing.T) {
				res, err := Translate(run.st, Group{})
				require.NoError(t, err)
				checkGolden(t, routesOnly(res), filepath.Join("testdata", "preview", "out", name+"."+ph.name+".yaml"))
			})
		}
	}
}

// routeTo is the one cluster a route sends everything to, or "" when it
// splits.
func routeTo(r *routev3.Route) string {
	wc := r.GetRoute().GetWeightedClusters().GetClusters()
	if len(wc) != 1 {
		return ""
	}
	return wc[0].GetName()
}

func vhost(t *testing.T, res *Resources, rc, name string) *routev3.VirtualHost {
	t.Helper()
	for _, r := range res.Routes {
		if c := r.(*routev3.RouteConfiguration); c.Name == rc {
			for _, vh := range c.VirtualHosts {
				if vh.Name == name {
					return vh
				}
			}
		}
	}
	return nil
}

// The rules the goldens carry, asserted directly: the preview route leads
// to the version that is not live, goes first, and is gone once the old
// version is retired or the release switched back.
func TestPreviewRules(t *testing.T) {
	run, _ := newPreviewRun(t, filepath.Join("testdata", "preview", "in", "header.yaml"))
	expect := func(preview, plain string) {
		t.Helper()
		res, err := Translate(run.st, Group{})
		require.NoError(t, err)
		routes := vhost(t, res, "http_8080", "web").Routes
		require.Equal(t, plain, routeTo(routes[len(routes)-1]), "default route")
		if preview == "" {
			require.Len(t, routes, 1, "no preview route")
			return
		}
		require.Equal(t, previewRouteName, routes[0].Name)
		require.Equal(t, preview, routeTo(routes[0]))
		require.Equal(t, "x-sluice-preview", routes[0].Match.Headers[0].Name)
	}
	expect("", "web/v1")
	for i, ph := range previewPhases {
		run.event("web-v2", ph.step)
		want := [][2]string{{"web/v2", "web/v1"}, {"web/v1", "web/v2"}, {"web/v1", "web/v2"}, {"", "web/v2"}}[i]
		expect(want[0], want[1])
	}

	// Switched back: one command, no preview route, all on v1.
	run, _ = newPreviewRun(t, filepath.Join("testdata", "preview", "in", "header.yaml"))
	run.event("web-v2", previewPhases[0].step)
	run.event("web-v2", previewPhases[1].step)
	run.event("web-v2", func(r *state.Release) state.Event { return &state.Rollback{On: state.OnRelease(r, "burn")} })
	expect("", "web/v1")
	require.Nil(t, run.st.ServiceStatus["web"].Kept)

	// Domain: its own virtual host, with the port twin.
	run, _ = newPreviewRun(t, filepath.Join("testdata", "preview", "in", "domain.yaml"))
	run.event("web-v2", previewPhases[0].step)
	res, err := Translate(run.st, Group{})
	require.NoError(t, err)
	vh := vhost(t, res, "http_8080", "web/preview")
	require.NotNil(t, vh)
	require.Equal(t, []string{"preview.web.example.com", "preview.web.example.com:8080"}, vh.Domains)
	require.Equal(t, "web/v2", routeTo(vh.Routes[0]))
	require.Len(t, vhost(t, res, "http_8080", "web").Routes, 1)
}
