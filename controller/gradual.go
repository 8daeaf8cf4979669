package controller

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// rollBack is the event that rolls r back: an instant Rollback, or, when
// the policy rolls back gradually and r is at a percentage step that
// leaves at least two steps back, a GradualRollback. on is the instant
// rollback's head (its message says why); v is the analysis that failed
// the release, nil when none did (a webhook).
// rolledBackAt says where a release was rolled back, in its strategy's
// words: a blue/green release is switched back, or never switched.
func rolledBackAt(r *state.Release) string {
	rs := &r.Status
	if rs.PolicySpec.BlueGreen() != nil {
		if rs.Step >= config.BlueGreenSwitchStep {
			return fmt.Sprintf("switched back to %s after the switch", rs.From)
		}
		return fmt.Sprintf("not switched: the preview failed, users stayed on %s", rs.From)
	}
	return fmt.Sprintf("rolled back at step %d (%d%%)", rs.Step+1, rs.Weight)
}

func rollBack(r *state.Release, on state.On, end state.Ending, v *analysis.Verdict) state.ReleaseEvent {
	rs := &r.Status
	spec := rs.PolicySpec.Rollback
	if !spec.Gradual() {
		return &state.Rollback{On: on, Ending: end}
	}
	if why := noGradual(r); why != "" {
		on.Message += "; at once: " + why
		return &state.Rollback{On: on, Ending: end}
	}
	plan := config.RollbackPlan(rs.Weight, *spec)
	var trigger *state.BurnReading
	if v != nil {
		if b, ok := ShortBurn(*v, rs.PolicySpec); ok {
			trigger = &b
		}
	}
	bar := WorseBar(rs.PolicySpec, trigger)
	on.Message = fmt.Sprintf("rolling back gradually from %d%%: %s, %s each (a short-window burn above %.1f switches to instant): %s",
		rs.Weight, config.RollbackPlanText(plan), spec.Bake.D(), bar, on.Message)
	return &state.GradualRollback{On: on, Ending: end, Trigger: trigger, Bar: bar}
}

// noGradual says why r, whose policy rolls back gradually, rolls back at
// once ("" when it does not).
func noGradual(r *state.Release) string {
	rs := &r.Status
	switch {
	case rs.Phase != state.PhaseProgressing:
		return fmt.Sprintf("a gradual rollback starts only from %s, not %s", state.PhaseProgressing, rs.Phase)
	case rs.Step < 0:
		return "no traffic moved yet"
	}
	if st, ok := r.Stage(rs.Step); ok {
		return fmt.Sprintf("step %d is cohort stage %q; only percentage steps roll back gradually", rs.Step+1, st.Name)
	}
	if len(config.RollbackPlan(rs.Weight, *rs.PolicySpec.Rollback)) < 2 {
		return fmt.Sprintf("%d%% is one step back", rs.Weight)
	}
	return ""
}

// ShortBurn is the canary's highest short-window burn rate among the
// policy's burn rules in verdict v; false when v measured none.
func ShortBurn(v analysis.Verdict, spec config.ReleasePolicySpec) (state.BurnReading, bool) {
	short := map[string]config.Duration{}
	for _, br := range spec.Analysis.BurnRules {
		short[br.Name] = br.ShortWindow
	}
	var best state.BurnReading
	found := false
	for _, c := range v.Checks {
		w, ok := short[c.Name]
		if c.Kind != analysis.CheckBurnRule || !ok {
			continue
		}
		for _, o := range c.Observations {
			if o.Observed != analysis.ObservedBurnRate || o.Role != analysis.RoleCanary || o.Window != w ||
				o.Outcome != analysis.OutcomeValue || o.Value == nil {
				continue
			}
			if !found || *o.Value > best.Burn {
				best, found = state.BurnReading{Rule: c.Name, Window: w, Burn: *o.Value}, true
			}
		}
	}
	return best, found
}

