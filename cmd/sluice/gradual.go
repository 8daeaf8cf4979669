package main

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// rollbackLine describes a gradual rollback for `release status`: the
// plan with the step in force, and what comes next or how it ended.
func rollbackLine(rs *state.ReleaseStatus, rb *state.RollbackStatus, now time.Time) string {
	plan := fmt.Sprintf("gradual from %d%%: %s (step %d of %d)", rb.From, config.RollbackPlanText(rb.Weights), rb.Step+1, len(rb.Weights))
	switch {
	case rb.Instant != nil:
		return fmt.Sprintf("%s; switched to instant: short-window burn %.1f (rule %s) > %.1f", plan, rb.Instant.Burn, rb.Instant.Rule, rb.Bar)
	case rs.Phase == state.PhaseRollingBack:
		return fmt.Sprintf("%s; next step back in %s; instant if the short-window burn exceeds %.1f",
			plan, max(rb.NextStepAt.Sub(now), 0).Round(time.Second), rb.Bar)
	}
	return plan
}
