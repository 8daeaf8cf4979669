package risk

import (
	"fmt"
	"math"
	"slices"
)

// CVFolds is the number of rolling-origin folds SelectWithin validates
// on: the date-ordered training changes are cut into CVFolds+1 equal
// blocks, and fold k fits on blocks 0..k-1 and validates on block k.
const CVFolds = 4

// cvLambdas are the L2 penalties SelectWithin chooses among.
func cvLambdas() []float64 { return []float64{1, 10, 100, 1000} }

// WithinChoice is what SelectWithin chose: the terms, the L2 penalty and
// the mean validation AUC over the folds that made the choice.
type WithinChoice struct {
	Terms  []FeatureSpec
	Lambda float64
	CVAUC  float64
}

// SelectWithin chooses the terms (the given ones, or them with any one
// learned term left out) and the L2 penalty (one of 1, 10, 100, 1000) by
// time-ordered rolling-origin cross-validation over the training changes
// alone, which must be in date order: the candidate with the highest mean
// validation AUC over the folds wins; ties keep the fuller set, then the
// earlier one, then the smaller penalty. A fold on which the given terms
// cannot be fitted (a feature constant in its fitting part) or validated
// (one outcome only in its block) is left out for every candidate; with no
// usable fold the given terms and DefaultLambda are returned, with CVAUC
// NaN. The test data never enter the choice.
func SelectWithin(train []Change, terms []FeatureSpec) (WithinChoice, error) {
	n := len(train)
	blocks := CVFolds + 1
	cut := func(b int) int { return n * b / blocks }
	type fold struct {
		fit []Sample
		val []Change
	}
	var folds []fold
	for f := 1; f <= CVFolds; f++ {
		fd := fold{samplesOf(train[:cut(f)], ""), train[cut(f):cut(f+1)]}
		m, err := Train(fd.fit, TrainOptions{Terms: terms})
		if err != nil {
			continue
		}
		if _, err := ModelAUC(m, fd.val); err != nil {
			continue
		}
		folds = append(folds, fd)
	}
	if len(folds) == 0 {
		return WithinChoice{Terms: terms, Lambda: DefaultLambda, CVAUC: math.NaN()}, nil
	}
	candidates := [][]FeatureSpec{terms}
	for i := range terms {
		if len(terms) > 1 {
			candidates = append(candidates, slices.Delete(slices.Clone(terms), i, i+1))
		}
	}
	best := WithinChoice{Terms: terms, Lambda: DefaultLambda, CVAUC: math.Inf(-1)}
	for _, c := range candidates {
		for _, lambda := range cvLambdas() {
			var sum float64
			ok := true
			for f, fd := range folds {
				m, err := Train(fd.fit, TrainOptions{Terms: c, Lambda: lambda})
				if err != nil {
					ok = false // a set that cannot fit every usable fold is no candidate
					break
				}
				auc, err := ModelAUC(m, fd.val)
				if err != nil {
					return WithinChoice{}, fmt.Errorf("fold %d validation block: %w", f+1, err)
				}
				sum += auc
			}
			if !ok {
				continue
			}
			if mean := sum / float64(len(folds)); mean > best.CVAUC {
				best = WithinChoice{Terms: c, Lambda: lambda, CVAUC: mean}
			}
		}
	}
	return best, nil
}
