package risk

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrAUCUndefined: the AUC needs at least one positive and one negative.
var ErrAUCUndefined = errors.New("AUC is undefined")

// AUC is the area under the ROC curve of scores against labels (true =
// positive), computed exactly as the Mann-Whitney U statistic divided by
// n_pos*n_neg, with tied scores given their average rank (a tie between a
// positive and a negative counts one half).
func AUC(scores []float64, positive []bool) (float64, error) {
	if len(scores) != len(positive) {
		return 0, fmt.Errorf("%w: %d scores but %d labels", ErrAUCUndefined, len(scores), len(positive))
	}
	idx := make([]int, len(scores))
	var nPos, nNeg float64
	for i, s := range scores {
		if math.IsNaN(s) {
			return 0, fmt.Errorf("%w: score %d is NaN", ErrAUCUndefined, i)
		}
		idx[i] = i
		if positive[i] {
			nPos++
		} else {
			nNeg++
		}
	}
	if nPos == 0 || nNeg == 0 {
		return 0, fmt.Errorf("%w: %v positives and %v negatives", ErrAUCUndefined, nPos, nNeg)
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case scores[a] < scores[b]:
			return -1
		case scores[a] > scores[b]:
			return 1
		}
		return 0
	})
	// Sum of the (1-based, tie-averaged) ranks of the positives.
	var rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		avg := float64(i+1+j) / 2 // mean of ranks i+1 .. j
		for _, k := range idx[i:j] {
			if positive[k] {
				rankSum += avg
			}
		}
		i = j
	}
	u := rankSum - nPos*(nPos+1)/2
	return u / (nPos * nNeg), nil
}
