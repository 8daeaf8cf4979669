package controller

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis/risk"
	"github.com/sluicehq/sluice/analysis/window"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

func withGates(r *state.Release, gates ...config.GateResult) *state.Release {
	r.Spec.Spec.Gates = gates
	return r
}

func TestAdmissionQualityGatesAreHard(t *testing.T) {
	r := withGates(testRelease(state.PhasePending, -1),
		config.GateResult{Name: "unit", Passed: true, Required: true},
		config.GateResult{Name: "integration", Passed: false, Required: true},
		config.GateResult{Name: "lint", Passed: false})
	a := DecideAdmission(r, t0, nil)
	await := a.Event.(*state.Await)
	require.Equal(t, state.HoldGates, await.Hold.Kind)
	require.Contains(t, await.Message, "quality gate(s) integration failed and are required")
	require.Contains(t, await.Message, "sluice release approve r --override-gate integration")

	// Waiting with the same reason: nothing new, whatever the time.
	r.Status.Phase, r.Status.Hold = state.PhaseAwaitingApproval, &await.Hold
	require.Equal(t, Admit{}, DecideAdmission(r, t0.Add(24*time.Hour), nil))

	// A start-now approval does not get past a failed gate.
	r.Status.Approvals = []state.Approval{{Step: -1, StartNow: true, Actor: "alice"}}
	require.Equal(t, Admit{}, DecideAdmission(r, t0, nil))

	// Only an override of that gate does (an optional gate never blocks).
	r.Status.Approvals = append(r.Status.Approvals, state.Approval{Step: -1, Gate: "integration", Actor: "alice"})
	r.Status.Phase = state.PhasePending
	r.Status.Hold = nil
	a = DecideAdmission(r, t0, nil)
	require.NotNil(t, a.Start)
}

func TestAdmissionWindows(t *testing.T) {
	closed := func(time.Time, time.Duration) (bool, string) { return false, "inside blackout \"freeze\"" }
	open := func(time.Time, time.Duration) (bool, string) { return true, "any time" }

	// Outside the window: ask the optimizer.
	r := testRelease(state.PhasePending, -1)
	require.Equal(t, Admit{Suggest: true}, DecideAdmission(r, t0, closed))

	// Inside: start, recording how the time was chosen.
	a := DecideAdmission(r, t0, open)
	require.Equal(t, state.StartInWindow, a.Start.Window)

	// Scheduled: nothing before the time, start at it (window open).
	r.Status.Phase, r.Status.ScheduledAt = state.PhaseScheduled, t0.Add(time.Hour)
	require.Equal(t, Admit{}, DecideAdmission(r, t0.Add(59*time.Minute), open))
	require.NotNil(t, DecideAdmission(r, t0.Add(time.Hour), open).Start)
	// At the time but the window closed meanwhile: ask again.
	require.Equal(t, Admit{Suggest: true}, DecideAdmission(r, t0.Add(time.Hour), closed))

	// A person approved starting now: start, outside the window.
	r.Status.Approvals = []state.Approval{{Step: -1, StartNow: true, Actor: "alice"}}
	a = DecideAdmission(r, t0, closed)
	require.Equal(t, state.StartNow, a.Start.Window)
}

func TestScheduleFrom(t *testing.T) {
	r := testRelease(state.PhasePending, -1)
	best := window.Candidate{Start: t0.Add(3 * time.Hour), Window: "any time", Reasons: []string{"after the freeze", "quiet hour"}}
	e := ScheduleFrom(r, t0, "inside blackout \"freeze\"", window.Suggestion{Timezone: "UTC", Best: best}, nil)
	sched := e.(*state.Schedule)
	require.Equal(t, t0.Add(3*time.Hour), sched.At)
	require.Equal(t, "outside its release window (inside blackout \"freeze\"); scheduled for Wed 2026-11-25 13:00 UTC in any time: after the freeze; quiet hour", sched.Message)
	require.JSONEq(t, `"UTC"`, string(field(t, sched.Suggestion, "timezone")), "the suggestion is kept as a JSON object")

	e = ScheduleFrom(r, t0, "outside windows", window.Suggestion{Horizon: 7 * 24 * time.Hour}, fmt.Errorf("%w", window.ErrNoWindow))
	await := e.(*state.Await)
	require.Equal(t, state.HoldNoWindow, await.Hold.Kind)
	require.Contains(t, await.Message, "sluice release approve r --start-now")
}

