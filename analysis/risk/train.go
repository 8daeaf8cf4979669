package risk

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Errors of training and updating.
var (
	// ErrBadTrainingData: the samples cannot fit a model (no samples, a
	// single class, a feature with no values or a constant one).
	ErrBadTrainingData = errors.New("bad training data")
	// ErrNoConvergence: Newton's method did not meet the tolerance within
	// the iteration limit.
	ErrNoConvergence = errors.New("risk model fit did not converge")
	// ErrNotEnoughHistory: Update had too few outcomes (or too few
	// failures) to learn from; the prior model is returned unchanged.
	ErrNotEnoughHistory = errors.New("not enough release history to update the risk model")
)

// Sample is one labelled change: its features and whether it failed (a
// fix-inducing commit in public data; a rolled-back release in a cluster).
type Sample struct {
	Features Features
	Failed   bool
	// Group optionally names where the sample comes from (a project). See
	// Train; Update ignores it.
	Group string
}

// Defaults of TrainOptions.
const (
	DefaultLambda             = 1.0
	DefaultMaxIter            = 100
	DefaultTol                = 1e-10
	DefaultMinOutcomes        = 20
	DefaultMinFailures        = 3
	DefaultPriorPrecision     = 1.0
	DefaultInterceptPrecision = 0.01
	// DefaultLowShare and DefaultHighShare place the level cut-offs: on
	// the calibration data half the changes are low risk and the riskiest
	// 15% are high; the rest (35%) are medium.
	DefaultLowShare  = 0.50
	DefaultHighShare = 0.15
)

// TrainOptions control Train and Update. Zero values take the defaults.
type TrainOptions struct {
	// Terms are the features Train learns, each with its transform (Mean,
	// Std and Coef are ignored and fitted). Default: DefaultTerms().
	Terms []FeatureSpec
	// Priors are terms appended to a trained model as they are (for
	// release-time features no training data carries), e.g.
	// ReleaseTimePriors().
	Priors []FeatureSpec
	// Lambda is the L2 penalty on the scaled coefficients (the intercept
	// is not penalised). Default 1.
	Lambda float64
	// MaxIter bounds Newton's iterations; Tol is the largest change of any
	// coefficient at which the fit has converged.
	MaxIter int
	Tol     float64
	// Cutoffs, when set, are used as they are; otherwise Train places them
	// at the DefaultLowShare and 1-DefaultHighShare quantiles of the
	// training samples' scores.
	Cutoffs *Cutoffs
	// TrainedOn describes the data, for the model's record.
	TrainedOn string

	// MinOutcomes and MinFailures: Update learns only from at least this
	// many outcomes with at least this many failures. Defaults 20 and 3.
	MinOutcomes int
	MinFailures int
	// PriorPrecision is the precision (1/variance) of the Gaussian prior on
	// each scaled coefficient, centred on the prior model's; larger keeps
	// the update closer to the prior. Default 1.
	PriorPrecision float64
	// InterceptPrecision is the same for the intercept; small, because a
	// cluster's rollback rate need not match the prior's base rate.
	// Default 0.01.
	InterceptPrecision float64
}

func (o TrainOptions) withDefaults() TrainOptions {
	if o.Terms == nil {
		o.Terms = DefaultTerms()
	}
	if o.Lambda <= 0 {
		o.Lambda = DefaultLambda
	}
	if o.MaxIter <= 0 {
		o.MaxIter = DefaultMaxIter
	}
	if o.Tol <= 0 {
		o.Tol = DefaultTol
	}
	if o.MinOutcomes <= 0 {
		o.MinOutcomes = DefaultMinOutcomes
	}
	if o.MinFailures <= 0 {
		o.MinFailures = DefaultMinFailures
	}
	if o.PriorPrecision <= 0 {
		o.PriorPrecision = DefaultPriorPrecision
	}
	if o.InterceptPrecision <= 0 {
		o.InterceptPrecision = DefaultInterceptPrecision
	}
	return o
}

