package controller

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/sluicehq/sluice/analysis/risk"
	"github.com/sluicehq/sluice/analysis/window"
	"github.com/sluicehq/sluice/calendar"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// StepAllowance is added to each bake when estimating how long a release
// takes (ACK, analyses): the expected duration on-call must cover.
const StepAllowance = 30 * time.Second

// policyOf returns the policy a release will run under: the named one, or
// the one covering its service.
func policyOf(st *state.State, rel *config.Release) (*config.ReleasePolicy, bool) {
	if rel.Spec.Policy != "" {
		p, ok := st.Policies[rel.Spec.Policy]
		return p, ok
	}
	return st.PolicyFor(rel.Spec.Service)
}

// Dependents returns the services touched by releasing service: itself,
// those the change descriptor names, and every service depending on any
// of them, transitively. Sorted.
func Dependents(st *state.State, service string, extra []string) []string {
	touched := map[string]bool{service: true}
	queue := append([]string{service}, extra...)
	for _, s := range extra {
		touched[s] = true
	}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, name := range st.ServiceNames() {
			if touched[name] {
				continue
			}
			for _, d := range st.Services[name].Spec.DependsOn {
				if d == cur {
					touched[name] = true
					queue = append(queue, name)
					break
				}
			}
		}
	}
	out := make([]string, 0, len(touched))
	for s := range touched {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// authorReleases counts the promoted releases Sluice has seen by an author.
func authorReleases(st *state.State, author string) int {
	n := 0
	for _, r := range st.Releases {
		if c := r.Spec.Spec.Change; c != nil && c.Author == author && r.Status.Phase == state.PhasePromoted {
			n++
		}
	}
	return n
}

// Assess scores a release about to be created and picks its plan. It is
// pure: the state and now are its only inputs. The leader runs it and the
// result travels in the Raft command, so every node records the same
// score, inputs and model version.
func Assess(st *state.State, rel *config.Release, now time.Time) *state.Assessment {
	pol, ok := policyOf(st, rel)
	if !ok {
		return nil // config.Check reports it
	}
	spec := config.PolicyDefaults(&pol.Spec)
	model := risk.InForce(st)
	cd := rel.Spec.Change
	var extra []string
	if cd != nil {
		extra = cd.ServicesTouched
	}
	touched := Dependents(st, rel.Spec.Service, extra)
	ctx := risk.Context{}
	n := len(touched)
	ctx.ServicesTouched = &n
	if cd != nil && cd.AuthorExperience == nil && cd.Author != "" {
		e := authorReleases(st, cd.Author)
		ctx.AuthorExperience = &e
	}
	loc := time.UTC
	if spec.Schedule != nil && spec.Schedule.Timezone != "" {
		if l, err := calendar.LoadLocation(spec.Schedule.Timezone); err == nil {
			loc = l
		}
	}
	planned := now.In(loc)
	ctx.PlannedStart = &planned

	// The plan first: the on-call check needs its duration.
	a := &state.Assessment{ModelVersion: model.Version, At: now, ServicesTouched: touched, PlanSource: "policy"}
	f := risk.NewFeatures(cd, ctx)
	score := model.Score(f)
	plan := spec.Steps
	if len(pol.Spec.Steps) == 0 && pol.Spec.BlueGreen() == nil {
		plan, a.ApprovalSteps = risk.PlanFor(score.Level, &spec)
		a.Plan, a.PlanSource = plan, "risk"
	} else if score.Level == risk.LevelHigh && (spec.RiskPlan == nil || spec.RiskPlan.ApproveHighRisk == nil || *spec.RiskPlan.ApproveHighRisk) && len(plan) > 1 {
		a.ApprovalSteps = []int{1}
	}
	if spec.Schedule != nil && spec.Schedule.OnCall != nil {
		if sched, err := window.Compile(spec.Schedule); err == nil {
			bakes := make([]time.Duration, len(plan))
			for i, s := range plan {
				bakes[i] = s.Bake.D()
			}
			v := sched.Check(now, window.ExpectedDuration(bakes, StepAllowance))
			covered := v.OK || v.Constraint != window.ConstraintOnCall
			ctx.OnCallCovered = &covered
			f = risk.NewFeatures(cd, ctx)
			score = model.Score(f)
		}
	}
	// The final level decides the plan (on-call may have changed it).
	if a.PlanSource == "risk" {
		a.Plan, a.ApprovalSteps = risk.PlanFor(score.Level, &spec)
	} else if score.Level != risk.LevelHigh {
		a.ApprovalSteps = nil
	} else if (spec.RiskPlan == nil || spec.RiskPlan.ApproveHighRisk == nil || *spec.RiskPlan.ApproveHighRisk) && len(plan) > 1 {
		a.ApprovalSteps = []int{1}
	}
	a.Probability, a.Level, a.Features = score.Probability, score.Level.Stored(), f.Stored()
	a.Reasons = score.Explain(5)
	a.Score, _ = json.Marshal(score)
	return a
}