func riskWorld(t *testing.T, policyExtra string) *state.State {
	t.Helper()
	docs := `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: db}
spec:
  protocol: grpc
  versions: [{name: v1, endpoints: [{address: "10.0.0.1:80"}]}, {name: v2, endpoints: [{address: "10.0.0.2:80"}]}]
---
apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: api}
spec:
  protocol: grpc
  dependsOn: [db]
  versions: [{name: v1, endpoints: [{address: "10.0.1.1:80"}]}]
---
apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: web}
spec:
  protocol: grpc
  dependsOn: [api]
  versions: [{name: v1, endpoints: [{address: "10.0.2.1:80"}]}]
---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: p}
spec:
  services: [db]
  slo: {objective: 99, errorRatioQuery: 'e{version="{{version}}"}', requestsQuery: 'r{version="{{version}}"}'}
` + policyExtra
	parsed, err := config.Parse("w.yaml", []byte(docs))
	require.NoError(t, err)
	c, err := state.NewCommand(state.CmdApply, t0, "t", state.ApplyPayload{Documents: parsed})
	require.NoError(t, err)
	st, _, err := state.Apply(state.New(), 1, c)
	require.NoError(t, err)
	return st
}

func ip(v int) *int { return &v }

func TestAssess(t *testing.T) {
	st := riskWorld(t, "  riskPlan: {bakes: {high: 3s, low: 2s}}\n")
	require.Equal(t, []string{"api", "db", "web"}, Dependents(st, "db", nil), "dependents, transitively")

	big := &config.Release{Metadata: config.Metadata{Name: "r"}, Spec: config.ReleaseSpec{Service: "db", To: "v2",
		Change: &config.ChangeDescriptor{LinesAdded: ip(4000), LinesDeleted: ip(1500), Files: ip(60), Fix: new(bool)}}}
	a := Assess(st, big, t0)
	require.Equal(t, state.RiskHigh, a.Level, "p=%v reasons %v", a.Probability, a.Reasons)
	require.Equal(t, "risk", a.PlanSource)
	require.Len(t, a.Plan, 5, "high risk: small steps")
	require.Equal(t, config.Duration(3*time.Second), a.Plan[0].Bake)
	require.Equal(t, []int{1}, a.ApprovalSteps, "approval before leaving step 1")
	require.Equal(t, risk.DefaultModel().Version, a.ModelVersion)
	require.NotEmpty(t, a.Reasons)
	require.Equal(t, []string{"api", "db", "web"}, a.ServicesTouched)

	small := &config.Release{Metadata: config.Metadata{Name: "s"}, Spec: config.ReleaseSpec{Service: "db", To: "v2",
		Change: &config.ChangeDescriptor{LinesAdded: ip(3), LinesDeleted: ip(1), Files: ip(1), Fix: new(bool)}}}
	a = Assess(st, small, t0)
	require.Equal(t, state.RiskLow, a.Level, "p=%v", a.Probability)
	require.Len(t, a.Plan, 2, "low risk: few large steps")
	require.Empty(t, a.ApprovalSteps)

	// A policy with explicit steps keeps them; a high risk still needs an
	// approval after the first step.
	st = riskWorld(t, "  steps: [{weight: 10}, {weight: 50}]\n")
	a = Assess(st, big, t0)
	require.Equal(t, "policy", a.PlanSource)
	require.Nil(t, a.Plan)
	require.Equal(t, []int{1}, a.ApprovalSteps)

	// So does a blue/green policy: its two steps stay, and a high risk
	// waits for an approval of the switch.
	st = riskWorld(t, "  strategy: {blueGreen: {}}\n")
	a = Assess(st, big, t0)
	require.Equal(t, "policy", a.PlanSource)
	require.Nil(t, a.Plan)
	require.Equal(t, []int{config.BlueGreenSwitchStep}, a.ApprovalSteps)
}

