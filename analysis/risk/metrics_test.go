package risk

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// effortCase: four changes, 100 lines of churn, two defects (A and C).
//
//	change  churn  buggy  p    p/churn
//	A       10     yes    0.9  0.090
//	B       40     no     0.8  0.020
//	C       30     yes    0.1  0.003
//	D       20     no     0.5  0.025
//
// The model inspects A, D, B, C: within 20% of the churn only A (10%) is
// inspected, recall 1/2. Its curve of defects found against churn spent
// has area 0.1*0.25 + 0.2*0.5 + 0.4*0.5 + 0.3*0.75 = 0.55; the optimal
// order (A, C, D, B) 0.85, the worst (B, D, C, A) 0.15, so Popt is
// 1 - 0.30/0.70 = 4/7.
func TestEffortHandComputed(t *testing.T) {
	probs := []float64{0.9, 0.8, 0.1, 0.5}
	churn := []float64{10, 40, 30, 20}
	buggy := []bool{true, false, true, false}
	e := Effort(probs, churn, buggy)
	require.InDelta(t, 0.5, e.RecallAt20, 1e-12)
	require.InDelta(t, 4.0/7, e.Popt, 1e-12)

	// Ranking by the true density is optimal; by its reverse, the worst.
	e = Effort([]float64{1, 0, 0.5, 0.1}, churn, buggy)
	require.InDelta(t, 1, e.Popt, 1e-12)
	require.InDelta(t, 0.5, e.RecallAt20, 1e-12, "A fits in 20%; C does not")
	e = Effort([]float64{0.01, 1, 0.2, 0.3}, churn, buggy)
	require.InDelta(t, 0, e.Popt, 1e-12)
	require.InDelta(t, 0, e.RecallAt20, 1e-12)

	// Zero churn counts as one line.
	e = Effort([]float64{0.9, 0.1}, []float64{0, 9}, []bool{true, false})
	require.InDelta(t, 1, e.RecallAt20, 1e-12, "1 line of 10 is within 20%")
}

func TestBrier(t *testing.T) {
	require.InDelta(t, (0.01+0.04+0.25)/3, Brier([]float64{0.9, 0.2, 0.5}, []bool{true, false, false}), 1e-12)
}

func randomScores(n int, seed uint64) ([]float64, []float64, []bool) {
	rng := rand.New(rand.NewPCG(seed, 1))
	a, b, y := make([]float64, n), make([]float64, n), make([]bool, n)
	for i := range y {
		y[i] = rng.Float64() < 0.3
		signal := 0.0
		if y[i] {
			signal = 1
		}
		a[i] = signal + rng.NormFloat64()
		b[i] = float64(rng.IntN(4)) + 0.3*signal // ties
	}
	return a, b, y
}

// TestWeightedAUCMatchesAUC: with unit weights the one-pass AUC of a
// bootstrap is the exact AUC, ties included.
func TestWeightedAUCMatchesAUC(t *testing.T) {
	a, b, y := randomScores(500, 7)
	ones := make([]float64, len(y))
	for i := range ones {
		ones[i] = 1
	}
	for _, s := range [][]float64{a, b} {
		want, err := AUC(s, y)
		require.NoError(t, err)
		require.InDelta(t, want, newRanked(s, y).auc(ones), 1e-12)
	}
	// A weight of 2 is the row listed twice.
	w := slices2(ones)
	w[3] = 2
	want, err := AUC(append(slices2(a), a[3]), append(append([]bool(nil), y...), y[3]))
	require.NoError(t, err)
	require.InDelta(t, want, newRanked(a, y).auc(w), 1e-12)
}

func slices2(x []float64) []float64 { return append([]float64(nil), x...) }

func TestPairedAUCDiffIsDeterministic(t *testing.T) {
	a, b, y := randomScores(400, 3)
	iv1, err := PairedAUCDiff(a, b, y, 1000, 42)
	require.NoError(t, err)
	iv2, err := PairedAUCDiff(a, b, y, 1000, 42)
	require.NoError(t, err)
	require.Equal(t, iv1, iv2, "same inputs and seed, same interval, bit for bit")
	aa, err := AUC(a, y)
	require.NoError(t, err)
	ab, err := AUC(b, y)
	require.NoError(t, err)
	require.InDelta(t, aa-ab, iv1.Estimate, 1e-12)
	require.Less(t, iv1.Low, iv1.Estimate)
	require.Greater(t, iv1.High, iv1.Estimate)

	iv3, err := PairedAUCDiff(a, b, y, 1000, 43)
	require.NoError(t, err)
	require.NotEqual(t, iv1.Low, iv3.Low, "another seed draws other resamples")
	require.InDelta(t, iv1.Low, iv3.Low, 0.02, "but about the same interval")

	same, err := PairedAUCDiff(a, a, y, 1000, 42)
	require.NoError(t, err)
	require.Equal(t, Interval{}, same, "a model against itself: zero on every resample")
	require.False(t, same.Significant())

	_, err = PairedAUCDiff(a, b[:3], y, 10, 1)
	require.ErrorIs(t, err, ErrAUCUndefined)
}

// TestReadJITNeedsOnlyTheModelsColumns: columns the terms do not use may
// be absent (their features are missing); every absent used column is
// named in one error.
func TestReadJITNeedsOnlyTheModelsColumns(t *testing.T) {
	in := "date,bug,la,ld,nf,fix,age\n1,0,3,1,1,0,2.5\n2,1,30,7,4,1,0.5\n"
	cs, err := ReadJIT(strings.NewReader(in))
	require.NoError(t, err, "no _id, nd, ns, entrophy or exp: the default terms do not use them")
	require.Len(t, cs, 2)
	require.Nil(t, cs[0].Features.Directories)
	require.Nil(t, cs[0].Features.Entropy)
	require.Equal(t, 0.5, *cs[1].Features.FilesAge)
	require.Empty(t, cs[0].ID)

	noAge := "date,bug,la,fix\n1,0,3,0\n"
	terms := []FeatureSpec{{Name: FeatLinesAdded, Transform: TransformLog1p}, {Name: FeatFix, Transform: TransformIdentity}}
	cs, _, err = ReadJITWith(strings.NewReader(noAge), ReadOptions{Terms: terms})
	require.NoError(t, err, "terms without filesAge need no age column")
	require.Nil(t, cs[0].Features.FilesAge)
	require.Equal(t, []string{"date", "bug", "la", "fix"}, ColumnsFor(append(terms, FeatureSpec{Name: FeatOffHours})), "a release-time term has no column")

	_, err = ReadJIT(strings.NewReader(noAge))
	require.ErrorIs(t, err, ErrBadCSV)
	require.ErrorContains(t, err, "header has no column for ld, nf, age, which the model uses")
	_, _, err = ReadJITWith(strings.NewReader("x\n1\n"), ReadOptions{Map: map[string]string{"age": "Age"}})
	require.ErrorContains(t, err, `header has no column for date, bug, la, ld, nf, fix, age (mapped to "Age"), which the model uses`)
}

func TestTermNamed(t *testing.T) {
	got, err := TermNamed(FeatFilesAge)
	require.NoError(t, err)
	require.Equal(t, TransformLog1p, got.Transform)
	got, err = TermNamed(FeatFix)
	require.NoError(t, err)
	require.Equal(t, TransformIdentity, got.Transform)
	_, err = TermNamed(FeatOffHours)
	require.ErrorIs(t, err, ErrUnknownTerm, "release-time terms are priors, not learned from JIT data")
}
