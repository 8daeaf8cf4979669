package risk

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

func intp(n int) *int           { return &n }
func boolp(b bool) *bool        { return &b }
func floatp(x float64) *float64 { return &x }

// handModel is a small model with round numbers for worked examples.
func handModel() *Model {
	m := &Model{
		Features: []FeatureSpec{
			{Name: FeatLinesAdded, Transform: TransformLog1p, Mean: 2.5, Std: 1.5, Coef: 0.6, Origin: OriginData},
			{Name: FeatFiles, Transform: TransformLog1p, Mean: 1.1, Std: 0.6, Coef: 0.2, Origin: OriginData},
			{Name: FeatFix, Transform: TransformIdentity, Mean: 0.4, Std: 0.5, Coef: 0.45, Origin: OriginData},
			{Name: FeatOffHours, Transform: TransformIdentity, Mean: 0, Std: 1, Coef: 0.35, Origin: OriginPrior},
			{Name: FeatOnCallGap, Transform: TransformIdentity, Mean: 0, Std: 1, Coef: 0.5, Origin: OriginPrior},
			{Name: FeatAuthorExperience, Transform: TransformLog1p, Mean: math.Log1p(10), Std: 1, Coef: -0.2, Origin: OriginCluster},
		},
		Intercept: -1.3,
		Cutoffs:   Cutoffs{Medium: 0.22, High: 0.46},
	}
	m.Seal()
	return m
}

// saturdayNight is 22:00 on Saturday 1 June 2024 in the policy's zone.
func saturdayNight() *time.Time {
	t := time.Date(2024, 6, 1, 22, 0, 0, 0, time.FixedZone("policy", 2*3600))
	return &t
}

func TestScoreWorkedExample(t *testing.T) {
	m := handModel()
	require.NoError(t, m.Validate())
	s := m.Score(Features{
		LinesAdded:       intp(1240),
		Files:            intp(12),
		Fix:              boolp(false),
		AuthorExperience: intp(3),
		PlannedStart:     saturdayNight(),
		OnCallCovered:    boolp(false),
	})
	// log1p(1240) = 7.1237; (7.1237-2.5)/1.5*0.6 = 1.8495, and so on.
	want := []Contribution{
		{FeatLinesAdded, 1240, 1.8494691140818427, "adds 1,240 lines (high churn)", OriginData},
		{FeatOnCallGap, 1, 0.5, "nobody on call for the whole release", OriginPrior},
		{FeatFiles, 12, 0.488316452487179, "touches 12 files (many files)", OriginData},
		{FeatFix, 0, -0.36, "is not a fix", OriginData},
		{FeatOffHours, 1, 0.35, "outside business hours (22:00 Sat)", OriginPrior},
		{FeatAuthorExperience, 3, 0.20232018233569604, "author has 3 prior changes (inexperienced)", OriginCluster},
	}
	require.Len(t, s.Contributions, len(want))
	for i, w := range want {
		got := s.Contributions[i]
		require.Equal(t, w.Feature, got.Feature, "contribution %d", i)
		require.Equal(t, w.Value, got.Value, w.Feature)
		require.InDelta(t, w.Contribution, got.Contribution, 1e-12, w.Feature)
		require.Equal(t, w.Text, got.Text)
		require.Equal(t, w.Origin, got.Origin)
	}
	require.InDelta(t, 1.7301057489047178, s.LogOdds, 1e-12)
	require.InDelta(t, 0.849425946198342, s.Probability, 1e-12)
	require.Equal(t, LevelHigh, s.Level)
	require.Equal(t, m.Version, s.ModelVersion)
	require.Empty(t, s.Missing)
	require.Empty(t, s.Invalid)

	require.Equal(t, []string{
		"adds 1,240 lines (high churn): +1.85",
		"nobody on call for the whole release: +0.50 (prior)",
		"touches 12 files (many files): +0.49",
	}, s.Explain(3))
	require.Equal(t, []string{
		"adds 1,240 lines (high churn): +1.85",
		"nobody on call for the whole release: +0.50 (prior)",
		"touches 12 files (many files): +0.49",
		"is not a fix: -0.36",
		"outside business hours (22:00 Sat): +0.35 (prior)",
		"author has 3 prior changes (inexperienced): +0.20",
	}, s.Explain(0))
}

