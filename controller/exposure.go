package controller

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// ExposureEstimator estimates what entering plan step `step` would expose.
type ExposureEstimator interface {
	Estimate(ctx context.Context, r *state.Release, step int, now time.Time) state.Exposure
}

// Traffic is request rates by label value (tenant or region), or nil when
// unknown; Err says why it is unknown.
type Traffic struct {
	ByValue map[string]float64
	Err     string
}

func (t Traffic) total() float64 {
	sum := 0.0
	for _, v := range t.ByValue {
		sum += v
	}
	return sum
}

// fraction is the share of traffic carried by the given values.
func (t Traffic) fraction(values []string) (float64, bool) {
	total := t.total()
	if t.ByValue == nil || total <= 0 {
		return 0, false
	}
	sum := 0.0
	for _, v := range values {
		sum += t.ByValue[v]
	}
	return sum / total, true
}

// EstimateExposure is pure: what plan step `step` exposes, from the plan
// and the traffic by tenant and by region. A plain percentage step exposes
// exactly its weight, every tenant and every region. A cohort stage
// exposes its regions' share of traffic times (its tenants' share plus
// its percent of the rest); tenants and regions are taken as independent.
// When a share cannot be measured the stage's expectedShare is used, and
// failing that the share is unknown (-1). A mirror step exposes no user.
func EstimateExposure(r *state.Release, step int, tenants, regions Traffic) state.Exposure {
	if share := r.MirrorShare(step); share > 0 {
		return mirrorExposure(step, share)
	}
	e := state.Exposure{Step: step, Tenants: -1, Regions: -1}
	stage, ok := r.Stage(step)
	if !ok {
		e.Share, e.Source = float64(r.Status.Plan[step].Weight), state.ExposurePlan
		e.Detail = fmt.Sprintf("%d%% of all traffic", r.Status.Plan[step].Weight)
		return e
	}
	percent := float64(stage.EffectivePercent()) / 100
	if len(stage.Regions) > 0 {
		e.Regions = len(stage.Regions)
	}
	if len(stage.Tenants) > 0 && percent == 0 {
		e.Tenants = len(stage.Tenants)
	}
	var why []string
	regionFrac, measured := 1.0, true
	if len(stage.Regions) > 0 {
		f, ok := regions.fraction(stage.Regions)
		if !ok {
			measured = false
			why = append(why, "no traffic by region"+errSuffix(regions.Err))
		}
		regionFrac = f
	}
	selected := 0.0
	if len(stage.Tenants) > 0 {
		f, ok := tenants.fraction(stage.Tenants)
		if !ok {
			measured = false
			why = append(why, "no traffic by tenant"+errSuffix(tenants.Err))
		}
		selected = f
	}
	if len(stage.Headers) > 0 {
		measured = false
		why = append(why, "header cohorts cannot be measured")
	}
	switch {
	case measured:
		e.Share = round2(100 * regionFrac * (selected + (1-selected)*percent))
		e.Source = state.ExposurePrometheus
		e.Detail = fmt.Sprintf("regions %.1f%% of traffic, tenants %.1f%%, then %d%% of the rest", 100*regionFrac, 100*selected, stage.EffectivePercent())
		if len(stage.Regions) == 0 && len(stage.Tenants) == 0 {
			e.Source = state.ExposurePlan
		}
	case stage.ExpectedShare != nil:
		e.Share, e.Source = *stage.ExpectedShare, state.ExposureDeclared
		e.Detail = "declared by the stage (" + strings.Join(why, "; ") + ")"
	default:
		e.Share, e.Source = -1, state.ExposureUnknown
		e.Detail = strings.Join(why, "; ") + "; set expectedShare on the stage or export traffic by tenant/region"
	}
	return e
}