func TestRiskSamplesAndModelUpdate(t *testing.T) {
	st := state.New()
	add := func(name string, phase state.Phase, actor string, lines int) {
		la := lines
		st.Releases[name] = &state.Release{
			Spec: config.Release{Metadata: config.Metadata{Name: name}},
			Status: state.ReleaseStatus{Phase: phase, Assessment: &state.Assessment{Features: state.RiskInputs{LinesAdded: &la}},
				Decisions: []state.Decision{{Actor: actor}}},
		}
	}
	for i := 0; i < 18; i++ {
		add(fmt.Sprintf("ok-%02d", i), state.PhasePromoted, "controller:n1", 10+i)
	}
	add("bad-1", state.PhaseRolledBack, "controller:n1", 5000)
	add("manual", state.PhaseRolledBack, "alice", 5000)
	add("aborted", state.PhaseAborted, "alice", 5000)
	samples := RiskSamples(st)
	require.Len(t, samples, 19, "manual rollbacks and aborts are not outcomes of the change")
	require.True(t, samples[0].Failed, "bad-1 sorts first")
	require.Nil(t, NextRiskModel(st), "not enough history yet")

	for i := 2; i <= 4; i++ {
		add(fmt.Sprintf("bad-%d", i), state.PhaseRolledBack, "controller:n2", 3000+i)
	}
	m := NextRiskModel(st)
	require.NotNil(t, m)
	require.Equal(t, 22, m.Samples)
	require.Equal(t, risk.DefaultModel().Version, m.Parent)
	again := NextRiskModel(st)
	require.Equal(t, m.Version, again.Version, "deterministic")
	st.RiskModel = m.Stored()
	require.Nil(t, NextRiskModel(st), "nothing new")
}

// TestNextRiskModelStartsFromTheInstalledBase: once a model is installed,
// the learner refines it, not the built-in one, and every leader computes
// the same model.
func TestNextRiskModelStartsFromTheInstalledBase(t *testing.T) {
	st := state.New()
	for i := 0; i < 22; i++ {
		la, phase := 10+i, state.PhasePromoted
		if i%5 == 0 {
			la, phase = 3000+i, state.PhaseRolledBack
		}
		st.Releases[fmt.Sprintf("r-%02d", i)] = &state.Release{
			Spec: config.Release{Metadata: config.Metadata{Name: fmt.Sprintf("r-%02d", i)}},
			Status: state.ReleaseStatus{Phase: phase, Assessment: &state.Assessment{Features: state.RiskInputs{LinesAdded: &la}},
				Decisions: []state.Decision{{Actor: "controller:n1"}}},
		}
	}
	fromDefault := NextRiskModel(st)
	require.NotNil(t, fromDefault)

	base := risk.DefaultModel()
	base.Intercept -= 0.5
	base.TrainedOn = "alpha"
	base.Seal()
	st.RiskBase, st.RiskModel = base.Stored(), base.Stored()
	require.Equal(t, base.Version, RiskBase(st).Version)
	m := NextRiskModel(st)
	require.NotNil(t, m)
	require.Equal(t, base.Version, m.Parent, "learned on top of the installed base")
	require.NotEqual(t, fromDefault.Version, m.Version)
	require.Equal(t, m.Version, NextRiskModel(st).Version, "deterministic")

	// An installed model that happens to have been trained on as many
	// samples as the cluster has outcomes is still refined: it did not
	// learn from them.
	base.Samples = len(RiskSamples(st))
	base.Seal()
	st.RiskBase, st.RiskModel = base.Stored(), base.Stored()
	require.NotNil(t, NextRiskModel(st), "an install with the same sample count")
	st.RiskModel = NextRiskModel(st).Stored()
	require.Nil(t, NextRiskModel(st), "refined from this base on these outcomes: nothing new")

	st.RiskBase = nil
	require.Equal(t, risk.DefaultModel().Version, RiskBase(st).Version, "no base: the built-in model")
}