func TestScoreSmallChangeInBusinessHours(t *testing.T) {
	m := handModel()
	tue := time.Date(2024, 6, 4, 14, 30, 0, 0, time.UTC)
	s := m.Score(Features{
		LinesAdded: intp(1), Files: intp(1), Fix: boolp(true), AuthorExperience: intp(10),
		PlannedStart: &tue, OnCallCovered: boolp(true),
	})
	// la: (log 2 - 2.5)/1.5*0.6 = -0.7227; files: (log 2 - 1.1)/0.6*0.2 = -0.1356;
	// fix: 0.6/0.5*0.45 = 0.54; the rest at their reference contribute 0.
	require.InDelta(t, -1.3+(math.Log(2)-2.5)/1.5*0.6+(math.Log(2)-1.1)/0.6*0.2+0.54, s.LogOdds, 1e-12)
	require.Equal(t, LevelLow, s.Level)
	require.Equal(t, []string{
		"adds 1 line (small change): -0.72",
		"is a fix: +0.54",
		"touches 1 file (below typical): -0.14",
	}, s.Explain(0), "contributions of 0.00 are not reasons")
	texts := map[string]string{}
	for _, c := range s.Contributions {
		texts[c.Feature] = c.Text
	}
	require.Equal(t, "in business hours (14:30 Tue)", texts[FeatOffHours])
	require.Equal(t, "on call for the whole release", texts[FeatOnCallGap])
	require.Equal(t, "author has 10 prior changes", texts[FeatAuthorExperience])
}

func TestScoreReportsMissingAndInvalid(t *testing.T) {
	m := handModel()
	s := m.Score(Features{LinesAdded: intp(1240), Files: intp(-2)})
	require.Equal(t, []string{FeatFix, FeatOffHours, FeatOnCallGap, FeatAuthorExperience}, s.Missing)
	require.Equal(t, []string{FeatFiles}, s.Invalid)
	// Missing and invalid features contribute nothing: only la counts.
	require.InDelta(t, -1.3+1.8494691140818427, s.LogOdds, 1e-12)
	require.Len(t, s.Contributions, 1)
	require.Equal(t, []string{
		"adds 1,240 lines (high churn): +1.85",
		"missing: fix, offHours, onCallGap, authorExperience",
		"invalid: files",
	}, s.Explain(5))

	empty := m.Score(Features{})
	require.Len(t, empty.Missing, 6)
	require.Equal(t, Sigmoid(-1.3), empty.Probability, "nothing known: the intercept alone")
	require.Equal(t, []string{"missing: linesAdded, files, fix, offHours, onCallGap, authorExperience"}, empty.Explain(3))

	other := m.Score(Features{LinesAdded: intp(1)})
	require.NotContains(t, other.Missing, FeatEntropy, "only the model's own terms are reported")

	for _, f := range []Features{
		{Entropy: floatp(math.NaN())}, {Entropy: floatp(math.Inf(1))}, {Entropy: floatp(-0.1)},
	} {
		v := f.value(FeatEntropy)
		require.True(t, v.present)
		require.False(t, v.valid, "entropy %v", *f.Entropy)
	}
	require.False(t, Features{ServicesTouched: intp(0)}.value(FeatServicesTouched).valid, "a release touches at least its own service")
}

func TestNewFeatures(t *testing.T) {
	start := saturdayNight()
	f := NewFeatures(nil, Context{ServicesTouched: intp(3), PlannedStart: start, OnCallCovered: boolp(true)})
	require.Nil(t, f.LinesAdded)
	require.Equal(t, 3, *f.ServicesTouched)

	cd := &config.ChangeDescriptor{LinesAdded: intp(10), AuthorExperience: intp(4), Fix: boolp(true), Entropy: floatp(0.5)}
	f = NewFeatures(cd, Context{AuthorExperience: intp(7)})
	require.Equal(t, 10, *f.LinesAdded)
	require.True(t, *f.Fix)
	require.Equal(t, 0.5, *f.Entropy)
	require.Equal(t, 7, *f.AuthorExperience, "the context's experience wins")
	f = NewFeatures(cd, Context{})
	require.Equal(t, 4, *f.AuthorExperience)

	// OffHours from the context overrides the business-hours rule.
	tue := time.Date(2024, 6, 4, 11, 0, 0, 0, time.UTC)
	f = NewFeatures(nil, Context{PlannedStart: &tue, OffHours: boolp(true)})
	v := f.value(FeatOffHours)
	require.True(t, v.present)
	require.Equal(t, 1.0, v.x)
}

func TestIsOffHours(t *testing.T) {
	at := func(day, hour, minute int) time.Time { return time.Date(2024, 6, day, hour, minute, 0, 0, time.UTC) }
	for _, c := range []struct {
		t   time.Time
		off bool
	}{
		{at(3, 8, 59), true},   // Monday before 09:00
		{at(3, 9, 0), false},   // Monday 09:00
		{at(7, 17, 59), false}, // Friday 17:59
		{at(7, 18, 0), true},   // Friday 18:00
		{at(1, 12, 0), true},   // Saturday noon
		{at(2, 12, 0), true},   // Sunday noon
		{at(5, 3, 0), true},    // Wednesday 03:00
	} {
		require.Equal(t, c.off, IsOffHours(c.t), c.t.Format(time.RFC1123))
	}
}

func TestCutoffsLevel(t *testing.T) {
	c := Cutoffs{Medium: 0.2, High: 0.5}
	require.Equal(t, LevelLow, c.Level(0.1999))
	require.Equal(t, LevelMedium, c.Level(0.2))
	require.Equal(t, LevelMedium, c.Level(0.4999))
	require.Equal(t, LevelHigh, c.Level(0.5))
}

