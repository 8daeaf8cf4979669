package analysis

import (
	"fmt"

	"github.com/sluicehq/sluice/config"
)

// Action is what a release should do after an analysis.
type Action string

// Actions.
const (
	// ActionAdvance: the analysis allows the release to go on. The caller
	// moves to the next step once the step's bake is over; until then it
	// keeps baking.
	ActionAdvance Action = "advance"
	// ActionHold: stay at the current weight and analyse again.
	ActionHold Action = "hold"
	// ActionRollBack: send all traffic back to the stable version.
	ActionRollBack Action = "rollback"
)

// Counters count the analyses of a release step. Inconclusive and Errors
// count the analyses of that phase since the last Successful one (a
// Successful analysis resets both; neither resets the other, so a mix of
// missing data and failed queries cannot hold a release forever).
// Failures counts every Failed analysis.
//
// This is the one Counters type: the replicated release status stores it
// as it is, so its JSON is part of the Raft log format (raft/DESIGN.md).
type Counters struct {
	Successes    int `json:"successes"`
	Failures     int `json:"failures"`
	Inconclusive int `json:"inconclusive"`
	Errors       int `json:"errors"`
}

// Decide says what to do after verdict v, given the counters so far, and
// returns the updated counters and a one-line reason. It is pure.
//
//   - Successful: advance (and reset the Inconclusive and Errors counts).
//     It is the only phase that advances: missing data never does.
//   - Failed: roll back once failureLimit Failed analyses are reached,
//     else hold.
//   - Inconclusive, Error: hold, and roll back once inconclusiveLimit or
//     errorLimit analyses of that phase have happened since the last
//     Successful one. A phase Decide does not know counts as Error.
//
// spec must hold its defaults (config.PolicyDefaults), as a release's
// stored spec does: they are applied once, when the release starts.
func Decide(prev Counters, v Verdict, spec config.ReleasePolicySpec) (Counters, Action, string) {
	a := spec.Analysis
	c := prev
	switch v.Phase {
	case PhaseSuccessful:
		c.Successes++
		c.Inconclusive, c.Errors = 0, 0
		return c, ActionAdvance, "analysis successful: " + v.Reason
	case PhaseFailed:
		c.Failures++
		if c.Failures >= a.FailureLimit {
			return c, ActionRollBack, fmt.Sprintf("analysis failed %s (failure limit %d): %s", times(c.Failures), a.FailureLimit, v.Reason)
		}
		return c, ActionHold, fmt.Sprintf("analysis failed %s, rolls back after %d: %s", times(c.Failures), a.FailureLimit, v.Reason)
	case PhaseInconclusive:
		c.Inconclusive++
		if c.Inconclusive >= a.InconclusiveLimit {
			return c, ActionRollBack, fmt.Sprintf("analysis inconclusive %s since the last successful one (inconclusive limit %d): %s",
				times(c.Inconclusive), a.InconclusiveLimit, v.Reason)
		}
		return c, ActionHold, fmt.Sprintf("analysis inconclusive %s, rolls back after %d: %s", times(c.Inconclusive), a.InconclusiveLimit, v.Reason)
	}
	c.Errors++
	reason := v.Reason
	if v.Phase != PhaseError {
		reason = fmt.Sprintf("unknown analysis phase %q: %s", v.Phase, v.Reason)
	}
	if c.Errors >= a.ErrorLimit {
		return c, ActionRollBack, fmt.Sprintf("analysis errored %s since the last successful one (error limit %d): %s",
			times(c.Errors), a.ErrorLimit, reason)
	}
	return c, ActionHold, fmt.Sprintf("analysis errored %s, rolls back after %d: %s", times(c.Errors), a.ErrorLimit, reason)
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}
