package controller

import (
	"encoding/json"
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
	require.NotNil(t, a.Start)
	require.Equal(t, state.PhasePending, a.Start.Expect.Phase)
	require.Equal(t, -1, a.Start.Expect.Step)
	require.Equal(t, "start: no release window; 5% of traffic to v2 (step 1 of 2)", a.Start.Message)
	require.Equal(t, Next{}, DecideProgress(testRelease(state.PhasePending, -1), Fleet{Now: t0}), "DecideProgress leaves waiting releases to admission")
}

func TestDecideWaitsForEveryGroupToACK(t *testing.T) {
	r := testRelease(state.PhaseProgressing, 0)
	groups := []GroupAck{{Node: "n1", Group: "a", AckedIndex: 40, Streams: 3}, {Node: "n2", Group: "b", AckedIndex: 39, Streams: 1}}

	// One group is behind and the timeout has not passed: wait.
	n := DecideProgress(r, Fleet{Now: t0.Add(5 * time.Second), Groups: groups})
	require.Nil(t, n.Event)
	require.False(t, n.Analyze)

	// Both hold index 40: the step is applied.
	groups[1].AckedIndex = 41
	n = DecideProgress(r, Fleet{Now: t0.Add(5 * time.Second), Groups: groups})
	ack := n.Event.(*state.AckStep)
	require.Equal(t, uint64(40), ack.Expect.StepIndex)
	require.Contains(t, ack.Message, "2 proxy group(s), 4 stream(s)")

	// No proxies at all: nothing to wait for.
	n = DecideProgress(r, Fleet{Now: t0})
	require.Equal(t, state.CmdReleaseAck, n.Event.Type())
}

func TestDecideHoldsOnAckTimeoutAndNACK(t *testing.T) {
	r := testRelease(state.PhaseProgressing, 0)
	behind := []GroupAck{{Node: "n2", Group: "b", AckedIndex: 39, Streams: 1}}
	n := DecideProgress(r, Fleet{Now: t0.Add(10 * time.Second), Groups: behind})
	h := n.Event.(*state.HoldRelease).Hold
	require.Equal(t, state.HoldAckTimeout, h.Kind)
	require.Contains(t, h.Message, "not every proxy group ACKed step 1 within 10s: b@n2 (acked 39)")

	// The same hold is not proposed twice.
	r.Status.Hold = &h
	require.Nil(t, DecideProgress(r, Fleet{Now: t0.Add(11 * time.Second), Groups: behind}).Event)

	// A NACK holds at once and says which group rejected what.
	nack := []GroupAck{{Node: "n1", Group: "edge/eu-west/", AckedIndex: 39, Streams: 1, NACKs: []string{"p1 RouteConfiguration at index 40: bad route"}}}
	n = DecideProgress(testRelease(state.PhaseProgressing, 0), Fleet{Now: t0.Add(time.Second), Groups: nack})
	h = n.Event.(*state.HoldRelease).Hold
	require.Equal(t, state.HoldRejected, h.Kind)
	require.Contains(t, h.Message, "group edge/eu-west/ on n1 rejected config: p1 RouteConfiguration at index 40: bad route")
}

func TestDecideAnalysesWhenDue(t *testing.T) {
	r := acked(testRelease(state.PhaseProgressing, 0), t0.Add(30*time.Second))
	require.False(t, DecideProgress(r, Fleet{Now: t0.Add(4 * time.Second)}).Analyze)
	require.True(t, DecideProgress(r, Fleet{Now: t0.Add(5 * time.Second)}).Analyze)
	require.Equal(t, Next{}, DecideProgress(testRelease(state.PhasePaused, 0), Fleet{Now: t0.Add(time.Hour)}))
	require.Equal(t, Next{}, DecideProgress(testRelease(state.PhasePromoted, 1), Fleet{Now: t0}))
}

// after runs AfterAnalysis with nothing else observed.
func after(r *state.Release, v analysis.Verdict, now time.Time) state.ReleaseEvent {
	return AfterAnalysis(r, AnalysisInput{Verdict: v, Now: now})
}

