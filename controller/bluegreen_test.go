package controller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// blueGreenRelease is a blue/green release at step (0 preview, 1 switched),
// ACKed at t0, its bake (1m) fully counted.
func blueGreenRelease(step int) *state.Release {
	spec := config.PolicyDefaults(&config.ReleasePolicySpec{
		Services: []string{"svc"},
		Strategy: &config.StrategySpec{BlueGreen: &config.BlueGreenSpec{PreviewBake: config.Duration(time.Minute), PostSwitchBake: config.Duration(time.Minute)}},
	})
	r := &state.Release{
		Spec: config.Release{Metadata: config.Metadata{Name: "r"}, Spec: config.ReleaseSpec{Service: "svc", To: "v2"}},
		Status: state.ReleaseStatus{Phase: state.PhaseProgressing, From: "v1", PolicySpec: spec, Plan: spec.Steps, Step: step,
			Weight: spec.Steps[step].Weight, StepIndex: 40, StepStartedAt: t0},
	}
	acked(r, t0.Add(time.Minute))
	r.Status.Baked, r.Status.BakedTo = config.Duration(time.Minute), t0.Add(time.Minute)
	return r
}

func TestBlueGreenDecisions(t *testing.T) {
	start := blueGreenRelease(0)
	start.Status.Phase, start.Status.Step = state.PhasePending, -1
	a := DecideAdmission(start, t0, nil)
	require.Equal(t, "start: no release window; blue/green preview: only requests with x-sluice-preview: true reach v2, all others stay on v1 (step 1 of 2)", a.Start.Message)

	now := t0.Add(time.Minute)
	ok := analysis.Verdict{Phase: analysis.PhaseSuccessful, Reason: "burn 0.1 < 14.4"}

	// A preview without enough preview requests holds: it never switches.
	inc := analysis.Verdict{Phase: analysis.PhaseInconclusive, Reason: "too few requests: canary served 3 in 1m, needs 50"}
	e := AfterAnalysis(blueGreenRelease(0), AnalysisInput{Verdict: inc, Now: now})
	require.Equal(t, state.HoldAnalysis, e.(*state.RecordAnalysis).Hold.Kind)

	// A good preview switches everything at once.
	r := blueGreenRelease(0)
	est := EstimateExposure(r, 1, Traffic{}, Traffic{})
	e = AfterAnalysis(r, AnalysisInput{Verdict: ok, Now: now, Next: &est})
	adv := e.(*state.AdvanceStep)
	require.Contains(t, adv.Message, "advance to step 2 (100%)")
	require.Equal(t, 100.0, adv.Exposure.Share)

	// A failure after the switch switches back on the first analysis.
	e = AfterAnalysis(blueGreenRelease(1), AnalysisInput{Verdict: analysis.Verdict{Phase: analysis.PhaseFailed, Reason: "burn rule fast fired"}, Now: t0.Add(10 * time.Second)})
	require.Equal(t, state.CmdReleaseRollback, e.Type())
	require.Equal(t, "switched back to v1 after the switch: analysis failed once (failure limit 1): burn rule fast fired", e.(*state.Rollback).Message)
	// A failed preview never switched anything.
	e = AfterAnalysis(blueGreenRelease(0), AnalysisInput{Verdict: analysis.Verdict{Phase: analysis.PhaseFailed, Reason: "burn rule fast fired"}, Now: now})
	require.Equal(t, "not switched: the preview failed, users stayed on v1: analysis failed once (failure limit 1): burn rule fast fired", e.(*state.Rollback).Message)

	// A good post-switch window promotes.
	require.Equal(t, state.CmdReleasePromote, AfterAnalysis(blueGreenRelease(1), AnalysisInput{Verdict: ok, Now: now}).Type())
}

func TestDecideRetire(t *testing.T) {
	promoted := blueGreenRelease(1)
	promoted.Status.Phase = state.PhasePromoted
	until := t0.Add(30 * time.Minute)
	st := state.New()
	st.Services = map[string]*config.Service{"svc": {Metadata: config.Metadata{Name: "svc"}, Spec: config.ServiceSpec{Protocol: config.ProtocolHTTP, Port: 80,
		Versions: []config.Version{{Name: "v1"}, {Name: "v2"}}}}}
	st.Releases = map[string]*state.Release{"r": promoted}
	st.ServiceStatus = map[string]*state.ServiceStatus{"svc": {Kept: &state.KeptVersion{Release: "r", Version: "v1", Until: until}}}

	require.Empty(t, DecideRetire(st, until.Add(-time.Second)))
	es := DecideRetire(st, until)
	require.Len(t, es, 1)
	require.Equal(t, state.ExpectOf(promoted), es[0].Expect)
	require.Equal(t, "old version v1 of svc is no longer routable: kept 30m0s after promotion (until "+until.Format(time.RFC3339)+")", es[0].Message)
}