// WorseBar is the one rule for "the burn worsened" during a gradual
// rollback: the canary's short-window burn rises above the policy's
// worsenFactor times the reference, which is the burn that started the
// rollback (trigger), or the lowest burn-rule threshold when that is
// higher or there was none (a rollback started by latency, the baseline
// comparison, a limit or a webhook).
func WorseBar(spec config.ReleasePolicySpec, trigger *state.BurnReading) float64 {
	ref := 0.0
	for i, br := range spec.Analysis.BurnRules {
		if i == 0 || br.BurnRate < ref {
			ref = br.BurnRate
		}
	}
	if trigger != nil && trigger.Burn > ref {
		ref = trigger.Burn
	}
	return spec.Rollback.WorsenFactor * ref
}

// DecideRollingBack is the pure decision for a release in a gradual
// rollback: the next step back once its bake is over (it never waits for
// an analysis: the rollback moves toward stable whatever is observed),
// otherwise an analysis when one is due.
func DecideRollingBack(r *state.Release, now time.Time) Next {
	rs := &r.Status
	rb := rs.Rollback
	if rs.Phase != state.PhaseRollingBack || rb == nil {
		return Next{}
	}
	if !now.Before(rb.NextStepAt) && rb.Step+1 < len(rb.Weights) {
		return Next{Event: stepBack(r)}
	}
	if !now.Before(rs.NextAnalysisAt) {
		return Next{Analyze: true}
	}
	return Next{}
}

// stepBack is the event of r's next step back, with the latest analysis
// (which did not worsen) as its input.
func stepBack(r *state.Release) state.ReleaseEvent {
	rs := &r.Status
	rb := rs.Rollback
	next := rb.Weights[rb.Step+1]
	e := &state.RollbackStep{Verdict: rs.LastVerdict}
	reading := "no burn measured"
	var v analysis.Verdict
	if json.Unmarshal(rs.LastVerdict, &v) == nil {
		if b, ok := ShortBurn(v, rs.PolicySpec); ok {
			e.Reading = &b
			reading = fmt.Sprintf("last short-window burn %.1f (rule %s, %s) within %.1f", b.Burn, b.Rule, b.Window.D(), rb.Bar)
		}
	}
	what := fmt.Sprintf("step back %d of %d: %d%% -> %d%%", rb.Step+2, len(rb.Weights), rs.Weight, next)
	if next == 0 {
		what = fmt.Sprintf("rolled back: last step back (%d of %d): %d%% -> 0%%", rb.Step+2, len(rb.Weights), rs.Weight)
	}
	e.On = state.OnRelease(r, fmt.Sprintf("%s after %s; %s", what, rs.PolicySpec.Rollback.Bake.D(), reading))
	return e
}

// AfterRollbackAnalysis is the decision after an analysis of a release in
// a gradual rollback: an instant rollback when the burn worsened
// (WorseBar), otherwise the analysis is recorded and the rollback goes on.
func AfterRollbackAnalysis(r *state.Release, v analysis.Verdict) state.ReleaseEvent {
	rs := &r.Status
	raw, err := json.Marshal(v)
	if err != nil {
		return errorEvent(r, fmt.Sprintf("the analysis verdict cannot be recorded (%v)", err))
	}
	rb := rs.Rollback
	b, ok := ShortBurn(v, rs.PolicySpec)
	if ok && b.Burn > rb.Bar {
		f := rs.PolicySpec.Rollback.WorsenFactor
		msg := fmt.Sprintf("burn worsened during the gradual rollback: short-window burn %.1f (rule %s, %s) > %.1f (worsenFactor %.2g x reference %.1f); all traffic back to %s at once from %d%%",
			b.Burn, b.Rule, b.Window.D(), rb.Bar, f, rb.Bar/f, rs.From, rs.Weight)
		return &state.RollbackNow{On: state.OnAnalysis(r, msg), Ending: state.Ending{Verdict: raw}, Reading: b}
	}
	msg := fmt.Sprintf("rolling back at %d%%: %s; burn not worse than %.1f", rs.Weight, v.Reason, rb.Bar)
	if ok {
		msg = fmt.Sprintf("rolling back at %d%%: short-window burn %.1f (rule %s) not above %.1f", rs.Weight, b.Burn, b.Rule, rb.Bar)
	}
	return &state.RecordAnalysis{On: state.OnAnalysis(r, msg), Verdict: raw}
}