func errSuffix(err string) string {
	if err == "" {
		return ""
	}
	return " (" + err + ")"
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// CheckBudget is pure: the limits of the exposure budget an estimate
// exceeds. An unknown share exceeds a traffic limit (fail closed).
func CheckBudget(b *config.ExposureSpec, e *state.Exposure) []string {
	if b == nil || e == nil {
		return nil
	}
	var over []string
	if b.MaxTrafficShare > 0 {
		switch {
		case e.Share < 0:
			over = append(over, fmt.Sprintf("traffic share unknown (budget %g%%): %s", b.MaxTrafficShare, e.Detail))
		case e.Share > b.MaxTrafficShare:
			over = append(over, fmt.Sprintf("~%g%% of traffic > budget %g%%", e.Share, b.MaxTrafficShare))
		}
	}
	if b.MaxTenants > 0 && (e.Tenants < 0 || e.Tenants > b.MaxTenants) {
		over = append(over, fmt.Sprintf("%s tenants > budget %d", countOrAll(e.Tenants), b.MaxTenants))
	}
	if b.MaxRegions > 0 && (e.Regions < 0 || e.Regions > b.MaxRegions) {
		over = append(over, fmt.Sprintf("%s regions > budget %d", countOrAll(e.Regions), b.MaxRegions))
	}
	return over
}

func countOrAll(n int) string {
	if n < 0 {
		return "all"
	}
	return fmt.Sprint(n)
}

// gateStep is pure: the hold that keeps a release from entering the step
// e estimates, until a person approves it, when the step exceeds the
// exposure budget or the release's risk asks for an approval; nil when it
// may enter. It fills in the limits e exceeds.
func gateStep(r *state.Release, e *state.Exposure) *state.Hold {
	e.Over = CheckBudget(r.Status.PolicySpec.Exposure, e)
	if r.Approved(e.Step) {
		return nil
	}
	switch {
	case len(e.Over) > 0:
		label := fmt.Sprintf("step %d", e.Step+1)
		if c := r.Status.Plan[e.Step].Cohort; c != "" {
			label += " (cohort " + c + ")"
		}
		return &state.Hold{Kind: state.HoldExposureBudget, Message: fmt.Sprintf("exposure budget: %s would exceed it: %s; a person must approve: sluice release approve %s",
			label, strings.Join(e.Over, "; "), r.Name())}
	case r.NeedsApproval(e.Step):
		a := r.Status.Assessment
		return &state.Hold{Kind: state.HoldRisk, Message: fmt.Sprintf("risk: %s-risk release (p=%.2f, model %s); a person must approve step %d before it starts: sluice release approve %s",
			a.Level, a.Probability, a.ModelVersion, e.Step+1, r.Name())}
	}
	return nil
}

// TrafficEstimator implements ExposureEstimator with Prometheus traffic
// by tenant and region (the policy's exposure.trafficQuery).
type TrafficEstimator struct {
	Prom *Prometheus
}

// Estimate implements ExposureEstimator.
func (t *TrafficEstimator) Estimate(ctx context.Context, r *state.Release, step int, now time.Time) state.Exposure {
	stage, ok := r.Stage(step)
	if !ok || (len(stage.Tenants) == 0 && len(stage.Regions) == 0) {
		return EstimateExposure(r, step, Traffic{}, Traffic{})
	}
	exp := exposureSettings(r.Status.PolicySpec.Exposure)
	fetch := func(label string) Traffic {
		q, err := t.Prom.For(&r.Status.PolicySpec)
		if err != nil {
			return Traffic{Err: err.Error()}
		}
		query := strings.NewReplacer(config.PlaceholderService, r.Service(), config.PlaceholderLabel, label,
			config.PlaceholderWindow, analysis.PromDuration(exp.Window.D())).Replace(exp.TrafficQuery)
		v, err := q.Query(ctx, query, now)
		if err != nil {
			return Traffic{Err: err.Error()}
		}
		vec, ok := v.(model.Vector)
		if !ok || len(vec) == 0 {
			return Traffic{Err: "query returned no series: " + query}
		}
		out := map[string]float64{}
		for _, s := range vec {
			f := float64(s.Value)
			if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
				continue
			}
			out[string(s.Metric[model.LabelName(label)])] += f
		}
		return Traffic{ByValue: out}
	}
	var tenants, regions Traffic
	if len(stage.Tenants) > 0 {
		tenants = fetch(exp.TenantLabel)
	}
	if len(stage.Regions) > 0 {
		regions = fetch(exp.RegionLabel)
	}
	return EstimateExposure(r, step, tenants, regions)
}

// exposureSettings is a release's exposure settings: the stored policy's
// (its defaults were filled in when the release was created), or the
// defaults of an empty exposure block when the policy has none.
func exposureSettings(e *config.ExposureSpec) config.ExposureSpec {
	if e != nil {
		return *e
	}
	return *config.PolicyDefaults(&config.ReleasePolicySpec{Exposure: &config.ExposureSpec{}}).Exposure
}
