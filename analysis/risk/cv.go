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

// CVLambdas are the L2 penalties SelectWithin chooses among.
var cvLambdas = [...]float64{1, 10, 100, 1000}

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
// validation AUC over CVFolds folds wins; ties keep the fuller set, then
// the earlier one, then the smaller penalty. The test data never enter the
// choice.
func SelectWithin(train []Change, terms []FeatureSpec) (WithinChoice, error) {
	n := len(train)
	blocks := CVFolds + 1
	if n < 2*blocks {
		return WithinChoice{}, fmt.Errorf("%w: %d training changes, need at least %d for %d folds", ErrBadTrainingData, n, 2*blocks, CVFolds)
	}
	cut := func(b int) int { return n * b / blocks }
	candidates := [][]FeatureSpec{terms}
	for i := range terms {
		if len(terms) > 1 {
			candidates = append(candidates, slices.Delete(slices.Clone(terms), i, i+1))
		}
	}
	best := WithinChoice{Terms: terms, Lambda: DefaultLambda, CVAUC: math.Inf(-1)}
	for k, c := range candidates {
		for _, lambda := range cvLambdas {
			var sum float64
			ok := true
			for f := 1; f <= CVFolds; f++ {
				m, err := Train(samplesOf(train[:cut(f)], ""), TrainOptions{Terms: c, Lambda: lambda})
				if err != nil {
					if k == 0 {
						return WithinChoice{}, fmt.Errorf("fold %d: %w", f, err)
					}
					ok = false // a smaller set that cannot fit is no candidate
					break
				}
				auc, err := ModelAUC(m, train[cut(f):cut(f+1)])
				if err != nil {
					return WithinChoice{}, fmt.Errorf("fold %d validation block: %w", f, err)
				}
				sum += auc
			}
			if !ok {
				continue
			}
			if mean := sum / CVFolds; mean > best.CVAUC {
				best = WithinChoice{Terms: c, Lambda: lambda, CVAUC: mean}
			}
		}
	}
	return best, nil
}