func TestModelVersionAndJSON(t *testing.T) {
	m := handModel()
	require.Regexp(t, `^sha256:[0-9a-f]{16}$`, m.Version)

	b, err := json.Marshal(m)
	require.NoError(t, err)
	var back Model
	require.NoError(t, json.Unmarshal(b, &back))
	require.NoError(t, back.Validate())
	require.Equal(t, m, &back)
	f := Features{LinesAdded: intp(99), Files: intp(3)}
	require.Equal(t, m.Score(f), back.Score(f))

	// Any weight change changes the version; a stale version is refused.
	back.Features[0].Coef = 0.61
	require.ErrorIs(t, back.Validate(), ErrInvalidModel)
	require.ErrorContains(t, back.Validate(), "does not match the weights")
	back.Seal()
	require.NoError(t, back.Validate())
	require.NotEqual(t, m.Version, back.Version)

	// Notes and the description are not weights.
	c := m.Clone()
	c.Features[0].Note = "changed"
	c.TrainedOn = "elsewhere"
	require.Equal(t, m.Version, c.ComputeVersion())
	c.Cutoffs.High = 0.47
	require.NotEqual(t, m.Version, c.ComputeVersion(), "cut-offs change levels, so they are part of the version")
}

func TestValidateRejects(t *testing.T) {
	for name, c := range map[string]struct {
		edit func(m *Model)
		want string
	}{
		"unknown feature":  {func(m *Model) { m.Features[0].Name = "vibes" }, `features[0] (vibes): unknown feature`},
		"duplicate":        {func(m *Model) { m.Features[1].Name = FeatLinesAdded }, "listed twice"},
		"transform":        {func(m *Model) { m.Features[0].Transform = "exp" }, `unknown transform "exp"`},
		"zero std":         {func(m *Model) { m.Features[2].Std = 0 }, "std is 0, must be > 0"},
		"nan coef":         {func(m *Model) { m.Features[2].Coef = math.NaN() }, "must be finite"},
		"origin":           {func(m *Model) { m.Features[2].Origin = "" }, "unknown origin"},
		"infinite bias":    {func(m *Model) { m.Intercept = math.Inf(1) }, "intercept must be a finite number"},
		"cutoffs reversed": {func(m *Model) { m.Cutoffs = Cutoffs{Medium: 0.5, High: 0.2} }, "want 0 < medium <= high < 1"},
		"cutoff zero":      {func(m *Model) { m.Cutoffs.Medium = 0 }, "want 0 < medium <= high < 1"},
	} {
		t.Run(name, func(t *testing.T) {
			m := handModel()
			c.edit(m)
			m.Seal()
			err := m.Validate()
			require.ErrorIs(t, err, ErrInvalidModel)
			require.ErrorContains(t, err, c.want)
		})
	}
	var nilModel *Model
	require.ErrorIs(t, nilModel.Validate(), ErrInvalidModel)
}

func TestTextFormatting(t *testing.T) {
	require.Equal(t, "0", thousands(0))
	require.Equal(t, "999", thousands(999))
	require.Equal(t, "1,000", thousands(1000))
	require.Equal(t, "1,234,567", thousands(1234567))
	require.Equal(t, "-12,345", thousands(-12345))
	require.Equal(t, "+0.00", signed(-0.001))
	require.Equal(t, "-0.01", signed(-0.006))
	require.Equal(t, "+0.62", signed(0.6249))
	require.Equal(t, "touches 1 service including dependents", describe(FeatServicesTouched, rawValue{x: 1, present: true, valid: true}, 0))
	require.Equal(t, "change entropy 1.50 (edits scattered across files)", describe(FeatEntropy, rawValue{x: 1.5, present: true, valid: true}, 1))
	require.Equal(t, "change entropy 1.50 (above typical)", describe(FeatEntropy, rawValue{x: 1.5, present: true, valid: true}, 0.3))
	require.Equal(t, "change entropy 1.50 (typical)", describe(FeatEntropy, rawValue{x: 1.5, present: true, valid: true}, -0.2))
	require.Equal(t, "change entropy 1.50 (below typical)", describe(FeatEntropy, rawValue{x: 1.5, present: true, valid: true}, -0.25))
	require.Equal(t, "change entropy 1.50", describe(FeatEntropy, rawValue{x: 1.5, present: true, valid: true}, 0))
	require.Equal(t, "spans 1 directory (localised)", describe(FeatDirectories, rawValue{x: 1, present: true, valid: true}, -1))
}

func TestSigmoidExtremes(t *testing.T) {
	require.Equal(t, 0.5, Sigmoid(0))
	require.Equal(t, 1.0, Sigmoid(800))
	require.Equal(t, 0.0, Sigmoid(-800))
	require.False(t, math.IsNaN(Sigmoid(-1e308)))
}
