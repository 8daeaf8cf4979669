package risk

import (
	"time"

	"github.com/sluicehq/sluice/config"
)

// Default bakes of derived plans, per level.
const (
	DefaultLowBake    = time.Minute
	DefaultMediumBake = 2 * time.Minute
	DefaultHighBake   = 5 * time.Minute
)

// PlanFor maps a risk level to a step plan: few large steps for a low
// risk, more and smaller steps with longer bakes for a high one, which
// also starts with the policy's first cohort stage (when it has cohorts)
// and needs a person's approval before it leaves its first step.
//
//	low:    20%, 60%                       bake 1m
//	medium: 5%, 25%, 50%                   bake 2m
//	high:   [first cohort or 1%], 5%, 10%, 25%, 50%   bake 5m, approval before step 2
//
// The policy's riskPlan bounds the result: every bake at least minBake,
// and no step raising the share by more than maxStep points (extra steps
// are inserted). It returns the plan and the steps needing approval.
func PlanFor(level Level, spec *config.ReleasePolicySpec) ([]config.StepSpec, []int) {
	rp := spec.RiskPlan
	if rp == nil {
		rp = &config.RiskPlanSpec{}
	}
	bake := func(def time.Duration, over config.Duration) config.Duration {
		if over > 0 {
			return over
		}
		return config.Duration(def)
	}
	var lb config.LevelDurations
	if rp.Bakes != nil {
		lb = *rp.Bakes
	}
	var weights []uint32
	var d config.Duration
	firstCohort := ""
	switch level {
	case LevelLow:
		weights, d = []uint32{20, 60}, bake(DefaultLowBake, lb.Low)
	case LevelHigh:
		weights, d = []uint32{1, 5, 10, 25, 50}, bake(DefaultHighBake, lb.High)
		if spec.Cohorts != nil && len(spec.Cohorts.Stages) > 0 {
			firstCohort = spec.Cohorts.Stages[0].Name
		}
	default:
		weights, d = []uint32{5, 25, 50}, bake(DefaultMediumBake, lb.Medium)
	}
	if rp.MinBake > d {
		d = rp.MinBake
	}
	var plan []config.StepSpec
	if firstCohort != "" {
		plan = append(plan, config.StepSpec{Cohort: firstCohort, Bake: d})
		weights = weights[1:]
	}
	prev := uint32(0)
	for _, w := range weights {
		if rp.MaxStep > 0 {
			for w-prev > rp.MaxStep {
				prev += rp.MaxStep
				plan = append(plan, config.StepSpec{Weight: prev, Bake: d})
			}
		}
		plan = append(plan, config.StepSpec{Weight: w, Bake: d})
		prev = w
	}
	// Promotion takes the share from the last step to 100: it is a step
	// too, so maxStep bounds it.
	for rp.MaxStep > 0 && config.TotalWeight-prev > rp.MaxStep {
		prev += rp.MaxStep
		plan = append(plan, config.StepSpec{Weight: prev, Bake: d})
	}
	var approvals []int
	if level == LevelHigh && (rp.ApproveHighRisk == nil || *rp.ApproveHighRisk) && len(plan) > 1 {
		approvals = []int{1}
	}
	return plan, approvals
}
