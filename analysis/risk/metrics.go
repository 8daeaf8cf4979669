package risk

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Bootstrap defaults: the number of resamples and the seed of the paired
// bootstrap. The seed is fixed so that an evaluation is reproducible.
const (
	DefaultResamples = 2000
	DefaultSeed      = 20210711
)

// Interval is a two-sided percentile interval (2.5% and 97.5%) of a
// bootstrapped statistic, with the statistic on the full sample.
type Interval struct {
	Estimate, Low, High float64
}

// Significant says whether the whole interval lies above zero.
func (iv Interval) Significant() bool { return iv.Low > 0 }

// PairedAUCDiff is the paired bootstrap of AUC(a) - AUC(b) on the same
// labelled rows: each resample draws len(positive) rows with replacement
// (a PCG stream seeded with seed), both AUCs are computed on that resample,
// and the interval is the 2.5% and 97.5% nearest-rank percentiles of the
// differences. A resample without both classes is drawn again. The result
// is a function of the inputs, resamples and seed.
func PairedAUCDiff(a, b []float64, positive []bool, resamples int, seed uint64) (Interval, error) {
	if len(a) != len(positive) || len(b) != len(positive) {
		return Interval{}, fmt.Errorf("%w: %d and %d scores for %d labels", ErrAUCUndefined, len(a), len(b), len(positive))
	}
	full := make([]float64, len(positive))
	for i := range full {
		full[i] = 1
	}
	ra, rb := newRanked(a, positive), newRanked(b, positive)
	est := ra.auc(full) - rb.auc(full)
	if math.IsNaN(est) {
		return Interval{}, fmt.Errorf("%w: need both outcomes and no NaN score", ErrAUCUndefined)
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	w := make([]float64, len(positive))
	diffs := make([]float64, 0, resamples)
	for len(diffs) < resamples {
		clear(w)
		for range len(w) {
			w[rng.IntN(len(w))]++
		}
		d := ra.auc(w) - rb.auc(w)
		if !math.IsNaN(d) {
			diffs = append(diffs, d)
		}
	}
	slices.Sort(diffs)
	return Interval{Estimate: est, Low: rankQuantile(diffs, 0.025), High: rankQuantile(diffs, 0.975)}, nil
}

// rankQuantile is the nearest-rank q-quantile of sorted values.
func rankQuantile(sorted []float64, q float64) float64 {
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}

// ranked holds labelled scores sorted once, so that the AUC of any
// weighting of the rows (a bootstrap resample) takes one pass.
type ranked struct {
	order    []int
	tieStart []bool // order[i] starts a new group of tied scores
	positive []bool
}

func newRanked(scores []float64, positive []bool) ranked {
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int { return cmp.Compare(scores[x], scores[y]) })
	start := make([]bool, len(order))
	for i := range order {
		start[i] = i == 0 || scores[order[i]] != scores[order[i-1]] || math.IsNaN(scores[order[i]])
	}
	return ranked{order: order, tieStart: start, positive: positive}
}

// auc is the weighted Mann-Whitney AUC: ties between a positive and a
// negative count one half; NaN without both classes.
func (r ranked) auc(w []float64) float64 {
	var negBelow, pos, neg, u, pg, ng float64
	flush := func() {
		u += pg*negBelow + 0.5*pg*ng
		negBelow += ng
		pos += pg
		neg += ng
		pg, ng = 0, 0
	}
	for i, k := range r.order {
		if r.tieStart[i] {
			flush()
		}
		if r.positive[k] {
			pg += w[k]
		} else {
			ng += w[k]
		}
	}
	flush()
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return u / (pos * neg)
}

// Brier is the mean squared difference between predicted probabilities and
// outcomes (1 for positive): lower is better calibrated.
func Brier(probs []float64, positive []bool) float64 {
	var s float64
	for i, p := range probs {
		y := 0.0
		if positive[i] {
			y = 1
		}
		s += (p - y) * (p - y)
	}
	return s / float64(len(probs))
}

// EffortAware are the effort-aware figures of a ranking of changes, effort
// being churn (lines added plus deleted, at least 1 per change).
type EffortAware struct {
	// RecallAt20 is the share of defective changes found by inspecting
	// changes in ranked order until 20% of the total churn is spent.
	RecallAt20 float64
	// Popt is 1 - (area(optimal) - area(model)) / (area(optimal) -
	// area(worst)) under the curves of defects found against churn
	// inspected (Kamei et al., TSE 2013): 1 is the optimal order, 0 the
	// worst.
	Popt float64
}

// Effort computes the effort-aware figures of a ranking: changes are
// inspected in decreasing order of risk density (probability per line of
// churn, as in the JIT literature's effort-aware models), ties by smaller
// churn, then input order. churn[i] below 1 counts as 1.
func Effort(probs []float64, churn []float64, positive []bool) EffortAware {
	n := len(probs)
	eff := make([]float64, n)
	for i, c := range churn {
		eff[i] = max(c, 1)
	}
	byDensity := func(key func(i int) float64) []int {
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			if c := cmp.Compare(key(b), key(a)); c != 0 {
				return c
			}
			return cmp.Compare(eff[a], eff[b])
		})
		return order
	}
	label := func(i int) float64 {
		if positive[i] {
			return 1
		}
		return 0
	}
	model := byDensity(func(i int) float64 { return probs[i] / eff[i] })
	optimal := byDensity(func(i int) float64 { return label(i) / eff[i] })
	worst := slices.Clone(optimal)
	slices.Reverse(worst)
	am, recall := effortCurve(model, eff, positive)
	ao, _ := effortCurve(optimal, eff, positive)
	aw, _ := effortCurve(worst, eff, positive)
	popt := math.NaN()
	if ao != aw {
		popt = 1 - (ao-am)/(ao-aw)
	}
	return EffortAware{RecallAt20: recall, Popt: popt}
}

// effortCurve walks changes in order and returns the area under the curve
// of the share of defects found against the share of churn spent
// (trapezoids), and the share of defects found within 20% of the churn.
func effortCurve(order []int, eff []float64, positive []bool) (area, recallAt20 float64) {
	var total, defects float64
	for _, i := range order {
		total += eff[i]
		if positive[i] {
			defects++
		}
	}
	if total == 0 || defects == 0 {
		return math.NaN(), math.NaN()
	}
	var x, y, found float64
	for _, i := range order {
		nx := x + eff[i]/total
		ny := y
		if positive[i] {
			ny += 1 / defects
		}
		area += (nx - x) * (y + ny) / 2
		if nx <= 0.2+1e-12 && positive[i] {
			found++
		}
		x, y = nx, ny
	}
	return area, found / defects
}
