package risk

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAUCHandComputed(t *testing.T) {
	T, F := true, false
	for name, c := range map[string]struct {
		scores []float64
		labels []bool
		want   float64
	}{
		// Positives 0.35 and 0.8 against negatives 0.1 and 0.4: only
		// (0.35, 0.4) is out of order, so 3 of 4 pairs.
		"classic":  {[]float64{0.1, 0.4, 0.35, 0.8}, []bool{F, F, T, T}, 0.75},
		"perfect":  {[]float64{1, 2, 3, 4}, []bool{F, F, T, T}, 1},
		"reversed": {[]float64{4, 3, 2, 1}, []bool{F, F, T, T}, 0},
		"all tied": {[]float64{0.5, 0.5, 0.5}, []bool{T, F, F}, 0.5},
		// pos 1 vs neg 1: tie (1/2); pos 1 vs neg 2: loss; pos 2 vs neg 1: win; pos 2 vs neg 2: tie (1/2).
		"ties across": {[]float64{1, 1, 2, 2}, []bool{F, T, F, T}, 0.5},
		// pos 2 vs negs {1, 2}: 1 + 1/2; pos 3 vs both: 2. (1.5+2)/4.
		"one tie":        {[]float64{1, 2, 2, 3}, []bool{F, F, T, T}, 0.875},
		"order of input": {[]float64{3, 2, 1, 2}, []bool{T, T, F, F}, 0.875},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := AUC(c.scores, c.labels)
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}

// TestAUCMatchesPairCount checks the rank formula against the definition
// (count every positive-negative pair, ties one half) on data with many ties.
func TestAUCMatchesPairCount(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	scores := make([]float64, 400)
	labels := make([]bool, 400)
	for i := range scores {
		scores[i] = float64(r.IntN(15))
		labels[i] = r.Float64() < 0.2+0.04*scores[i]
	}
	var wins, pairs float64
	for i := range scores {
		for j := range scores {
			if !labels[i] || labels[j] {
				continue
			}
			pairs++
			switch {
			case scores[i] > scores[j]:
				wins++
			case scores[i] == scores[j]:
				wins += 0.5
			}
		}
	}
	got, err := AUC(scores, labels)
	require.NoError(t, err)
	require.InDelta(t, wins/pairs, got, 1e-12)
}

func TestAUCUndefined(t *testing.T) {
	_, err := AUC([]float64{1, 2}, []bool{true, true})
	require.ErrorIs(t, err, ErrAUCUndefined)
	_, err = AUC([]float64{1, 2}, []bool{true})
	require.ErrorIs(t, err, ErrAUCUndefined)
	_, err = AUC(nil, nil)
	require.ErrorIs(t, err, ErrAUCUndefined)
	nan := 0.0
	nan /= nan
	_, err = AUC([]float64{1, nan}, []bool{true, false})
	require.ErrorContains(t, err, "score 1 is NaN")
}
