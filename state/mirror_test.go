package state

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
)

// mirrorDocs is baseDocs with a mirror step first and the given failure
// action.
func mirrorDocs(onFailure string) string {
	docs := strings.Replace(baseDocs, "  steps:\n    - {weight: 10, bake: 30s}",
		"  steps:\n    - {mirror: 20, bake: 30s}\n    - {weight: 10, bake: 30s}", 1)
	if onFailure != "" {
		docs += "  onMirrorFailure: " + onFailure + "\n"
	}
	return docs
}

func startedMirror(t *testing.T, onFailure string) *machine {
	m := newMachine(t, mirrorDocs(onFailure))
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	require.NoError(t, m.do(&StartRelease{On: m.on("start")}, t0.Add(time.Second), "controller"))
	return m
}

func TestMirrorStepRouting(t *testing.T) {
	m := startedMirror(t, "")
	r := m.rel()
	require.Equal(t, config.MirrorFailureRollback, r.Status.PolicySpec.OnMirrorFailure, "the default is kept with the release")
	require.Equal(t, 0, r.Status.Step)
	require.Zero(t, r.Status.Weight, "a mirror step serves no user from the new version")
	require.Equal(t, []uint32{100, 0, 0}, m.st.RouteWeights("greeter"))
	rt, ok := m.st.Routing("greeter")
	require.True(t, ok)
	require.Equal(t, uint32(20), rt.Mirror)
	require.Equal(t, "v2", rt.To)

	require.NoError(t, m.do(&AckStep{On: m.on("acked")}, t0.Add(2*time.Second), "controller"))
	require.NoError(t, m.do(&AdvanceStep{On: m.on("advance")}, t0.Add(40*time.Second), "controller"))
	rt, _ = m.st.Routing("greeter")
	require.Zero(t, rt.Mirror, "the weight step after it does not mirror")
	require.Equal(t, []uint32{90, 10, 0}, m.st.RouteWeights("greeter"))
}

func TestSkipMirror(t *testing.T) {
	m := startedMirror(t, "")
	skip := func(groups ...string) *SkipMirror {
		e := &SkipMirror{On: m.on("grpc-go does not mirror")}
		for _, g := range groups {
			e.Skips = append(e.Skips, MirrorSkip{Step: 0, Group: g, Reason: MirrorSkipProxyless, Streams: 2})
		}
		return e
	}
	require.NoError(t, m.do(skip("grpc/eu/"), t0.Add(2*time.Second), "controller"))
	r := m.rel()
	require.Equal(t, []MirrorSkip{{Step: 0, Group: "grpc/eu/", Reason: MirrorSkipProxyless, Streams: 2}}, r.Status.MirrorSkips)
	require.True(t, r.MirrorSkipped("grpc/eu/"))
	last := r.Status.Decisions[len(r.Status.Decisions)-1]
	require.Equal(t, DecisionMirrorSkip, last.Action)
	require.Equal(t, "grpc-go does not mirror", last.Message)
	n := len(r.Status.Decisions)

	// The same group again changes nothing; a new one is added.
	require.NoError(t, m.do(skip("grpc/eu/"), t0.Add(3*time.Second), "controller"))
	require.Len(t, m.rel().Status.Decisions, n, "a repeated skip is not recorded again")
	require.NoError(t, m.do(skip("grpc/eu/", "grpc/us/"), t0.Add(3*time.Second), "controller"))
	require.Len(t, m.rel().Status.MirrorSkips, 2)

	// Malformed, and past the mirror step: refused.
	bad := skip("x")
	bad.Skips[0].Reason = ""
	require.ErrorIs(t, m.do(bad, t0.Add(4*time.Second), "controller"), ErrBadPayload)
	require.ErrorIs(t, m.do(&SkipMirror{On: m.on("none")}, t0.Add(4*time.Second), "controller"), ErrBadPayload)
	require.NoError(t, m.do(&AckStep{On: m.on("acked")}, t0.Add(5*time.Second), "controller"))
	require.NoError(t, m.do(&AdvanceStep{On: m.on("advance")}, t0.Add(40*time.Second), "controller"))
	late := skip("grpc/ap/")
	late.Skips[0].Step = 1
	require.ErrorIs(t, m.do(late, t0.Add(41*time.Second), "controller"), ErrBadTransition)
}

func TestHoldMirror(t *testing.T) {
	verdict, err := json.Marshal(analysis.Verdict{Phase: analysis.PhaseFailed, Reason: "burn"})
	require.NoError(t, err)
	failed := func(m *machine) *HoldMirror {
		return &HoldMirror{On: OnAnalysis(m.rel(), "mirror failed: holding"), Verdict: verdict, Counters: &analysis.Counters{Failures: 1}}
	}

	t.Run("refused when the policy rolls back", func(t *testing.T) {
		m := startedMirror(t, "rollback")
		require.NoError(t, m.do(&AckStep{On: m.on("acked")}, t0.Add(2*time.Second), "controller"))
		require.ErrorIs(t, m.do(failed(m), t0.Add(10*time.Second), "controller"), ErrBadTransition)
	})

	t.Run("pauses at the mirror step, traffic unchanged", func(t *testing.T) {
		m := startedMirror(t, "hold")
		require.NoError(t, m.do(&AckStep{On: m.on("acked")}, t0.Add(2*time.Second), "controller"))
		e := failed(m)
		require.NoError(t, m.do(e, t0.Add(10*time.Second), "controller"))
		r := m.rel()
		require.Equal(t, PhasePaused, r.Status.Phase)
		require.True(t, r.HeldFor(HoldMirrorFailed))
		require.Equal(t, analysis.Counters{}, r.Status.Counters, "a resumed step is judged afresh")
		require.JSONEq(t, string(verdict), string(r.Status.LastVerdict))
		last := r.Status.Decisions[len(r.Status.Decisions)-1]
		require.Equal(t, DecisionHold, last.Action)
		require.Equal(t, PhasePaused, last.Phase)
		require.JSONEq(t, string(verdict), string(last.Verdict), "the verdict is recorded with the decision")
		rt, ok := m.st.Routing("greeter")
		require.True(t, ok, "a paused release keeps its routes")
		require.Equal(t, uint32(20), rt.Mirror, "the mirror goes on")
		require.Equal(t, []uint32{100, 0, 0}, m.st.RouteWeights("greeter"))

		// The same analysis result twice is refused; a person resumes.
		require.ErrorIs(t, m.do(e, t0.Add(11*time.Second), "controller"), ErrConflict)
		require.NoError(t, m.do(&Resume{On: m.on("looked at it")}, t0.Add(60*time.Second), "alice"))
		r = m.rel()
		require.Equal(t, PhaseProgressing, r.Status.Phase)
		require.Equal(t, t0.Add(60*time.Second), r.Status.BakedTo, "the bake counts again from the resume")
		require.Zero(t, r.Status.Baked)
	})

	t.Run("only at a mirror step", func(t *testing.T) {
		m := startedMirror(t, "hold")
		require.NoError(t, m.do(&AckStep{On: m.on("acked")}, t0.Add(2*time.Second), "controller"))
		require.NoError(t, m.do(&AdvanceStep{On: m.on("advance")}, t0.Add(40*time.Second), "controller"))
		require.ErrorIs(t, m.do(failed(m), t0.Add(41*time.Second), "controller"), ErrBadTransition)
	})
}
