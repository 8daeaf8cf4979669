package test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/state"
)

// declaredYAML is releaseYAML's service and policy, the service declaring
// version (and, when set, a change descriptor in its annotations).
func (e *releaseEnv) declaredYAML(svc, version, annotations string) string {
	y := e.releaseYAML(svc, "[{weight: 20, bake: 2s}, {weight: 60, bake: 2s}]")
	y = strings.Replace(y, "  protocol: grpc\n", "  protocol: grpc\n  version: "+version+"\n", 1)
	if annotations != "" {
		y = strings.Replace(y, "metadata: {name: "+svc+"}\n", "metadata:\n  name: "+svc+"\n  annotations:\n"+annotations, 1)
	}
	return y
}

// analysed reports whether a release's record holds analyses with their
// verdicts.
func analysed(r *state.Release) bool {
	n := 0
	for _, d := range r.Status.Decisions {
		if d.Action == state.DecisionAnalysis && len(d.Verdict) > 0 {
			n++
		}
	}
	return n > 0
}

// TestDeclaredVersions runs declarative releases on the real parts: a
// new declared version is released progressively and analysed; applying
// the same YAML again changes nothing; static weights on the covered
// service are refused and change nothing; undo goes back, analysed, and
// undo --now goes back at once.
func TestDeclaredVersions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and server processes")
	}
	e := newReleaseEnv(t, "decl")
	eventually(t, 30*time.Second, "prometheus scrapes the backends", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return e.prom.WaitForSeries(ctx, `requests_total{service="decl"}`)
	})
	leader, followers := splitLeader(t, e.procs)
	cl := followers[0].client()
	_, err := cl.Apply(ctxT(t), "decl.yaml", []byte(e.declaredYAML("decl", "v1", "")))
	require.NoError(t, err)
	l := e.load("decl", followers[1], 100)
	waitTraffic(t, l, "v1")

	v2 := e.declaredYAML("decl", "v2", "    change.sluice.dev/commit: 4f2a9c1\n    change.sluice.dev/lines-added: \"40\"\n    change.sluice.dev/files-age: \"400\"\n    required-gate.sluice.dev/unit: passed\n")
	var name string
	t.Run("a new declared version is released and analysed", func(t *testing.T) {
		res, err := cl.Apply(ctxT(t), "decl.yaml", []byte(v2))
		require.NoError(t, err)
		require.Len(t, res.Started, 1)
		name = res.Started[0]
		r := e.waitRelease(leader, name, 90*time.Second, "promoted", phaseIs(state.PhasePromoted))
		checkDecisions(t, r)
		require.True(t, analysed(r), "the release was analysed")
		require.Equal(t, "v1", r.Status.From)
		require.Equal(t, "4f2a9c1", r.Spec.Spec.Change.Commit, "change descriptor from the annotations")
		require.NotNil(t, r.Status.Assessment, "risk-assessed like release start")
		require.Equal(t, 400.0, *r.Status.Assessment.Features.FilesAge, "the files' age from its annotation")
		require.Contains(t, r.Status.Assessment.Reasons, "touched files last changed 400 days earlier on average (long untouched): -0.15")
		waitTraffic(t, l, "v2")
	})

	t.Run("re-applying the same YAML changes nothing", func(t *testing.T) {
		before, err := cl.List(ctxT(t), "releases")
		require.NoError(t, err)
		res, err := cl.Apply(ctxT(t), "decl.yaml", []byte(v2))
		require.NoError(t, err)
		require.Empty(t, res.Started)
		require.Empty(t, res.Updated)
		require.Contains(t, res.Unchanged, "Service/decl")
		require.Equal(t, before.Index, res.Index, "no new state index: nothing is pushed")
		rels, err := cl.Releases(ctxT(t))
		require.NoError(t, err)
		require.Len(t, rels, 1)
	})

	t.Run("static weights on the covered service are refused", func(t *testing.T) {
		static := strings.Replace(e.releaseYAML("decl", "[{weight: 20, bake: 2s}, {weight: 60, bake: 2s}]"),
			"    - {name: v1, endpoints", "    - {name: v1, weight: 50, endpoints", 1)
		static = strings.Replace(static, "    - {name: v2, endpoints", "    - {name: v2, weight: 50, endpoints", 1)
		before, err := cl.List(ctxT(t), "services")
		require.NoError(t, err)
		_, err = cl.Apply(ctxT(t), "static.yaml", []byte(static))
		var apiErr *api.Error
		require.True(t, errors.As(err, &apiErr), "%v", err)
		require.Equal(t, http.StatusBadRequest, apiErr.Status)
		require.Contains(t, err.Error(), `Service "decl" is covered by ReleasePolicy "decl"`)
		require.Contains(t, err.Error(), "static.yaml:", "the error points into the file")
		after, err := cl.List(ctxT(t), "services")
		require.NoError(t, err)
		require.Equal(t, before.Index, after.Index, "state unchanged")
		require.Equal(t, before.Live["decl"], after.Live["decl"])
		waitTraffic(t, l, "v2")
	})

	t.Run("undo releases the previous version, analysed", func(t *testing.T) {
		res, err := followers[1].client().Undo(ctxT(t), "decl", api.UndoRequest{Reason: "e2e"})
		require.NoError(t, err)
		require.Equal(t, state.UndoPlan{Service: "decl", From: "v2", To: "v1", Release: name}, res.Plan)
		r := e.waitRelease(leader, res.Release.Name(), 90*time.Second, "promoted", phaseIs(state.PhasePromoted))
		checkDecisions(t, r)
		require.True(t, analysed(r))
		waitTraffic(t, l, "v1")
		list, err := cl.List(ctxT(t), "services")
		require.NoError(t, err)
		require.Equal(t, "v1", list.Live["decl"].Declared, "the declared version follows the undo")
	})

	t.Run("undo --now goes back at once", func(t *testing.T) {
		res, err := leader.client().Undo(ctxT(t), "decl", api.UndoRequest{Now: true, Reason: "e2e now"})
		require.NoError(t, err)
		require.True(t, res.Now)
		require.Equal(t, "v2", res.Plan.To)
		waitTraffic(t, l, "v2")
		r := e.release(leader, res.Plan.Release)
		last := r.Status.Decisions[len(r.Status.Decisions)-1]
		require.Equal(t, state.DecisionUndo, last.Action)
		require.Equal(t, "e2e", last.Actor)
		require.Contains(t, last.Message, "e2e now")
		_, err = leader.client().ReleaseAction(ctxT(t), name, "rollback", "")
		require.ErrorContains(t, err, fmt.Sprintf("sluice release undo %s", "decl"), "rolling back a promoted release points at undo")
	})
}