// counters are the counters an analysis event carries.
func counters(t *testing.T, e state.ReleaseEvent) analysis.Counters {
	t.Helper()
	switch e := e.(type) {
	case *state.RecordAnalysis:
		return *e.Counters
	case *state.Rollback:
		return *e.Counters
	case *state.Promote:
		return *e.Counters
	}
	t.Fatalf("%T carries no counters", e)
	return analysis.Counters{}
}

func TestAfterAnalysis(t *testing.T) {
	bake := t0.Add(30 * time.Second)
	ok := analysis.Verdict{Phase: analysis.PhaseSuccessful, Reason: "burn 0.1 < 14.4"}

	// Successful during the bake: record, no move.
	e := after(acked(testRelease(state.PhaseProgressing, 0), bake), ok, t0.Add(10*time.Second))
	rec := e.(*state.RecordAnalysis)
	require.Nil(t, rec.Hold)
	require.Equal(t, 1, rec.Counters.Successes)
	require.Equal(t, config.Duration(7500*time.Millisecond), *rec.Baked, "one analysis covers at most 1.5 intervals (5s)")
	require.Contains(t, rec.Message, "baked 7.5s of 30s with data")
	require.JSONEq(t, `"Successful"`, string(field(t, rec.Verdict, "phase")), "the verdict is recorded as a JSON object")

	// Successful after the bake: advance to step 2 (50%), with the
	// estimate of that step.
	r := acked(testRelease(state.PhaseProgressing, 0), bake)
	r.Status.Baked, r.Status.BakedTo = config.Duration(25*time.Second), bake.Add(-5*time.Second)
	step, due := AdvanceDue(r, ok, bake)
	require.True(t, due)
	require.Equal(t, 1, step)
	est := EstimateExposure(r, 1, Traffic{}, Traffic{})
	e = AfterAnalysis(r, AnalysisInput{Verdict: ok, Now: bake, Next: &est})
	adv := e.(*state.AdvanceStep)
	require.Contains(t, adv.Message, "advance to step 2 (50%): step 1 baked 30s of 30s with data")
	require.Equal(t, 50.0, adv.Exposure.Share)

	// The train's lockstep holds it, recording the analysis.
	e = AfterAnalysis(r, AnalysisInput{Verdict: ok, Now: bake, Next: &est, Lockstep: "lockstep: waiting for d (step 1)"})
	require.Equal(t, state.HoldLockstep, e.(*state.RecordAnalysis).Hold.Kind)

	// Successful after the last step's bake: promote.
	r = acked(testRelease(state.PhaseProgressing, 1), bake)
	r.Status.Baked = config.Duration(30 * time.Second)
	_, due = AdvanceDue(r, ok, bake)
	require.False(t, due, "no step after the last")
	require.Equal(t, state.CmdReleasePromote, after(r, ok, bake).Type())

	// Failed: roll back at once (failure limit 1), with the verdict.
	e = after(acked(testRelease(state.PhaseProgressing, 0), bake), analysis.Verdict{Phase: analysis.PhaseFailed, Reason: "burn rule fast fired"}, t0.Add(6*time.Second))
	rb := e.(*state.Rollback)
	require.Contains(t, rb.Message, "rolled back at step 1 (5%): analysis failed once (failure limit 1): burn rule fast fired")
	require.JSONEq(t, `"Failed"`, string(field(t, rb.Verdict, "phase")))

	// Inconclusive holds until the limit (3), then rolls back; it never
	// advances, even after the bake.
	r = acked(testRelease(state.PhaseProgressing, 0), bake)
	inc := analysis.Verdict{Phase: analysis.PhaseInconclusive, Reason: "too few requests: 3 < 50"}
	for i := 1; i < 3; i++ {
		e = after(r, inc, bake.Add(time.Hour))
		require.Equal(t, state.HoldAnalysis, e.(*state.RecordAnalysis).Hold.Kind)
		require.Contains(t, e.(*state.RecordAnalysis).Hold.Message, "inconclusive")
		r.Status.Counters = counters(t, e)
	}
	e = after(r, inc, bake.Add(time.Hour))
	require.Contains(t, e.(*state.Rollback).Message, "inconclusive 3 times since the last successful one (inconclusive limit 3)")

	// Errors hold; a success in between resets the count.
	r = acked(testRelease(state.PhaseProgressing, 0), bake)
	errJ := analysis.Verdict{Phase: analysis.PhaseError, Reason: "prometheus unreachable"}
	e = after(r, errJ, t0.Add(time.Second))
	r.Status.Counters = counters(t, e)
	e = after(r, ok, t0.Add(2*time.Second))
	r.Status.Counters = counters(t, e)
	require.Zero(t, r.Status.Counters.Errors)
	e = after(r, errJ, t0.Add(3*time.Second))
	require.Equal(t, state.CmdReleaseAnalysis, e.Type())
	r.Status.Counters = counters(t, e)
	require.Equal(t, state.CmdReleaseRollback, after(r, errJ, t0.Add(4*time.Second)).Type())
}

