// Package canarysim runs synthetic releases through the real analysis
// code — analysis.Measure against a Querier that answers from simulated
// counters, analysis.Judge and analysis.Decide with the shipped defaults —
// and, on the same simulated series, a Flagger-style fixed threshold and
// a Kayenta-style Mann-Whitney judge. docs/analysis.md shows the table
// `go run ./analysis/canarysim/cmd/canarysim` prints.
package canarysim

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
)

// Scenario is one kind of release: the canary's requests per second, the
// stable version's error ratio, and the canary's as a multiple of it.
type Scenario struct {
	CanaryRPS float64
	Baseline  float64
	Multiple  float64
}

// Method names.
const (
	MethodSluice  = "sluice"
	MethodFlagger = "flagger-threshold"
	MethodKayenta = "kayenta-mann-whitney"
)

// Outcome is how one simulated release ended for one method.
type Outcome struct {
	RolledBack bool
	// At is the time from the release's start to the rollback.
	At time.Duration
	// Inconclusive: the rollback came from the inconclusive limit.
	Inconclusive bool
}

// series holds per-second cumulative counts of one version.
type series struct{ total, errors []float64 }

func (s *series) add(n, e float64) {
	last := len(s.total) - 1
	s.total = append(s.total, s.total[last]+n)
	s.errors = append(s.errors, s.errors[last]+e)
}

// over returns requests and errors in the last w seconds up to second t.
func (s *series) over(t, w int) (float64, float64) {
	from := max(t-w, 0)
	return s.total[t] - s.total[from], s.errors[t] - s.errors[from]
}

// Policy is the shipped defaults with an SLO whose budget is the stable
// version's error ratio (at least 0.1%): a healthy canary spends its
// budget exactly, as stable does.
func Policy(baseline float64) config.ReleasePolicySpec {
	objective := 100 * (1 - math.Max(baseline, 0.001))
	spec := config.ReleasePolicySpec{SLO: &config.SLOSpec{Objective: objective,
		GoodQuery:  `good{version="{{version}}",window="{{window}}"}`,
		TotalQuery: `total{version="{{version}}",window="{{window}}"}`}}
	return config.PolicyDefaults(&spec)
}

// querier answers the policy's queries from the simulated counters.
type querier struct {
	canary, stable *series
	now            int // seconds since the release started
}

var queryRE = regexp.MustCompile(`^(good|total)\{version="(v[12])",window="([^"]+)"\}$`)

func (q *querier) Query(_ context.Context, query string, _ time.Time) (model.Value, error) {
	m := queryRE.FindStringSubmatch(query)
	if m == nil {
		return nil, fmt.Errorf("unexpected query %q", query)
	}
	w, err := model.ParseDuration(m[3])
	if err != nil {
		return nil, err
	}
	s := q.canary
	if m[2] == "v1" {
		s = q.stable
	}
	n, e := s.over(q.now, int(time.Duration(w)/time.Second))
	v := n
	if m[1] == "good" {
		v = n - e
	}
	return model.Vector{&model.Sample{Value: model.SampleValue(v)}}, nil
}

// Run simulates one release of sc and returns how each method ended it.
// The release follows the policy's steps (1, 5, 25, 50, 100% with 1 m
// bakes); at each step the canary serves CanaryRPS and stable the rest of
// the split, analyses run every analysis interval, and a step advances
// once its bake is over and an analysis is Successful.
func Run(sc Scenario, rng *rand.Rand) map[string]Outcome {
	spec := Policy(sc.Baseline)
	canary, stable := &series{total: []float64{0}, errors: []float64{0}}, &series{total: []float64{0}, errors: []float64{0}}
	q := &querier{canary: canary, stable: stable}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	interval := int(spec.Analysis.Interval.D() / time.Second)
	out := map[string]Outcome{}
	flagger, kayenta := &flaggerJudge{}, &kayentaJudge{}
	t := 0
	for _, step := range spec.Steps {
		w := float64(step.Weight) / 100
		stableRPS := 0.0
		if w < 1 {
			stableRPS = sc.CanaryRPS * (1 - w) / w
		}
		stepStart, bake := t, int(step.Bake.D()/time.Second)
		var counters analysis.Counters
		for done := false; !done; {
			for range interval {
				t++
				n := poisson(rng, sc.CanaryRPS)
				canary.add(n, binomial(rng, n, math.Min(1, sc.Baseline*sc.Multiple)))
				ns := poisson(rng, stableRPS)
				stable.add(ns, binomial(rng, ns, sc.Baseline))
			}
			q.now = t
			at := time.Duration(t) * time.Second
			sub := analysis.Subject{Service: "s", Canary: "v2", Stable: "v1", Since: start.Add(time.Duration(stepStart) * time.Second)}
			if w >= 1 {
				sub.Stable = ""
			}
			action := analysis.ActionAdvance
			if _, decided := out[MethodSluice]; !decided {
				m := analysis.Measure(context.Background(), q, spec, sub, start.Add(at))
				v := analysis.Judge(m, spec)
				counters, action, _ = analysis.Decide(counters, v, spec)
				if action == analysis.ActionRollBack {
					out[MethodSluice] = Outcome{RolledBack: true, At: at, Inconclusive: v.Phase == analysis.PhaseInconclusive}
				}
			}
			if _, ok := out[MethodFlagger]; !ok && flagger.failed(canary, t, sc.Baseline) {
				out[MethodFlagger] = Outcome{RolledBack: true, At: at}
			}
			if _, ok := out[MethodKayenta]; !ok && w < 1 && kayenta.failed(canary, stable, t) {
				out[MethodKayenta] = Outcome{RolledBack: true, At: at}
			}
			// Every method sees the same series, through the same steps:
			// a step ends when its bake is over and Sluice advances (once
			// Sluice has rolled back, the others go on with the plan).
			if len(out) == 3 {
				return out
			}
			done = t-stepStart >= bake && action == analysis.ActionAdvance
		}
	}
	return fill(out)
}

func fill(out map[string]Outcome) map[string]Outcome {
	for _, m := range []string{MethodSluice, MethodFlagger, MethodKayenta} {
		if _, ok := out[m]; !ok {
			out[m] = Outcome{}
		}
	}
	return out
}

// poisson draws a Poisson count: exactly for small means, by the normal
// approximation above 50.
func poisson(rng *rand.Rand, mean float64) float64 {
	if mean <= 0 {
		return 0
	}
	if mean > 50 {
		return math.Max(0, math.Round(mean+math.Sqrt(mean)*rng.NormFloat64()))
	}
	l, k, p := math.Exp(-mean), 0.0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// binomial draws Binomial(n, p): by waiting times when few successes are
// expected, by the normal approximation otherwise.
func binomial(rng *rand.Rand, n, p float64) float64 {
	switch {
	case n <= 0 || p <= 0:
		return 0
	case p >= 1:
		return n
	case n*p > 50 && n*(1-p) > 50:
		return math.Min(n, math.Max(0, math.Round(n*p+math.Sqrt(n*p*(1-p))*rng.NormFloat64())))
	}
	// Successes are where geometric gaps land inside n trials.
	k, i := 0.0, 0.0
	lq := math.Log1p(-p)
	for {
		i += math.Floor(math.Log(1-rng.Float64())/lq) + 1
		if i > n {
			return k
		}
		k++
	}
}
