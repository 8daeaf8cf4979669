package risk

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

func TestPlanFor(t *testing.T) {
	d := func(x time.Duration) config.Duration { return config.Duration(x) }
	spec := &config.ReleasePolicySpec{}

	plan, approvals := PlanFor(LevelLow, spec)
	require.Equal(t, []config.StepSpec{{Weight: 20, Bake: d(time.Minute)}, {Weight: 60, Bake: d(time.Minute)}}, plan)
	require.Empty(t, approvals)

	plan, _ = PlanFor(LevelMedium, spec)
	require.Equal(t, []config.StepSpec{{Weight: 5, Bake: d(2 * time.Minute)}, {Weight: 25, Bake: d(2 * time.Minute)}, {Weight: 50, Bake: d(2 * time.Minute)}}, plan)

	// High: small steps, long bakes, approval before leaving step 1; the
	// first step is the first cohort stage when the policy has one.
	plan, approvals = PlanFor(LevelHigh, spec)
	require.Len(t, plan, 5)
	require.Equal(t, uint32(1), plan[0].Weight)
	require.Equal(t, d(5*time.Minute), plan[0].Bake)
	require.Equal(t, []int{1}, approvals)
	withCohorts := &config.ReleasePolicySpec{Cohorts: &config.CohortSpec{Stages: []config.CohortStage{{Name: "internal", Tenants: []string{"internal"}}}}}
	plan, _ = PlanFor(LevelHigh, withCohorts)
	require.Equal(t, "internal", plan[0].Cohort)
	require.Equal(t, uint32(5), plan[1].Weight)

	// Bounds: minBake raises bakes; maxStep splits large increases,
	// promotion included (60 -> 100 becomes 60, 85, then 100).
	no := false
	bounded := &config.ReleasePolicySpec{RiskPlan: &config.RiskPlanSpec{MinBake: d(90 * time.Second), MaxStep: 25, ApproveHighRisk: &no}}
	plan, _ = PlanFor(LevelLow, bounded)
	var ws []uint32
	for _, s := range plan {
		ws = append(ws, s.Weight)
		require.Equal(t, d(90*time.Second), s.Bake)
	}
	require.Equal(t, []uint32{20, 45, 60, 85}, ws)
	_, approvals = PlanFor(LevelHigh, bounded)
	require.Empty(t, approvals, "approveHighRisk: false")

	// Per-level bakes override the defaults.
	fast := &config.ReleasePolicySpec{RiskPlan: &config.RiskPlanSpec{Bakes: &config.LevelDurations{High: d(3 * time.Second)}}}
	plan, _ = PlanFor(LevelHigh, fast)
	require.Equal(t, d(3*time.Second), plan[0].Bake)
}
