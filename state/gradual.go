package state

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/sluicehq/sluice/config"
)

// PhaseRollingBack: a gradual rollback steps the new version's traffic
// back to the stable version (ReleaseStatus.Rollback); it ends RolledBack.
const PhaseRollingBack Phase = "RollingBack"

// Gradual rollback event types (gradual.go).
const (
	CmdReleaseRollbackGradual Type = "release.rollback-gradual"
	CmdReleaseRollbackStep    Type = "release.rollback-step"
	CmdReleaseRollbackNow     Type = "release.rollback-now"
)

// Decision kinds of a gradual rollback. Switching to instant records
// DecisionRollback.
const (
	// DecisionRollbackGradual: a failed release started stepping back.
	DecisionRollbackGradual DecisionKind = "rollback-gradual"
	// DecisionRollbackStep: one step back of a gradual rollback.
	DecisionRollbackStep DecisionKind = "rollback-step"
)

// BurnReading is one burn rate of the canary an analysis measured: the
// highest short-window burn among the policy's burn rules.
type BurnReading struct {
	Rule   string          `json:"rule"`
	Window config.Duration `json:"window"`
	Burn   float64         `json:"burn"`
}

// RollbackStatus is the progress of a gradual rollback. Its times are
// absolute, taken from commands, so a new leader resumes exactly.
type RollbackStatus struct {
	// Weights are the new version's weight at each step back
	// (config.RollbackPlan), the last one 0; Step indexes the one in force.
	Weights []uint32 `json:"weights"`
	Step    int      `json:"step"`
	// From is the weight the rollback started at.
	From      uint32    `json:"from"`
	StartedAt time.Time `json:"startedAt"`
	// NextStepAt is when the next step back is due: the step's entry
	// plus the policy's rollback bake. Steps back never wait for an
	// analysis or an ACK: the rollback moves toward the stable version
	// whatever is observed.
	NextStepAt time.Time `json:"nextStepAt"`
	// Trigger is the canary's burn in the analysis that started the
	// rollback, when it measured one.
	Trigger *BurnReading `json:"trigger,omitempty"`
	// Bar is the short-window burn above which the rollback switches to
	// instant (the policy's worsenFactor times the reference).
	Bar float64 `json:"bar"`
	// Instant is the burn that switched the rollback to instant, when one
	// did.
	Instant *BurnReading `json:"instant,omitempty"`
}

// copyRollback gives rs its own copy of the rollback status to change.
func copyRollback(rs *ReleaseStatus) *RollbackStatus {
	rb := *rs.Rollback
	rb.Weights = slices.Clone(rb.Weights)
	rs.Rollback = &rb
	return &rb
}

// GradualRollback starts stepping a failed release's traffic back, per
// its policy's rollback (config.RollbackPlan from the weight now). It
// carries the verdict that failed the release.
type GradualRollback struct {
	On
	Ending
	Trigger *BurnReading `json:"trigger,omitempty"`
	Bar     float64      `json:"bar"`
}

func (*GradualRollback) Type() Type { return CmdReleaseRollbackGradual }

func (e *GradualRollback) check(r *Release) (bool, error) {
	rs := &r.Status
	if !rs.PolicySpec.Rollback.Gradual() {
		return false, fmt.Errorf("%w: Release %q's policy rolls back instantly", ErrBadTransition, r.Name())
	}
	if _, ok := r.Stage(rs.Step); ok {
		return false, fmt.Errorf("%w: Release %q is at cohort step %d: only percentage steps roll back gradually", ErrBadTransition, r.Name(), rs.Step+1)
	}
	if len(config.RollbackPlan(rs.Weight, *rs.PolicySpec.Rollback)) < 2 {
		return false, fmt.Errorf("%w: Release %q at %d%% has no gradual rollback of two steps or more", ErrBadTransition, r.Name(), rs.Weight)
	}
	return false, nil
}

func (e *GradualRollback) change(rt *releaseTx) {
	e.note(rt)
	rs := rt.status()
	spec := *rs.PolicySpec.Rollback
	plan := config.RollbackPlan(rs.Weight, spec)
	rs.Rollback = &RollbackStatus{Weights: plan, From: rs.Weight, StartedAt: rt.time,
		NextStepAt: rt.time.Add(spec.Bake.D()), Trigger: e.Trigger, Bar: e.Bar}
	rs.Phase, rs.Weight, rs.StepIndex, rs.Hold = PhaseRollingBack, plan[0], rt.index, nil
	rs.NextAnalysisAt = rt.time.Add(rs.AnalysisInterval())
}

// RollbackStep moves a gradual rollback one step back; the last step
// (weight 0) ends the release RolledBack. Reading is the canary's burn
// in the latest analysis, which did not worsen.
type RollbackStep struct {
	On
	Verdict json.RawMessage `json:"verdict,omitempty"`
	Reading *BurnReading    `json:"reading,omitempty"`
}

func (*RollbackStep) Type() Type { return CmdReleaseRollbackStep }

func (e *RollbackStep) check(r *Release) (bool, error) {
	rb := r.Status.Rollback
	if rb == nil || rb.Step+1 >= len(rb.Weights) {
		return false, fmt.Errorf("%w: Release %q has no step back left", ErrBadTransition, r.Name())
	}
	return false, nil
}

func (e *RollbackStep) change(rt *releaseTx) {
	rs := rt.status()
	rb := copyRollback(rs)
	rb.Step++
	rs.Weight, rs.StepIndex = rb.Weights[rb.Step], rt.index
	rb.NextStepAt = rt.time.Add(rs.PolicySpec.Rollback.Bake.D())
	rt.verdict = e.Verdict
	if rs.Weight == 0 {
		finish(rt.tx, rt.r, PhaseRolledBack, rs.From, 0, e.Message)
	}
}

// RollbackNow switches a gradual rollback to instant because the
// canary's burn worsened: Reading rose above the rollback's Bar.
type RollbackNow struct {
	On
	Ending
	Reading BurnReading `json:"reading"`
}

func (*RollbackNow) Type() Type { return CmdReleaseRollbackNow }

func (e *RollbackNow) change(rt *releaseTx) {
	e.note(rt)
	rs := rt.status()
	if rs.Rollback != nil {
		reading := e.Reading
		copyRollback(rs).Instant = &reading
	}
	finish(rt.tx, rt.r, PhaseRolledBack, rs.From, 0, e.Message)
}
