package canarysim

import (
	"cmp"
	"math"
	"slices"
)

// flaggerJudge is a Flagger-style analysis: each analysis checks the
// canary's request success rate over the last minute against a fixed
// minimum, and the release rolls back after FlaggerThreshold failed
// checks. The minimum is Flagger's usual 99% success, lowered by the
// stable version's error ratio so that a healthy canary is not below it
// on average. It has no notion of sample size or of the stable version.
type flaggerJudge struct{ failedChecks int }

// FlaggerThreshold is how many failed checks roll back.
const FlaggerThreshold = 5

func (f *flaggerJudge) failed(canary *series, t int, baseline float64) bool {
	n, e := canary.over(t, 60)
	if n == 0 {
		return false
	}
	if e/n > 0.01+baseline {
		f.failedChecks++
	}
	return f.failedChecks >= FlaggerThreshold
}

// kayentaJudge is a Kayenta-style analysis: each analysis compares the
// canary's and the stable version's error ratios in the six 10-second
// intervals of the last minute with a one-sided Mann-Whitney U test, and
// fails (rolling back, as a single-metric canary score of 0 does) when
// the canary is higher at 98% confidence.
type kayentaJudge struct{}

// KayentaAlpha is the Mann-Whitney test's level.
const KayentaAlpha = 0.02

func (kayentaJudge) failed(canary, stable *series, t int) bool {
	var c, s []float64
	for b := range 6 {
		end := t - 10*b
		if end <= 0 {
			break
		}
		if n, e := canary.over(end, 10); n > 0 {
			c = append(c, e/n)
		}
		if n, e := stable.over(end, 10); n > 0 {
			s = append(s, e/n)
		}
	}
	if len(c) < 3 || len(s) < 3 {
		return false
	}
	return mannWhitneyGreater(c, s) < KayentaAlpha
}

// mannWhitneyGreater is the one-sided p-value that a is stochastically
// greater than b, by the normal approximation with a tie correction.
func mannWhitneyGreater(a, b []float64) float64 {
	type obs struct {
		v   float64
		inA bool
	}
	all := make([]obs, 0, len(a)+len(b))
	for _, v := range a {
		all = append(all, obs{v, true})
	}
	for _, v := range b {
		all = append(all, obs{v, false})
	}
	slices.SortFunc(all, func(x, y obs) int { return cmp.Compare(x.v, y.v) })
	n1, n2 := float64(len(a)), float64(len(b))
	n := n1 + n2
	rankSum, ties := 0.0, 0.0
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		rank := float64(i+j+1) / 2 // ranks i+1..j, averaged
		for k := i; k < j; k++ {
			if all[k].inA {
				rankSum += rank
			}
		}
		tc := float64(j - i)
		ties += tc*tc*tc - tc
		i = j
	}
	u := rankSum - n1*(n1+1)/2
	mean := n1 * n2 / 2
	variance := n1 * n2 / 12 * ((n + 1) - ties/(n*(n-1)))
	if variance <= 0 {
		return 1
	}
	z := (u - mean) / math.Sqrt(variance)
	return 0.5 * math.Erfc(z/math.Sqrt2)
}
