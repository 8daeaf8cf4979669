package risk

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// synthetic draws n samples from a known logistic model over two
// identity-transformed features: logit = -0.5 + 1.2*entropy - 0.8*fix.
// A fixed seed makes the data the same on every run.
func synthetic(n int, seed uint64) []Sample {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]Sample, n)
	for i := range out {
		e := r.Float64() * 3
		fix := r.IntN(2) == 1
		logit := -0.5 + 1.2*e
		if fix {
			logit -= 0.8
		}
		out[i] = Sample{
			Features: Features{Entropy: floatp(e), Fix: boolp(fix)},
			Failed:   r.Float64() < Sigmoid(logit),
		}
	}
	return out
}

var syntheticTerms = []FeatureSpec{
	{Name: FeatEntropy, Transform: TransformIdentity},
	{Name: FeatFix, Transform: TransformIdentity},
}

func TestTrainRecoversKnownCoefficients(t *testing.T) {
	m, err := Train(synthetic(20000, 1), TrainOptions{Terms: syntheticTerms, TrainedOn: "synthetic"})
	require.NoError(t, err)
	require.NoError(t, m.Validate())
	ent, _ := m.Feature(FeatEntropy)
	fix, _ := m.Feature(FeatFix)
	// Back to the raw scale: slope = Coef/Std, intercept = b0 - sum(Coef*Mean/Std).
	require.InDelta(t, 1.2, ent.Coef/ent.Std, 0.08)
	require.InDelta(t, -0.8, fix.Coef/fix.Std, 0.08)
	require.InDelta(t, -0.5, m.Intercept-ent.Coef*ent.Mean/ent.Std-fix.Coef*fix.Mean/fix.Std, 0.08)
	// Scaling is fitted on the training data: entropy ~ U(0,3).
	require.InDelta(t, 1.5, ent.Mean, 0.05)
	require.InDelta(t, math.Sqrt(0.75), ent.Std, 0.05)
	require.Equal(t, OriginData, ent.Origin)
	require.Equal(t, 20000, m.Samples)
	require.Equal(t, "synthetic", m.TrainedOn)

	// The default cut-offs split the training scores about 50/35/15.
	counts := map[Level]int{}
	for _, s := range synthetic(20000, 1) {
		counts[m.Score(s.Features).Level]++
	}
	require.InDelta(t, 0.50, float64(counts[LevelLow])/20000, 0.02)
	require.InDelta(t, 0.15, float64(counts[LevelHigh])/20000, 0.02)
}

