package controller

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// burnAnalyzer returns a verdict of phase with the canary's burn on the
// fast rule's short window (10s by default).
type burnAnalyzer struct {
	mu    sync.Mutex
	phase analysis.Phase
	burn  float64
}

func (a *burnAnalyzer) set(p analysis.Phase, burn float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.phase, a.burn = p, burn
}

func (a *burnAnalyzer) Analyze(context.Context, *state.Release, time.Time) analysis.Verdict {
	a.mu.Lock()
	defer a.mu.Unlock()
	return burnVerdict(a.phase, a.burn)
}

func burnVerdict(p analysis.Phase, burn float64) analysis.Verdict {
	obs := func(w time.Duration, v float64) analysis.Observation {
		return analysis.Observation{Observed: analysis.ObservedBurnRate, Role: analysis.RoleCanary, Version: "v2",
			Window: config.Duration(w), Outcome: analysis.OutcomeValue, Value: &v}
	}
	return analysis.Verdict{Phase: p, Reason: "fake burn", Checks: []analysis.Check{
		{Kind: analysis.CheckBurnRule, Name: "fast", Observations: []analysis.Observation{obs(time.Minute, burn*2), obs(10*time.Second, burn)}},
		{Kind: analysis.CheckBurnRule, Name: "slow", Observations: []analysis.Observation{obs(5*time.Minute, 1), obs(30*time.Second, burn/2)}},
	}}
}

var gradualWorld = strings.Replace(loopWorld, "  analysis: {interval: 1s}\n",
	"  analysis: {interval: 1s}\n  rollback: {mode: gradual, steps: 3, bake: 5s, maxStepPercent: 20}\n", 1)

// atStepTwo drives r to its 50% step with clean analyses, then fails it
// with a burn of 20.
func atStepTwo(t *testing.T) (*loopRig, *burnAnalyzer) {
	rig := newLoopRig(t, gradualWorld, planEstimator{})
	an := &burnAnalyzer{phase: analysis.PhaseSuccessful, burn: 1}
	rig.c.deps.Analyzer = an
	rig.tick()
	rig.tick()
	for rig.rel("r").Status.Step < 1 {
		rig.bakeFor(1)
	}
	rig.tick() // ACK
	require.Equal(t, uint32(50), rig.rel("r").Status.Weight)
	an.set(analysis.PhaseFailed, 20)
	rig.bakeFor(1)
	return rig, an
}

// TestGradualRollbackLoop: a failed release at 50% steps back 34, 17, 0,
// one step per 5s bake, analysing all along; a burn that stays at the
// one that started it does not stop the steps.
func TestGradualRollbackLoop(t *testing.T) {
	rig, _ := atStepTwo(t)
	r := rig.rel("r")
	require.Equal(t, state.PhaseRollingBack, r.Status.Phase)
	require.Equal(t, []uint32{34, 17, 0}, r.Status.Rollback.Weights)
	require.Equal(t, &state.BurnReading{Rule: "fast", Window: config.Duration(10 * time.Second), Burn: 20}, r.Status.Rollback.Trigger)
	require.Equal(t, 30.0, r.Status.Rollback.Bar, "1.5 x the burn that started it")
	start := r.Status.Decisions[len(r.Status.Decisions)-1]
	require.Equal(t, state.DecisionRollbackGradual, start.Action)
	require.Contains(t, start.Message, "rolling back gradually from 50%: 34% -> 17% -> 0%, 5s each")
	require.NotEmpty(t, start.Verdict, "the verdict that failed it is recorded")
	require.Equal(t, []uint32{66, 34}, rig.f.State().RouteWeights("svc"))

	var weights []uint32
	for range 12 {
		rig.bakeFor(1)
		if w := rig.rel("r").Status.Weight; len(weights) == 0 || weights[len(weights)-1] != w {
			weights = append(weights, w)
		}
	}
	r = rig.rel("r")
	require.Equal(t, state.PhaseRolledBack, r.Status.Phase)
	require.Equal(t, []uint32{34, 17, 0}, weights)
	require.Equal(t, []uint32{100, 0}, rig.f.State().RouteWeights("svc"))
	var steps []state.Decision
	analyses := 0
	for _, d := range r.Status.Decisions {
		switch {
		case d.Action == state.DecisionRollbackStep:
			steps = append(steps, d)
		case d.Action == state.DecisionAnalysis && d.Time.After(start.Time):
			analyses++
		}
	}
	require.Len(t, steps, 2)
	require.Contains(t, steps[0].Message, "step back 2 of 3: 34% -> 17% after 5s; last short-window burn 20.0 (rule fast, 10s) within 30.0")
	require.Contains(t, steps[1].Message, "rolled back: last step back (3 of 3): 17% -> 0%")
	require.Equal(t, start.Time.Add(5*time.Second), steps[0].Time, "the bake is measured from the step's own decision")
	require.Equal(t, start.Time.Add(10*time.Second), steps[1].Time)
	require.NotEmpty(t, steps[0].Verdict, "each step back carries its input")
	require.GreaterOrEqual(t, analyses, 6, "the canary is analysed during the rollback")
}

// TestGradualRollbackWorsens: a burn above the bar switches to instant,
// with the reading and the verdict recorded.
func TestGradualRollbackWorsens(t *testing.T) {
	rig, an := atStepTwo(t)
	rig.bakeFor(6)
	require.Equal(t, uint32(17), rig.rel("r").Status.Weight)
	an.set(analysis.PhaseFailed, 45)
	rig.bakeFor(1)
	r := rig.rel("r")
	require.Equal(t, state.PhaseRolledBack, r.Status.Phase)
	require.Equal(t, []uint32{100, 0}, rig.f.State().RouteWeights("svc"))
	require.Equal(t, &state.BurnReading{Rule: "fast", Window: config.Duration(10 * time.Second), Burn: 45}, r.Status.Rollback.Instant)
	last := r.Status.Decisions[len(r.Status.Decisions)-1]
	require.Equal(t, state.DecisionRollback, last.Action)
	require.Equal(t, "burn worsened during the gradual rollback: short-window burn 45.0 (rule fast, 10s) > 30.0 (worsenFactor 1.5 x reference 20.0); all traffic back to v1 at once from 17%", last.Message)
	require.NotEmpty(t, last.Verdict)
}