// TestAfterAnalysisWithoutEstimateHolds: an advance with no estimate of
// the next step is held by an exposure budget (fail closed).
func TestAfterAnalysisWithoutEstimateHolds(t *testing.T) {
	r := acked(testRelease(state.PhaseProgressing, 0), t0)
	r.Status.Baked = config.Duration(30 * time.Second)
	r.Status.PolicySpec.Exposure = &config.ExposureSpec{MaxTrafficShare: 80}
	e := after(r, analysis.Verdict{Phase: analysis.PhaseSuccessful}, t0)
	require.Equal(t, state.HoldExposureBudget, e.(*state.RecordAnalysis).Hold.Kind)
}

func field(t *testing.T, raw []byte, name string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m))
	return m[name]
}

func TestDecideAckWaitsForExpectedGroups(t *testing.T) {
	r := testRelease(state.PhaseProgressing, 1)
	r.Status.ExpectedGroups = []string{"a", "b"}

	// After a leader change no proxy has reconnected yet: the step does
	// not pass with 0 proxy groups while groups are expected.
	require.Equal(t, Next{}, DecideProgress(r, Fleet{Now: t0.Add(time.Second)}))

	// One expected group is back and ACKed; the other is still missing.
	back := []GroupAck{{Node: "n2", Group: "a", AckedIndex: 40, Streams: 1}}
	require.Equal(t, Next{}, DecideProgress(r, Fleet{Now: t0.Add(5 * time.Second), Groups: back}))

	// Both are back (on different nodes): the step passes, and the groups
	// that held it are expected for the next one.
	both := append(back, GroupAck{Node: "n3", Group: "b", AckedIndex: 41, Streams: 2})
	ack := DecideProgress(r, Fleet{Now: t0.Add(6 * time.Second), Groups: both}).Event.(*state.AckStep)
	require.Equal(t, []string{"a", "b"}, ack.Groups)
	require.Equal(t, "step 2 (50%) applied: 2 proxy group(s), 3 stream(s) hold state index 40", ack.Message)
	ack = DecideProgress(r, Fleet{Now: t0.Add(6 * time.Second), Groups: both, Unreachable: []string{"n4"}}).Event.(*state.AckStep)
	require.Contains(t, ack.Message, "; unreachable node(s), their proxies reconnect elsewhere: n4")

	// A group with no stream on any live node within ackTimeout stops
	// being expected, and the ACK says so.
	ack = DecideProgress(r, Fleet{Now: t0.Add(10 * time.Second), Groups: back}).Event.(*state.AckStep)
	require.Equal(t, []string{"a"}, ack.Groups)
	require.Equal(t, "step 2 (50%) applied: 1 proxy group(s), 1 stream(s) hold state index 40; no longer expected (no stream on any live node within 10s): b", ack.Message)

	// A group that is there but behind still holds the step at the timeout.
	behind := append(back, GroupAck{Node: "n3", Group: "b", AckedIndex: 39, Streams: 1})
	h := DecideProgress(r, Fleet{Now: t0.Add(10 * time.Second), Groups: behind}).Event.(*state.HoldRelease).Hold
	require.Equal(t, state.HoldAckTimeout, h.Kind)
}