func TestTrainIsBitIdentical(t *testing.T) {
	samples := synthetic(3000, 7)
	opts := TrainOptions{Terms: append(syntheticTerms, FeatureSpec{Name: FeatLinesAdded, Transform: TransformLog1p})}
	// Some samples have lines added, some do not (missing is at the mean).
	for i := range samples {
		if i%3 != 0 {
			samples[i].Features.LinesAdded = intp(i % 500)
		}
	}
	a, err := Train(samples, opts)
	require.NoError(t, err)
	b, err := Train(samples, opts)
	require.NoError(t, err)
	require.Equal(t, math.Float64bits(a.Intercept), math.Float64bits(b.Intercept))
	for i := range a.Features {
		for _, pair := range [][2]float64{
			{a.Features[i].Mean, b.Features[i].Mean},
			{a.Features[i].Std, b.Features[i].Std},
			{a.Features[i].Coef, b.Features[i].Coef},
		} {
			require.Equal(t, math.Float64bits(pair[0]), math.Float64bits(pair[1]), a.Features[i].Name)
		}
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	require.Equal(t, string(ja), string(jb))
	require.Equal(t, a.Version, b.Version)

	// The scaling of a partly missing feature uses the samples that have it.
	la, _ := a.Feature(FeatLinesAdded)
	var sum float64
	var n int
	for i := range samples {
		if i%3 != 0 {
			sum += math.Log1p(float64(i % 500))
			n++
		}
	}
	require.InDelta(t, sum/float64(n), la.Mean, 1e-12)
}

func TestTrainConvergence(t *testing.T) {
	samples := synthetic(2000, 3)
	_, err := Train(samples, TrainOptions{Terms: syntheticTerms, MaxIter: 1})
	require.ErrorIs(t, err, ErrNoConvergence)
	require.ErrorContains(t, err, "after 1 iterations")

	// Perfectly separable data: the L2 penalty keeps the fit finite.
	var sep []Sample
	for i := range 200 {
		sep = append(sep, Sample{Features: Features{Entropy: floatp(float64(i))}, Failed: i >= 100})
	}
	m, err := Train(sep, TrainOptions{Terms: syntheticTerms[:1]})
	require.NoError(t, err)
	ent, _ := m.Feature(FeatEntropy)
	require.Greater(t, ent.Coef, 1.0)
	require.True(t, finite(ent.Coef))
	s := m.Score(Features{Entropy: floatp(150)})
	require.Greater(t, s.Probability, 0.9)
}

func TestTrainRejectsBadData(t *testing.T) {
	_, err := Train(nil, TrainOptions{})
	require.ErrorIs(t, err, ErrBadTrainingData)

	allGood := []Sample{{Features: Features{Entropy: floatp(1)}}, {Features: Features{Entropy: floatp(2)}}}
	_, err = Train(allGood, TrainOptions{Terms: syntheticTerms[:1]})
	require.ErrorIs(t, err, ErrBadTrainingData)
	require.ErrorContains(t, err, "need both outcomes")

	constant := []Sample{{Features: Features{Entropy: floatp(1)}}, {Features: Features{Entropy: floatp(1)}, Failed: true}}
	_, err = Train(constant, TrainOptions{Terms: syntheticTerms[:1]})
	require.ErrorIs(t, err, ErrBadTrainingData)
	require.ErrorContains(t, err, "feature entropy is constant")

	_, err = Train(constant, TrainOptions{Terms: []FeatureSpec{{Name: FeatFiles, Transform: TransformLog1p}}})
	require.ErrorContains(t, err, "feature files has no valid value")

	_, err = Train(constant, TrainOptions{Terms: []FeatureSpec{{Name: FeatEntropy, Transform: "sqrt"}}})
	require.ErrorIs(t, err, ErrInvalidModel)

	ok := synthetic(200, 5)
	_, err = Train(ok, TrainOptions{Terms: syntheticTerms, Priors: []FeatureSpec{{Name: FeatFix, Transform: TransformIdentity, Std: 1, Origin: OriginPrior}}})
	require.ErrorContains(t, err, "prior term fix is also a trained term")
}

func TestTrainAppendsPriors(t *testing.T) {
	m, err := Train(synthetic(500, 9), TrainOptions{Terms: syntheticTerms, Priors: ReleaseTimePriors()})
	require.NoError(t, err)
	require.Len(t, m.Features, 2+len(ReleaseTimePriors()))
	for _, p := range ReleaseTimePriors() {
		got, ok := m.Feature(p.Name)
		require.True(t, ok, p.Name)
		require.Equal(t, p, got, "priors are kept as they are")
		require.Equal(t, OriginPrior, got.Origin)
		require.NotEmpty(t, got.Note, "a prior says why")
	}
}

// clusterOutcomes simulates a cluster where releases started outside
// business hours roll back far more often than the prior assumes.
func clusterOutcomes(n int) []Sample {
	var out []Sample
	tue := time.Date(2024, 6, 4, 11, 0, 0, 0, time.UTC)
	sat := time.Date(2024, 6, 1, 23, 0, 0, 0, time.UTC)
	for i := range n {
		start := &tue
		off := i%2 == 0
		if off {
			start = &sat
		}
		// 2 in 5 off-hours releases fail, 1 in 20 of the others.
		failed := (off && i%5 < 2) || (!off && i%20 == 1)
		out = append(out, Sample{Features: Features{
			LinesAdded: intp(10 + i), PlannedStart: start, OnCallCovered: boolp(true),
		}, Failed: failed})
	}
	return out
}

func TestUpdateKeepsThePriorBelowTheHistoryThreshold(t *testing.T) {
	prior := DefaultModel()
	few := clusterOutcomes(19)
	m, err := Update(prior, few, TrainOptions{})
	require.ErrorIs(t, err, ErrNotEnoughHistory)
	require.ErrorContains(t, err, "19 outcomes with 5 failures, need at least 20 outcomes with at least 3 failures")
	require.Same(t, prior, m, "the prior comes back unchanged")

	// Enough outcomes but too few failures.
	var calm []Sample
	for i := range 30 {
		calm = append(calm, Sample{Features: Features{LinesAdded: intp(i)}, Failed: i < 2})
	}
	m, err = Update(prior, calm, TrainOptions{})
	require.ErrorIs(t, err, ErrNotEnoughHistory)
	require.Same(t, prior, m)

	// The thresholds are configurable.
	m, err = Update(prior, calm, TrainOptions{MinOutcomes: 10, MinFailures: 2})
	require.NoError(t, err)
	require.NotEqual(t, prior.Version, m.Version)
}

func TestUpdateLearnsFromClusterOutcomes(t *testing.T) {
	prior := DefaultModel()
	before := prior.Clone()
	outcomes := clusterOutcomes(200)
	m, err := Update(prior, outcomes, TrainOptions{})
	require.NoError(t, err)
	require.NoError(t, m.Validate())
	require.Equal(t, before, prior, "Update does not modify the prior")
	require.Equal(t, prior.Version, m.Parent)
	require.Equal(t, 200, m.Samples)
	require.Contains(t, m.TrainedOn, "updated with 200 cluster outcomes")

	off, _ := m.Feature(FeatOffHours)
	priorOff, _ := prior.Feature(FeatOffHours)
	require.Greater(t, off.Coef, priorOff.Coef+0.5, "off-hours failures raise the off-hours coefficient")
	require.Equal(t, OriginCluster, off.Origin)
	require.Equal(t, priorOff.Mean, off.Mean, "scaling is the prior's")

	// Features no outcome carried keep their prior coefficient exactly.
	for _, name := range []string{FeatServicesTouched, FeatAuthorExperience, FeatFiles} {
		got, _ := m.Feature(name)
		want, _ := prior.Feature(name)
		require.Equal(t, want.Coef, got.Coef, name)
		require.Equal(t, want.Origin, got.Origin, name)
	}
	// The cluster's base rate is lower than the public data's: the
	// intercept falls and the cut-offs follow it.
	shift := m.Intercept - prior.Intercept
	require.Less(t, shift, 0.0)
	require.InDelta(t, Sigmoid(logit(prior.Cutoffs.Medium)+shift), m.Cutoffs.Medium, 1e-12)
	require.InDelta(t, Sigmoid(logit(prior.Cutoffs.High)+shift), m.Cutoffs.High, 1e-12)

	// The explanation no longer marks off-hours as a prior.
	s := m.Score(Features{PlannedStart: saturdayNight()})
	require.Contains(t, s.Explain(1)[0], "outside business hours (22:00 Sat): +")
	require.NotContains(t, s.Explain(1)[0], "(prior)")

	// A strong prior keeps the update close to it.
	tight, err := Update(prior, outcomes, TrainOptions{PriorPrecision: 1e6})
	require.NoError(t, err)
	tOff, _ := tight.Feature(FeatOffHours)
	require.InDelta(t, priorOff.Coef, tOff.Coef, 1e-3)

	// Deterministic too.
	again, err := Update(prior, outcomes, TrainOptions{})
	require.NoError(t, err)
	require.Equal(t, m, again)
}

func TestUpdateRejectsABrokenPrior(t *testing.T) {
	prior := DefaultModel()
	prior.Intercept += 1 // stale version
	_, err := Update(prior, clusterOutcomes(50), TrainOptions{})
	require.ErrorIs(t, err, ErrInvalidModel)

	var allFailed []Sample
	for range 25 {
		allFailed = append(allFailed, Sample{Features: Features{LinesAdded: intp(3)}, Failed: true})
	}
	_, err = Update(DefaultModel(), allFailed, TrainOptions{})
	require.ErrorIs(t, err, ErrBadTrainingData)
}

func TestCalibrateCutoffs(t *testing.T) {
	m := handModel()
	var samples []Sample
	for i := range 100 {
		samples = append(samples, Sample{Features: Features{LinesAdded: intp(i * i)}})
	}
	c := CalibrateCutoffs(m, samples, 0.5, 0.15)
	counts := map[Level]int{}
	for _, s := range samples {
		counts[c.Level(m.Score(s.Features).Probability)]++
	}
	require.Equal(t, map[Level]int{LevelLow: 50, LevelMedium: 35, LevelHigh: 15}, counts)
}

// TestTrainGroupsKeepBaseRatesOutOfCoefficients: fixes are common in a
// group that fails often for other reasons, but within each group a fix is
// no riskier. Pooled without groups, fix looks risky; with one intercept
// per group it does not.
func TestTrainGroupsKeepBaseRatesOutOfCoefficients(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	var samples []Sample
	for i := range 8000 {
		group, fixRate, failRate := "calm", 0.2, 0.1
		if i%2 == 1 {
			group, fixRate, failRate = "busy", 0.7, 0.5
		}
		samples = append(samples, Sample{
			Features: Features{Fix: boolp(r.Float64() < fixRate), Entropy: floatp(r.Float64())},
			Failed:   r.Float64() < failRate,
			Group:    group,
		})
	}
	grouped, err := Train(samples, TrainOptions{Terms: syntheticTerms})
	require.NoError(t, err)
	for i := range samples {
		samples[i].Group = ""
	}
	pooled, err := Train(samples, TrainOptions{Terms: syntheticTerms})
	require.NoError(t, err)

	gFix, _ := grouped.Feature(FeatFix)
	pFix, _ := pooled.Feature(FeatFix)
	require.InDelta(t, 0, gFix.Coef, 0.05, "within groups a fix is no riskier")
	require.Greater(t, pFix.Coef, 0.3, "pooled naively, fix stands in for the busy group")
	// The single intercept is refitted over all samples: the mean
	// predicted probability matches the overall failure rate.
	var sum float64
	fails := 0
	for _, s := range samples {
		sum += grouped.Score(s.Features).Probability
		if s.Failed {
			fails++
		}
	}
	require.InDelta(t, float64(fails)/float64(len(samples)), sum/float64(len(samples)), 0.01)
}

func TestCalibrateCutoffsStayInsideTheUnitInterval(t *testing.T) {
	m := handModel()
	m.Intercept = 1000 // every score saturates at probability 1
	c := CalibrateCutoffs(m, []Sample{{}, {}, {}}, 0.5, 0.15)
	require.Less(t, c.High, 1.0)
	require.Greater(t, c.Medium, 0.0)
	m.Intercept = -1000
	c = CalibrateCutoffs(m, []Sample{{}, {}, {}}, 0.5, 0.15)
	require.Greater(t, c.Medium, 0.0)
	require.LessOrEqual(t, c.Medium, c.High)
}