// Train fits an L2-regularised logistic regression by Newton's method
// (iteratively reweighted least squares). Each term's transformed values
// are standardised with the mean and standard deviation of the training
// samples that have the feature; a sample missing a feature is taken at
// that mean (scaled value 0), as Score does. There is no randomness and
// every sum runs in sample order, so the same samples and options give a
// bit-identical model.
//
// When the samples name more than one Group (pooled projects), each group
// gets its own intercept during the fit and the coefficients are shared,
// so a group that simply fails more often does not make a feature that is
// common in it look risky. The model's one intercept is then fitted over
// all samples with the coefficients held fixed.
func Train(samples []Sample, opts TrainOptions) (*Model, error) {
	opts = opts.withDefaults()
	if len(samples) == 0 {
		return nil, fmt.Errorf("%w: no samples", ErrBadTrainingData)
	}
	failures := countFailures(samples)
	if failures == 0 || failures == len(samples) {
		return nil, fmt.Errorf("%w: %d samples with %d failures: need both outcomes", ErrBadTrainingData, len(samples), failures)
	}
	terms := make([]FeatureSpec, len(opts.Terms))
	for i, t := range opts.Terms {
		if !isKnownFeature(t.Name) {
			return nil, fmt.Errorf("%w: terms[%d]: unknown feature %q", ErrInvalidModel, i, t.Name)
		}
		if t.Transform != TransformIdentity && t.Transform != TransformLog1p {
			return nil, fmt.Errorf("%w: terms[%d] (%s): unknown transform %q", ErrInvalidModel, i, t.Name, t.Transform)
		}
		mean, std, n := scaling(samples, t.Name, t.Transform)
		switch {
		case n == 0:
			return nil, fmt.Errorf("%w: feature %s has no valid value in any sample", ErrBadTrainingData, t.Name)
		case std == 0:
			return nil, fmt.Errorf("%w: feature %s is constant (%v) in the samples", ErrBadTrainingData, t.Name, mean)
		}
		terms[i] = FeatureSpec{Name: t.Name, Transform: t.Transform, Mean: mean, Std: std, Origin: OriginData, Note: t.Note}
	}
	x, y := design(samples, terms)
	g, groups := groupIndex(samples)
	p := len(terms)
	mean := make([]float64, groups+p)
	prec := make([]float64, groups+p)
	base := float64(failures) / float64(len(samples))
	for j := range groups {
		mean[j] = logit(base) // starting point only: intercepts are not penalised
	}
	for j := groups; j < groups+p; j++ {
		prec[j] = opts.Lambda
	}
	beta, err := fitMAP(x, y, g, mean, prec, opts.MaxIter, opts.Tol)
	if err != nil {
		return nil, err
	}
	m := &Model{Intercept: beta[0], TrainedOn: opts.TrainedOn, Samples: len(samples), Failures: failures}
	for j, t := range terms {
		t.Coef = beta[groups+j]
		m.Features = append(m.Features, t)
	}
	if groups > 1 {
		// One intercept for all groups, with the shared coefficients fixed.
		offset := make([]float64, len(x))
		for i, row := range x {
			offset[i] = dot(beta[groups:], row)
		}
		if m.Intercept, err = fitIntercept(offset, y, logit(base), opts.MaxIter, opts.Tol); err != nil {
			return nil, err
		}
	}
	for _, pr := range opts.Priors {
		if _, dup := m.Feature(pr.Name); dup {
			return nil, fmt.Errorf("%w: prior term %s is also a trained term", ErrInvalidModel, pr.Name)
		}
		m.Features = append(m.Features, pr)
	}
	if opts.Cutoffs != nil {
		m.Cutoffs = *opts.Cutoffs
	} else {
		m.Cutoffs = CalibrateCutoffs(m, samples, DefaultLowShare, DefaultHighShare)
	}
	m.Seal()
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("trained model: %w", err)
	}
	return m, nil
}

// Update learns from a cluster's own outcomes (a rolled-back release
// failed, a promoted one did not). It is a maximum a posteriori fit of the
// prior model's terms, with the prior's transforms and scaling kept and a
// Gaussian prior on each coefficient centred on the prior model's value.
// A term no outcome has a value for therefore keeps its coefficient; the
// others are marked OriginCluster. The level cut-offs move with the
// intercept, so a release keeps its level unless its own contributions
// changed.
//
// With fewer than MinOutcomes outcomes or fewer than MinFailures failures
// Update returns the prior unchanged together with an error wrapping
// ErrNotEnoughHistory that says why; any other error comes with a nil
// model.
func Update(prior *Model, samples []Sample, opts TrainOptions) (*Model, error) {
	opts = opts.withDefaults()
	if err := prior.Validate(); err != nil {
		return nil, fmt.Errorf("prior model: %w", err)
	}
	failures := countFailures(samples)
	if len(samples) < opts.MinOutcomes || failures < opts.MinFailures {
		return prior, fmt.Errorf("%w: %d outcomes with %d failures, need at least %d outcomes with at least %d failures; keeping model %s",
			ErrNotEnoughHistory, len(samples), failures, opts.MinOutcomes, opts.MinFailures, prior.Version)
	}
	if failures == len(samples) {
		return nil, fmt.Errorf("%w: all %d outcomes are failures", ErrBadTrainingData, len(samples))
	}
	x, y := design(samples, prior.Features)
	p := len(prior.Features)
	mean := make([]float64, p+1)
	prec := make([]float64, p+1)
	mean[0], prec[0] = prior.Intercept, opts.InterceptPrecision
	for j, t := range prior.Features {
		mean[j+1], prec[j+1] = t.Coef, opts.PriorPrecision
	}
	beta, err := fitMAP(x, y, nil, mean, prec, opts.MaxIter, opts.Tol)
	if err != nil {
		return nil, err
	}
	m := prior.Clone()
	m.Intercept = beta[0]
	for j := range m.Features {
		m.Features[j].Coef = beta[j+1]
		if observed(samples, m.Features[j].Name) {
			m.Features[j].Origin = OriginCluster
		}
	}
	shift := beta[0] - prior.Intercept
	m.Cutoffs = Cutoffs{
		Medium: Sigmoid(logit(prior.Cutoffs.Medium) + shift),
		High:   Sigmoid(logit(prior.Cutoffs.High) + shift),
	}
	m.Samples, m.Failures, m.Parent = len(samples), failures, prior.Version
	m.TrainedOn = opts.TrainedOn
	if m.TrainedOn == "" {
		m.TrainedOn = fmt.Sprintf("%s; updated with %d cluster outcomes (%d rolled back)", prior.TrainedOn, len(samples), failures)
	}
	m.Seal()
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("updated model: %w", err)
	}
	return m, nil
}

