package controller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func testRelease(phase state.Phase, step int) *state.Release {
	spec := config.PolicyDefaults(&config.ReleasePolicySpec{
		Services: []string{"svc"},
		Steps:    []config.StepSpec{{Weight: 5, Bake: config.Duration(30 * time.Second)}, {Weight: 50, Bake: config.Duration(30 * time.Second)}},
	})
	spec.Analysis.FailureLimit = 1
	spec.Analysis.InconclusiveLimit = 3
	spec.Analysis.ErrorLimit = 2
	spec.AckTimeout = config.Duration(10 * time.Second)
	r := &state.Release{
		Spec: config.Release{Metadata: config.Metadata{Name: "r"}, Spec: config.ReleaseSpec{Service: "svc", To: "v2"}},
		Status: state.ReleaseStatus{Phase: phase, From: "v1", PolicySpec: spec, Plan: spec.Steps, Step: step,
			StepIndex: 40, StepStartedAt: t0},
	}
	if step >= 0 {
		r.Status.Weight = spec.Steps[step].Weight
	}
	return r
}

func acked(r *state.Release, bakeUntil time.Time) *state.Release {
	r.Status.Acked, r.Status.AckedAt, r.Status.BakeUntil = true, t0, bakeUntil
	r.Status.NextAnalysisAt = t0.Add(5 * time.Second)
	return r
}

func TestDecideAdmissionStartsPendingRelease(t *testing.T) {
	a := DecideAdmission(testRelease(state.PhasePending, -1), t0, nil)
	require.NotNil(t, a.Update)
	require.Equal(t, state.ActStart, a.Update.Action)
	require.Equal(t, state.PhasePending, a.Update.ExpectPhase)
	require.Equal(t, -1, a.Update.ExpectStep)
	require.Equal(t, "start: no release window; 5% of traffic to v2 (step 1 of 2)", a.Update.Message)
	require.Equal(t, Next{}, Decide(testRelease(state.PhasePending, -1), Observation{Now: t0}), "Decide leaves waiting releases to admission")
}

func TestDecideWaitsForEveryGroupToACK(t *testing.T) {
	r := testRelease(state.PhaseProgressing, 0)
	groups := []GroupAck{{Node: "n1", Group: "a", AckedIndex: 40, Streams: 3}, {Node: "n2", Group: "b", AckedIndex: 39, Streams: 1}}

	// One group is behind and the timeout has not passed: wait.
	n := Decide(r, Observation{Now: t0.Add(5 * time.Second), Groups: groups})
	require.Nil(t, n.Update)
	require.False(t, n.Analyze)

	// Both hold index 40: the step is applied.
	groups[1].AckedIndex = 41
	n = Decide(r, Observation{Now: t0.Add(5 * time.Second), Groups: groups})
	require.Equal(t, state.ActAck, n.Update.Action)
	require.Equal(t, uint64(40), n.Update.ExpectStepIndex)
	require.Contains(t, n.Update.Message, "2 proxy group(s), 4 stream(s)")

	// No proxies at all: nothing to wait for.
	n = Decide(r, Observation{Now: t0})
	require.Equal(t, state.ActAck, n.Update.Action)
}

func TestDecideHoldsOnAckTimeoutAndNACK(t *testing.T) {
	r := testRelease(state.PhaseProgressing, 0)
	behind := []GroupAck{{Node: "n2", Group: "b", AckedIndex: 39, Streams: 1}}
	n := Decide(r, Observation{Now: t0.Add(10 * time.Second), Groups: behind})
	require.Equal(t, state.ActHold, n.Update.Action)
	require.Contains(t, n.Update.Holding, "not every proxy group ACKed step 1 within 10s: b@n2 (acked 39)")

	// The same hold is not proposed twice.
	r.Status.Holding = n.Update.Holding
	require.Nil(t, Decide(r, Observation{Now: t0.Add(11 * time.Second), Groups: behind}).Update)

	// A NACK holds at once and says which group rejected what.
	nack := []GroupAck{{Node: "n1", Group: "edge/eu-west/", AckedIndex: 39, Streams: 1, NACKs: []string{"p1 RouteConfiguration at index 40: bad route"}}}
	n = Decide(testRelease(state.PhaseProgressing, 0), Observation{Now: t0.Add(time.Second), Groups: nack})
	require.Equal(t, state.ActHold, n.Update.Action)
	require.Contains(t, n.Update.Holding, "group edge/eu-west/ on n1 rejected config: p1 RouteConfiguration at index 40: bad route")
}

