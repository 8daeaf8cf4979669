package controller

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/state"
)

// The bake counts only time with usable analysis data. Each analysis
// whose verdict rests on data (Successful or Failed) covers the time since
// the bake was last counted (ReleaseStatus.BakedTo: the ACK, the previous
// analysis, a resume), up to one and a half analysis intervals; an
// Inconclusive or Error verdict (Prometheus down, a query error, no
// samples) covers nothing. So after an outage the step bakes again for as
// long as it had left, instead of advancing on the first analysis that
// sees data. The count is replicated (RecordAnalysis.Baked), so a new
// leader continues it.

// coverFactor bounds what one analysis covers, in analysis intervals:
// room for an analysis that runs a little late, but not for an outage.
const coverFactor = 1.5

// BakedWith is the step's bake counted with verdict v observed at now.
func BakedWith(rs *state.ReleaseStatus, v analysis.Verdict, now time.Time) time.Duration {
	baked := rs.Baked.D()
	if !hasData(v) {
		return baked
	}
	from := rs.BakedTo
	if from.IsZero() {
		from = rs.AckedAt
	}
	d := now.Sub(from)
	if limit := time.Duration(coverFactor * float64(rs.AnalysisInterval())); d > limit {
		d = limit
	}
	if d < 0 {
		d = 0
	}
	return baked + d
}

// hasData reports whether a verdict rests on observed data.
func hasData(v analysis.Verdict) bool {
	return v.Phase == analysis.PhaseSuccessful || v.Phase == analysis.PhaseFailed
}

// bakeNote says how much of the bake was covered with data.
func bakeNote(baked, bake time.Duration) string {
	return fmt.Sprintf("baked %s of %s with data", baked.Round(100*time.Millisecond), bake)
}