// TestRollBackChoosesSpeed: instant policies, cohort steps and a weight
// one step from 0 roll back at once; the bar falls back to the lowest
// threshold when the trigger had no higher burn.
func TestRollBackChoosesSpeed(t *testing.T) {
	v := burnVerdict(analysis.PhaseFailed, 20)
	r := testRelease(state.PhaseProgressing, 1)
	on := state.OnRelease(r, "failed")
	require.IsType(t, &state.Rollback{}, rollBack(r, on, state.Ending{}, &v), "instant policy")

	r.Status.PolicySpec.Rollback = &config.RollbackSpec{Mode: config.RollbackGradual, Steps: 2, Bake: config.Duration(time.Second), WorsenFactor: 2}
	g := rollBack(r, on, state.Ending{}, &v).(*state.GradualRollback)
	require.Equal(t, 40.0, g.Bar)
	g = rollBack(r, on, state.Ending{}, nil).(*state.GradualRollback)
	require.Nil(t, g.Trigger)
	require.Equal(t, 12.0, g.Bar, "no trigger: 2 x the lowest threshold (slow, 6)")

	r.Status.Weight = 1
	e := rollBack(r, on, state.Ending{}, &v).(*state.Rollback)
	require.Equal(t, "failed; at once: 1% is one step back", e.Message)

	r.Status.Phase = state.PhasePending
	require.IsType(t, &state.Rollback{}, rollBack(r, on, state.Ending{}, nil), "a pre-rollout webhook before any traffic")

	_, ok := ShortBurn(analysis.Verdict{Phase: analysis.PhaseError}, r.Status.PolicySpec)
	require.False(t, ok, "no burn measured")
}

// TestTrainMemberRollingBackGradually: a member that starts a gradual
// rollback fails its train at once; its peers are unwound (instantly)
// while it keeps stepping back on its own, and the train ends once it has.
func TestTrainMemberRollingBackGradually(t *testing.T) {
	w := newTrainWorld(t, "", "")
	b := *w.st.Releases["t-b"]
	b.Status.PolicySpec.Rollback = &config.RollbackSpec{Mode: config.RollbackGradual, Steps: 2, Bake: config.Duration(time.Second), WorsenFactor: 2}
	w.st.Releases["t-b"] = &b
	w.step()
	w.step()
	w.rel("a", state.CmdReleaseStart)
	w.rel("a", state.CmdReleasePromote)
	w.step()
	w.rel("b", state.CmdReleaseStart)
	w.rel("d", state.CmdReleaseStart)
	w.apply(&state.GradualRollback{On: state.OnRelease(w.st.Releases["t-b"], "failed"), Bar: 20})
	require.Equal(t, state.PhaseRollingBack, w.st.Releases["t-b"].Status.Phase)

	n := w.step()
	require.Equal(t, state.CmdTrainFail, n.Event.Type(), "a gradual rollback fails the train at once")
	require.Equal(t, "b", member(n))
	for w.step().Event != nil {
	}
	require.Equal(t, state.TrainRollingBack, w.train().Status.Phase, "waits for b, still stepping back")
	require.Equal(t, []string{"c", "d", "a"}, w.train().Status.RollbackOrder)
	require.Equal(t, state.PhaseRollingBack, w.st.Releases["t-b"].Status.Phase, "b is not cut short")

	w.apply(stepBack(w.st.Releases["t-b"]))
	require.Equal(t, state.PhaseRolledBack, w.st.Releases["t-b"].Status.Phase)
	require.Nil(t, w.st.Releases["t-b"].Status.Rollback.Instant)
	require.Equal(t, state.CmdTrainFinish, w.step().Event.Type())
	require.Equal(t, state.TrainRolledBack, w.train().Status.Phase)
}

// TestDecideRollingBackFromStateAlone: the decision reads only the
// replicated status and the clock, so a new leader steps back exactly
// when the old one would have (nextStepAt), and analyses in between.
func TestDecideRollingBackFromStateAlone(t *testing.T) {
	r := testRelease(state.PhaseRollingBack, 1)
	r.Status.PolicySpec.Rollback = &config.RollbackSpec{Mode: config.RollbackGradual, Steps: 3, Bake: config.Duration(20 * time.Second), WorsenFactor: 1.5}
	r.Status.Weight = 34
	r.Status.NextAnalysisAt = t0.Add(5 * time.Second)
	r.Status.Rollback = &state.RollbackStatus{Weights: []uint32{34, 17, 0}, From: 50, StartedAt: t0, NextStepAt: t0.Add(20 * time.Second), Bar: 30}
	require.Equal(t, Next{}, DecideRollingBack(r, t0.Add(time.Second)))
	require.Equal(t, Next{Analyze: true}, DecideRollingBack(r, t0.Add(19*time.Second)))
	n := DecideRollingBack(r, t0.Add(20*time.Second))
	step := n.Event.(*state.RollbackStep)
	require.Equal(t, state.ExpectOf(r), step.Expect, "guarded by the step's index")
	require.Equal(t, "step back 2 of 3: 34% -> 17% after 20s; no burn measured", step.Message)
	r.Status.Phase = state.PhaseProgressing
	require.Equal(t, Next{}, DecideRollingBack(r, t0.Add(time.Hour)))
}