// CalibrateCutoffs places the level cut-offs so that, on the given
// samples, a share lowShare of scores is low and a share highShare is high
// (nearest-rank quantiles of the model's probabilities).
func CalibrateCutoffs(m *Model, samples []Sample, lowShare, highShare float64) Cutoffs {
	probs := make([]float64, len(samples))
	for i, s := range samples {
		probs[i] = m.Score(s.Features).Probability
	}
	slices.Sort(probs)
	// Keep the cut-offs inside (0, 1) even when scores saturate.
	clamp := func(p float64) float64 {
		return min(max(p, math.SmallestNonzeroFloat64), math.Nextafter(1, 0))
	}
	return Cutoffs{Medium: clamp(quantile(probs, lowShare)), High: clamp(quantile(probs, 1-highShare))}
}

// quantile is the nearest-rank quantile of sorted values: the smallest
// value with at least q of the values at or below it.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	k = max(0, min(k, len(sorted)-1))
	// The next value up, so that exactly the share at or below q is
	// classed lower (Level uses p >= cut-off).
	if k+1 < len(sorted) {
		return sorted[k+1]
	}
	return math.Nextafter(sorted[k], 1)
}

func logit(p float64) float64 { return math.Log(p / (1 - p)) }

// groupIndex numbers the samples' groups in order of first appearance. With
// a single group it returns nil and 1.
func groupIndex(samples []Sample) ([]int, int) {
	ids := map[string]int{}
	g := make([]int, len(samples))
	for i, s := range samples {
		id, ok := ids[s.Group]
		if !ok {
			id = len(ids)
			ids[s.Group] = id
		}
		g[i] = id
	}
	if len(ids) == 1 {
		return nil, 1
	}
	return g, len(ids)
}

// fitIntercept finds the intercept b maximising the log-likelihood of
// labels y under log-odds b + offset[i], by Newton's method.
func fitIntercept(offset, y []float64, start float64, maxIter int, tol float64) (float64, error) {
	b := start
	for range maxIter {
		var grad, hess float64
		for i, o := range offset {
			mu := Sigmoid(b + o)
			grad += y[i] - mu
			hess += mu * (1 - mu)
		}
		if hess <= 0 || !finite(hess) {
			break
		}
		step := grad / hess
		b += step
		if math.Abs(step) < tol {
			return b, nil
		}
	}
	return 0, fmt.Errorf("%w: intercept still moving after %d iterations", ErrNoConvergence, maxIter)
}

func countFailures(samples []Sample) int {
	n := 0
	for _, s := range samples {
		if s.Failed {
			n++
		}
	}
	return n
}

func observed(samples []Sample, name string) bool {
	for _, s := range samples {
		if v := s.Features.value(name); v.present && v.valid {
			return true
		}
	}
	return false
}

// scaling returns the mean and (population) standard deviation of a
// feature's transformed values over the samples that have it, and how
// many do.
func scaling(samples []Sample, name, transform string) (mean, std float64, n int) {
	var sum float64
	for _, s := range samples {
		if v := s.Features.value(name); v.present && v.valid {
			sum += applyTransform(transform, v.x)
			n++
		}
	}
	if n == 0 {
		return 0, 0, 0
	}
	mean = sum / float64(n)
	var ss float64
	for _, s := range samples {
		if v := s.Features.value(name); v.present && v.valid {
			d := applyTransform(transform, v.x) - mean
			ss += d * d
		}
	}
	return mean, math.Sqrt(ss / float64(n)), n
}

// design builds the scaled design matrix (row-major, one row per sample,
// one column per term; a missing value is 0) and the labels.
func design(samples []Sample, terms []FeatureSpec) (x [][]float64, y []float64) {
	x = make([][]float64, len(samples))
	y = make([]float64, len(samples))
	for i, s := range samples {
		row := make([]float64, len(terms))
		for j, t := range terms {
			if v := s.Features.value(t.Name); v.present && v.valid {
				row[j] = (applyTransform(t.Transform, v.x) - t.Mean) / t.Std
			}
		}
		x[i] = row
		if s.Failed {
			y[i] = 1
		}
	}
	return x, y
}