func TestDecideAnalysesWhenDue(t *testing.T) {
	r := acked(testRelease(state.PhaseProgressing, 0), t0.Add(30*time.Second))
	require.False(t, Decide(r, Observation{Now: t0.Add(4 * time.Second)}).Analyze)
	require.True(t, Decide(r, Observation{Now: t0.Add(5 * time.Second)}).Analyze)
	require.Equal(t, Next{}, Decide(testRelease(state.PhasePaused, 0), Observation{Now: t0.Add(time.Hour)}))
	require.Equal(t, Next{}, Decide(testRelease(state.PhasePromoted, 1), Observation{Now: t0}))
}

func TestAfterAnalysis(t *testing.T) {
	bake := t0.Add(30 * time.Second)
	ok := analysis.Verdict{Phase: analysis.PhaseSuccessful, Reason: "burn 0.1 < 14.4"}
	raw := []byte(`{"phase":"Successful"}`)

	// Successful during the bake: record, no move.
	u := AfterAnalysis(acked(testRelease(state.PhaseProgressing, 0), bake), ok, raw, t0.Add(10*time.Second))
	require.Equal(t, state.ActAnalysis, u.Action)
	require.Empty(t, u.Holding)
	require.Equal(t, 1, u.Counters.Successes)
	require.Equal(t, []byte(`{"phase":"Successful"}`), u.Verdict)

	// Successful after the bake: advance to step 2 (50%).
	u = AfterAnalysis(acked(testRelease(state.PhaseProgressing, 0), bake), ok, raw, bake)
	require.Equal(t, state.ActAdvance, u.Action)
	require.Contains(t, u.Message, "advance to step 2 (50%)")

	// Successful after the last step's bake: promote.
	u = AfterAnalysis(acked(testRelease(state.PhaseProgressing, 1), bake), ok, raw, bake)
	require.Equal(t, state.ActPromote, u.Action)

	// Failed: roll back at once (failure limit 1), with the verdict.
	u = AfterAnalysis(acked(testRelease(state.PhaseProgressing, 0), bake), analysis.Verdict{Phase: analysis.PhaseFailed, Reason: "burn rule fast fired"}, nil, t0.Add(6*time.Second))
	require.Equal(t, state.ActRollback, u.Action)
	require.Contains(t, u.Message, "rolled back at step 1 (5%): analysis failed once (failure limit 1): burn rule fast fired")

	// Inconclusive holds until the limit (3), then rolls back; it never
	// advances, even after the bake.
	r := acked(testRelease(state.PhaseProgressing, 0), bake)
	inc := analysis.Verdict{Phase: analysis.PhaseInconclusive, Reason: "too few requests: 3 < 50"}
	for i := 1; i < 3; i++ {
		u = AfterAnalysis(r, inc, nil, bake.Add(time.Hour))
		require.Equal(t, state.ActAnalysis, u.Action)
		require.Contains(t, u.Holding, "inconclusive")
		r.Status.Counters = *u.Counters
	}
	u = AfterAnalysis(r, inc, nil, bake.Add(time.Hour))
	require.Equal(t, state.ActRollback, u.Action)
	require.Contains(t, u.Message, "inconclusive 3 times since the last successful one (inconclusive limit 3)")

	// Errors hold; a success in between resets the count.
	r = acked(testRelease(state.PhaseProgressing, 0), bake)
	errJ := analysis.Verdict{Phase: analysis.PhaseError, Reason: "prometheus unreachable"}
	u = AfterAnalysis(r, errJ, nil, t0.Add(time.Second))
	require.Equal(t, state.ActAnalysis, u.Action)
	r.Status.Counters = *u.Counters
	u = AfterAnalysis(r, ok, raw, t0.Add(2*time.Second))
	r.Status.Counters = *u.Counters
	require.Zero(t, r.Status.Counters.Errors)
	u = AfterAnalysis(r, errJ, nil, t0.Add(3*time.Second))
	require.Equal(t, state.ActAnalysis, u.Action)
	r.Status.Counters = *u.Counters
	u = AfterAnalysis(r, errJ, nil, t0.Add(4*time.Second))
	require.Equal(t, state.ActRollback, u.Action)
}
