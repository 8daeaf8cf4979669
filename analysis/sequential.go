package analysis

import (
	"math"
	"time"
)

// The statistics behind the canary-versus-stable comparison and the
// sample-size rule of the burn rules: a one-sided mixture sequential
// probability ratio test (mSPRT) on counts, after Lindon, Sanden and
// Shirikian, "Rapid Regression Detection in Software Deployments through
// Sequential Testing" (KDD 2022).
//
// Canary and stable errors are Poisson processes with rates per request
// λc and λs. Given that N errors happened in a window where the canary
// served nc requests and stable ns, each error is the canary's with
// probability ρ = λc·nc / (λc·nc + λs·ns), independently; "the canary is
// no worse than θ times stable" is ρ ≤ ρ0 = θ·nc / (θ·nc + ns). The
// evidence against it after x canary errors of n is the likelihood ratio
// of ρ against ρ0, averaged over a uniform prior on [ρ0, 1]:
//
//	E = ∫_{ρ0}^{1} ρ^x (1-ρ)^(n-x) dρ / (1-ρ0)  /  (ρ0^x (1-ρ0)^(n-x))
//
// Under the null E is a non-negative supermartingale in the errors as
// they arrive, so by Ville's inequality the probability that it EVER
// reaches 1/α is at most α: the comparison may look after every error,
// every analysis, as often as it likes, and a canary that is no worse
// than θ times stable is failed with probability at most α over the whole
// window. That holds for counts accumulated since a fixed start (see
// Subject.Since), not for a sliding window.
//
// A burn rule looks at sliding windows, where no test can be anytime
// valid; its sample-size rule is the plain binomial tail instead: how
// likely x or more errors in n requests would be at the error ratio the
// rule allows (burnRate × budget). A rule fires only when that is below
// α, so one error in a handful of requests is no verdict.

// logEvidence returns log E for x successes of n trials against p0, as
// above. It is 0 (no evidence) when there are no trials, and +Inf when
// p0 is 0 and x > 0.
func logEvidence(x, n, p0 float64) float64 {
	switch {
	case n <= 0 || x < 0 || x > n:
		return 0
	case p0 <= 0:
		if x > 0 {
			return math.Inf(1)
		}
		return 0
	case p0 >= 1:
		return 0
	}
	a, b := x+1, n-x+1
	upper := 1 - regIncBeta(p0, a, b) // share of Beta(a, b) above p0
	if upper <= 0 {
		return math.Inf(-1)
	}
	return logBeta(a, b) + math.Log(upper) - math.Log1p(-p0) - (x*math.Log(p0) + (n-x)*math.Log1p(-p0))
}

// binomialTail is P(X >= x) for X ~ Binomial(n, p), with x rounded to a
// whole count: I_p(x, n-x+1).
func binomialTail(x, n, p float64) float64 {
	x = math.Round(x)
	switch {
	case x <= 0:
		return 1
	case x > n || p <= 0:
		return 0
	case p >= 1:
		return 1
	}
	return regIncBeta(p, x, n-x+1)
}

// nullShare is ρ0: the share of all errors the canary may have when its
// error rate is ratio times stable's, with nc and ns requests.
func nullShare(ratio, nc, ns float64) float64 {
	if nc <= 0 {
		return 0
	}
	return ratio * nc / (ratio*nc + ns)
}

// alphaFor converts a one-sided z threshold (baseline.zScore) to the
// level α = 1 - Φ(z) of the sequential test: zScore 3 is α 0.135%.
func alphaFor(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }

// MaxSinceWindow caps the window of a comparison that counts since
// Subject.Since: a step that bakes for days is compared over its last
// day.
const MaxSinceWindow = 24 * time.Hour

// comparisonWindow is the window canary and stable are compared over:
// since sub.Since (rounded up to a second, at most MaxSinceWindow) when it
// is set and before now, else the policy's baseline window.
func comparisonWindow(fixed time.Duration, sub Subject, now time.Time) time.Duration {
	if sub.Since.IsZero() || !sub.Since.Before(now) {
		return fixed
	}
	w := now.Sub(sub.Since)
	if r := w % time.Second; r != 0 {
		w += time.Second - r
	}
	return min(w, MaxSinceWindow)
}

// logBeta is log B(a, b).
func logBeta(a, b float64) float64 {
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	return la + lb - lab
}

// regIncBeta is the regularized incomplete beta function I_x(a, b), by
// its continued fraction (modified Lentz), for a, b > 0.
func regIncBeta(x, a, b float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	front := math.Exp(a*math.Log(x) + b*math.Log1p(-x) - logBeta(a, b))
	if x > (a+1)/(a+b+2) {
		return 1 - math.Exp(b*math.Log1p(-x)+a*math.Log(x)-logBeta(a, b))*betaFraction(1-x, b, a)/b
	}
	return front * betaFraction(x, a, b) / a
}

// betaFraction evaluates the continued fraction of I_x(a, b).
func betaFraction(x, a, b float64) float64 {
	const (
		maxIter = 10000
		eps     = 1e-15
		tiny    = 1e-300
	)
	c, d := 1.0, 1-(a+b)*x/(a+1)
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= maxIter; m++ {
		fm := float64(m)
		num := fm * (b - fm) * x / ((a + 2*fm - 1) * (a + 2*fm))
		d, c = 1+num*d, 1+num/c
		d, c = clampTiny(d, tiny), clampTiny(c, tiny)
		d = 1 / d
		h *= d * c
		num = -(a + fm) * (a + b + fm) * x / ((a + 2*fm) * (a + 2*fm + 1))
		d, c = 1+num*d, 1+num/c
		d, c = clampTiny(d, tiny), clampTiny(c, tiny)
		d = 1 / d
		delta := d * c
		h *= delta
		if math.Abs(delta-1) < eps {
			break
		}
	}
	return h
}

func clampTiny(v, tiny float64) float64 {
	if math.Abs(v) < tiny {
		return tiny
	}
	return v
}
