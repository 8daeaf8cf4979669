package state

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

// gradualDocs is baseDocs with a gradual rollback: 3 steps of 20s, at
// most 20 points each.
var gradualDocs = strings.Replace(baseDocs, "  analysis: {interval: 5s}\n",
	"  analysis: {interval: 5s}\n  rollback: {mode: gradual, steps: 3, bake: 20s, maxStepPercent: 20}\n", 1)

// atFifty starts r1 under gradualDocs and advances it to its 50% step.
func atFifty(t *testing.T) *machine {
	m := newMachine(t, gradualDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	require.NoError(t, m.do(&StartRelease{On: m.on("start")}, t0, "controller"))
	require.NoError(t, m.do(&AdvanceStep{On: m.on("advance")}, t0.Add(time.Minute), "controller"))
	require.Equal(t, uint32(50), m.rel().Status.Weight)
	return m
}

// TestGradualRollbackSteps: from 50% in 3 steps of at most 20 points the
// rollback goes 34, 17, 0, each step a decision with its own index; the
// routes follow; the last step ends the release RolledBack with traffic on
// stable.
func TestGradualRollbackSteps(t *testing.T) {
	m := atFifty(t)
	at := t0.Add(2 * time.Minute)
	trig := &BurnReading{Rule: "fast", Window: config.Duration(10 * time.Second), Burn: 20}
	require.NoError(t, m.do(&GradualRollback{On: m.on("rolling back"), Trigger: trig, Bar: 30}, at, "controller"))
	r := m.rel()
	require.Equal(t, PhaseRollingBack, r.Status.Phase)
	rb := r.Status.Rollback
	require.Equal(t, []uint32{34, 17, 0}, rb.Weights)
	require.Equal(t, uint32(50), rb.From)
	require.Equal(t, at.Add(20*time.Second), rb.NextStepAt, "an absolute deadline, from the command's time")
	require.Equal(t, 30.0, rb.Bar)
	require.Equal(t, trig, rb.Trigger)
	require.Equal(t, []uint32{66, 34, 0}, m.st.RouteWeights("greeter"))
	require.Equal(t, m.index, r.Status.StepIndex)
	require.Equal(t, "greeter", r.Service())
	require.Equal(t, "r1", m.st.Active["greeter"], "still the service's active release")

	stale := m.on("stale step")
	require.NoError(t, m.do(&RollbackStep{On: m.on("step 2")}, at.Add(20*time.Second), "controller"))
	require.Equal(t, []uint32{83, 17, 0}, m.st.RouteWeights("greeter"))
	require.Equal(t, at.Add(40*time.Second), m.rel().Status.Rollback.NextStepAt)
	require.Equal(t, 34, int(rb.Weights[0]), "the earlier status is not changed in place")
	require.Zero(t, rb.Step)

	before := m.st
	require.ErrorIs(t, m.do(&RollbackStep{On: stale}, at.Add(21*time.Second), "old-leader"), ErrConflict, "a stale leader's step is refused")
	require.Same(t, before, m.st)
	require.ErrorIs(t, m.do(&Pause{On: m.on("pause")}, at, "alice"), ErrBadTransition, "a rollback is not paused")
	require.ErrorIs(t, m.do(&Promote{On: m.on("promote")}, at, "alice"), ErrBadTransition)

	require.NoError(t, m.do(&RecordAnalysis{On: OnAnalysis(m.rel(), "analysed")}, at.Add(25*time.Second), "controller"))
	require.Equal(t, at.Add(30*time.Second), m.rel().Status.NextAnalysisAt, "analyses go on while rolling back")

	require.NoError(t, m.do(&RollbackStep{On: m.on("last step")}, at.Add(40*time.Second), "controller"))
	r = m.rel()
	require.Equal(t, PhaseRolledBack, r.Status.Phase)
	require.Equal(t, uint32(0), r.Status.Weight)
	require.Equal(t, "last step", r.Status.Reason)
	require.Empty(t, m.st.Active)
	require.Equal(t, []uint32{100, 0, 0}, m.st.RouteWeights("greeter"))
	var kinds []DecisionKind
	for _, d := range r.Status.Decisions {
		kinds = append(kinds, d.Action)
	}
	require.Equal(t, []DecisionKind{DecisionCreate, DecisionStart, DecisionAdvance, DecisionRollbackGradual,
		DecisionRollbackStep, DecisionAnalysis, DecisionRollbackStep}, kinds)
	require.Equal(t, uint32(17), r.Status.Decisions[4].Weight, "each step back records the weight it set")
	require.Equal(t, PhaseRolledBack, r.Status.Decisions[6].Phase)
}

// TestGradualRollbackNow: a worsening burn ends the rollback at once and
// keeps the reading that did it; a person's rollback does the same.
func TestGradualRollbackNow(t *testing.T) {
	for _, person := range []bool{false, true} {
		m := atFifty(t)
		require.NoError(t, m.do(&GradualRollback{On: m.on("rolling back"), Bar: 15}, t0.Add(2*time.Minute), "controller"))
		at := t0.Add(2*time.Minute + 5*time.Second)
		if person {
			require.NoError(t, m.do(&Rollback{On: m.on("now, please")}, at, "alice"))
		} else {
			reading := BurnReading{Rule: "fast", Window: config.Duration(10 * time.Second), Burn: 90}
			require.NoError(t, m.do(&RollbackNow{On: OnAnalysis(m.rel(), "worse"), Reading: reading}, at, "controller"))
			require.Equal(t, &reading, m.rel().Status.Rollback.Instant)
		}
		r := m.rel()
		require.Equal(t, PhaseRolledBack, r.Status.Phase)
		require.Equal(t, []uint32{100, 0, 0}, m.st.RouteWeights("greeter"))
		require.Equal(t, DecisionRollback, r.Status.Decisions[len(r.Status.Decisions)-1].Action)
	}
}

// TestGradualRollbackRefused: an instant policy, a cohort step or a weight
// with no two steps back cannot start a gradual rollback.
func TestGradualRollbackRefused(t *testing.T) {
	m := newMachine(t, baseDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	require.NoError(t, m.do(&StartRelease{On: m.on("start")}, t0, "controller"))
	require.ErrorIs(t, m.do(&GradualRollback{On: m.on("x")}, t0, "controller"), ErrBadTransition, "instant policy")

	one := strings.Replace(gradualDocs, "{weight: 10, bake: 30s}", "{weight: 1, bake: 30s}", 1)
	m = newMachine(t, one)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	require.NoError(t, m.do(&StartRelease{On: m.on("start")}, t0, "controller"))
	require.ErrorIs(t, m.do(&GradualRollback{On: m.on("x")}, t0, "controller"), ErrBadTransition, "1% is one step back")
	require.Equal(t, PhaseProgressing, m.rel().Status.Phase)
}
