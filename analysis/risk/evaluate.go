package risk

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// TrainShare is the share of a project's changes, oldest first, that the
// published protocol trains on; the rest is the test set.
const TrainShare = 0.8

// PublishedSource cites the LApredict numbers of PublishedLApredict.
const PublishedSource = `Zeng, Zhang, Zhang, Zhang, "Deep Just-in-Time Defect Prediction: How Far Are We?", ISSTA 2021, Table 8 (LApredict: logistic regression on lines added, within-project)`

// PublishedLApredict returns the published LApredict AUC of a project of
// the ISSTA'21 JIT-DP benchmark (see PublishedSource).
func PublishedLApredict(project string) (float64, bool) {
	switch project {
	case "qt":
		return 0.7438, true
	case "openstack":
		return 0.7491, true
	case "jdt":
		return 0.6757, true
	case "platform":
		return 0.7461, true
	case "gerrit":
		return 0.7495, true
	case "go":
		return 0.6831, true
	}
	return math.NaN(), false
}

// Project is one data set of an evaluation.
type Project struct {
	Name    string
	Changes []Change
	// Baseline names the benchmark project (of PublishedLApredict) whose
	// published AUC is reported beside this one; empty for none. It is
	// never guessed from Name.
	Baseline string
}

// SplitByDate orders the changes by date (stably, so equal dates keep file
// order) and returns the oldest TrainShare of them and the rest.
func SplitByDate(changes []Change) (train, test []Change) {
	cs := slices.Clone(changes)
	slices.SortStableFunc(cs, func(a, b Change) int {
		switch {
		case a.Date < b.Date:
			return -1
		case a.Date > b.Date:
			return 1
		}
		return 0
	})
	n := len(cs) * 8 / 10
	return cs[:n], cs[n:]
}

// EvalOptions control Evaluate.
type EvalOptions struct {
	// Terms of the model under test; default DefaultTerms().
	Terms []FeatureSpec
	// Default is a ready model evaluated as it is (normally DefaultModel());
	// nil leaves its column and the level table out.
	Default *Model
	// Resamples and Seed of the paired bootstrap (PairedAUCDiff); defaults
	// DefaultResamples and DefaultSeed.
	Resamples int
	Seed      uint64
}

// Metrics are one model's figures on a test set.
type Metrics struct {
	AUC   float64
	Brier float64
	EffortAware
}

// ProjectResult holds one project's figures on its test set (the newest
// 20%). The intervals are paired-bootstrap 95% intervals of the model's AUC
// minus LAOnly's on the same resamples.
type ProjectResult struct {
	Project                                 string
	Rows, TrainRows, TestRows, TestFailures int
	Published                               float64 // published LApredict AUC, NaN if unknown
	LAOnly                                  Metrics // logistic regression on la alone, same split
	// WithinTerms are the terms chosen by rolling-origin cross-validation
	// on this project's training data (SelectWithin); Within is them
	// trained on the whole training part with the chosen penalty.
	WithinTerms []FeatureSpec
	// WithinLambda is the L2 penalty chosen with them.
	WithinLambda float64
	Within       Metrics
	WithinDiff   Interval
	// Cross is the terms trained on the other projects' training parts
	// (leave one project out); nil-valued (NaN) with one project.
	Cross     Metrics
	CrossDiff Interval
	// Pooled is the terms trained on every project's training part.
	Pooled float64
	// Default is EvalOptions.Default as it is; NaN without one.
	Default     Metrics
	DefaultDiff Interval
}

// LevelStat counts the test changes a model puts in a level and how many
// of them were buggy.
type LevelStat struct {
	Level    Level
	Changes  int
	Failures int
}

// Report is the outcome of Evaluate.
type Report struct {
	Projects []ProjectResult
	// Levels of the Default model over every project's test set.
	Levels []LevelStat
	// Resamples and Seed of the bootstrap that made the intervals.
	Resamples int
	Seed      uint64
}

func (o EvalOptions) withDefaults() EvalOptions {
	if o.Terms == nil {
		o.Terms = DefaultTerms()
	}
	if o.Resamples <= 0 {
		o.Resamples = DefaultResamples
	}
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	return o
}

// laOnlyTerms is LApredict: logistic regression on raw lines added.
func laOnlyTerms() []FeatureSpec {
	return []FeatureSpec{{Name: FeatLinesAdded, Transform: TransformIdentity}}
}

// Evaluate runs the published protocol on each project: changes in date
// order, the oldest 80% to train (the scaling is fitted there too), the
// newest 20% to test. It reports exact AUCs (see AUC), the Brier score,
// the effort-aware figures (Effort) and paired-bootstrap intervals of each
// model's AUC minus LApredict's (PairedAUCDiff).
func Evaluate(projects []Project, opts EvalOptions) (*Report, error) {
	if len(projects) == 0 {
		return nil, fmt.Errorf("%w: no projects to evaluate", ErrBadTrainingData)
	}
	opts = opts.withDefaults()
	trains := make([][]Change, len(projects))
	tests := make([][]Change, len(projects))
	var pooled []Sample
	for i, p := range projects {
		trains[i], tests[i] = SplitByDate(p.Changes)
		pooled = append(pooled, samplesOf(trains[i], p.Name)...)
	}
	pooledModel, err := fit("on all projects", pooled, opts.Terms)
	if err != nil {
		return nil, err
	}
	rep := &Report{Resamples: opts.Resamples, Seed: opts.Seed}
	for i, p := range projects {
		var others []Sample
		for j := range projects {
			if j != i {
				others = append(others, samplesOf(trains[j], projects[j].Name)...)
			}
		}
		r, err := evaluateProject(p, trains[i], tests[i], others, pooledModel, opts)
		if err != nil {
			return nil, err
		}
		rep.Projects = append(rep.Projects, r)
	}
	if opts.Default != nil {
		var all []Change
		for _, te := range tests {
			all = append(all, te...)
		}
		rep.Levels = LevelStats(opts.Default, all)
	}
	return rep, nil
}

// fit trains terms on samples, saying what failed.
func fit(what string, samples []Sample, terms []FeatureSpec) (*Model, error) {
	m, err := Train(samples, TrainOptions{Terms: terms})
	if err != nil {
		return nil, fmt.Errorf("training %s: %w", what, err)
	}
	return m, nil
}

// evaluateProject measures one project's models on its test set; others
// are the other projects' training samples (none with one project).
func evaluateProject(p Project, train, test []Change, others []Sample, pooled *Model, opts EvalOptions) (ProjectResult, error) {
	r := ProjectResult{
		Project: p.Name, Rows: len(p.Changes), TrainRows: len(train), TestRows: len(test),
		Published: math.NaN(), Cross: nanMetrics(), Default: nanMetrics(),
		CrossDiff: nanInterval(), DefaultDiff: nanInterval(),
	}
	if p.Baseline != "" {
		r.Published, _ = PublishedLApredict(p.Baseline)
	}
	for _, c := range test {
		if c.Buggy {
			r.TestFailures++
		}
	}
	choice, err := SelectWithin(train, opts.Terms)
	if err != nil {
		return r, fmt.Errorf("%s: choosing terms: %w", p.Name, err)
	}
	r.WithinTerms, r.WithinLambda = choice.Terms, choice.Lambda
	samples := samplesOf(train, p.Name)
	wp, err := Train(samples, TrainOptions{Terms: choice.Terms, Lambda: choice.Lambda})
	if err != nil {
		return r, fmt.Errorf("training %s (within project): %w", p.Name, err)
	}
	la, err := fit(p.Name+" (la only)", samples, laOnlyTerms())
	if err != nil {
		return r, err
	}
	laScores := scoresOf(la, test)
	measure := func(m *Model, out *Metrics, diff *Interval) error {
		sc := scoresOf(m, test)
		*out = metricsOf(sc, test)
		if diff == nil {
			return nil
		}
		iv, err := PairedAUCDiff(logOdds(sc), logOdds(laScores), labelsOf(test), opts.Resamples, opts.Seed)
		if err != nil {
			return fmt.Errorf("%s test set: %w", p.Name, err)
		}
		*diff = iv
		return nil
	}
	if err := measure(la, &r.LAOnly, nil); err != nil {
		return r, err
	}
	if err := measure(wp, &r.Within, &r.WithinDiff); err != nil {
		return r, err
	}
	if r.Pooled, err = ModelAUC(pooled, test); err != nil {
		return r, fmt.Errorf("%s test set: %w", p.Name, err)
	}
	if len(others) > 0 {
		cp, err := fit(p.Name+" (leave this project out)", others, opts.Terms)
		if err != nil {
			return r, err
		}
		if err := measure(cp, &r.Cross, &r.CrossDiff); err != nil {
			return r, err
		}
	}
	if opts.Default != nil {
		if err := measure(opts.Default, &r.Default, &r.DefaultDiff); err != nil {
			return r, err
		}
	}
	return r, nil
}

func nanMetrics() Metrics {
	n := math.NaN()
	return Metrics{AUC: n, Brier: n, EffortAware: EffortAware{RecallAt20: n, Popt: n}}
}

func nanInterval() Interval { n := math.NaN(); return Interval{n, n, n} }

type scored struct {
	logOdds, prob float64
}

func scoresOf(m *Model, changes []Change) []scored {
	out := make([]scored, len(changes))
	for i, c := range changes {
		s := m.Score(c.Features)
		out[i] = scored{s.LogOdds, s.Probability}
	}
	return out
}

func logOdds(sc []scored) []float64 {
	out := make([]float64, len(sc))
	for i, s := range sc {
		out[i] = s.logOdds
	}
	return out
}

func labelsOf(changes []Change) []bool {
	out := make([]bool, len(changes))
	for i, c := range changes {
		out[i] = c.Buggy
	}
	return out
}

// churnOf is a change's lines added plus deleted, as far as known.
func churnOf(c Change) float64 {
	var n int
	for _, p := range []*int{c.Features.LinesAdded, c.Features.LinesDeleted} {
		if p != nil && *p > 0 {
			n += *p
		}
	}
	return float64(n)
}

func metricsOf(sc []scored, test []Change) Metrics {
	labels := labelsOf(test)
	probs := make([]float64, len(sc))
	churn := make([]float64, len(sc))
	for i, s := range sc {
		probs[i] = s.prob
		churn[i] = churnOf(test[i])
	}
	auc, err := AUC(logOdds(sc), labels)
	if err != nil {
		auc = math.NaN()
	}
	return Metrics{AUC: auc, Brier: Brier(probs, labels), EffortAware: Effort(probs, churn, labels)}
}

// ModelAUC is the AUC of a model's scores on labelled changes.
func ModelAUC(m *Model, changes []Change) (float64, error) {
	scores := make([]float64, len(changes))
	labels := make([]bool, len(changes))
	for i, c := range changes {
		scores[i] = m.Score(c.Features).LogOdds
		labels[i] = c.Buggy
	}
	return AUC(scores, labels)
}

// LevelStats counts, per level, the changes a model puts there and how
// many of them were buggy.
func LevelStats(m *Model, changes []Change) []LevelStat {
	stats := []LevelStat{{Level: LevelLow}, {Level: LevelMedium}, {Level: LevelHigh}}
	for _, c := range changes {
		i := slices.Index([]Level{LevelLow, LevelMedium, LevelHigh}, m.Score(c.Features).Level)
		stats[i].Changes++
		if c.Buggy {
			stats[i].Failures++
		}
	}
	return stats
}

// TrainDefault makes the default model from the projects: DefaultTerms
// trained on every project's training part (oldest 80%) together, each
// project a Group of its own (see Train), with
// ReleaseTimePriors appended and the level cut-offs placed on every
// project's test part together (DefaultLowShare low, DefaultHighShare high).
func TrainDefault(projects []Project) (*Model, error) {
	var train, test []Sample
	var parts []string
	for _, p := range projects {
		tr, te := SplitByDate(p.Changes)
		train = append(train, samplesOf(tr, p.Name)...)
		test = append(test, samplesOf(te, p.Name)...)
		parts = append(parts, fmt.Sprintf("%s %d", p.Name, len(tr)))
	}
	m, err := Train(train, TrainOptions{
		Terms:  DefaultTerms(),
		Priors: ReleaseTimePriors(),
		TrainedOn: fmt.Sprintf("ISSTA'21 JIT-DP k_feature data, oldest 80%% by date of each project (%s changes; one intercept per project in the fit); level cut-offs from the newest 20%% (%d changes)",
			strings.Join(parts, ", "), len(test)),
	})
	if err != nil {
		return nil, err
	}
	m.Cutoffs = CalibrateCutoffs(m, test, DefaultLowShare, DefaultHighShare)
	m.Seal()
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("default model: %w", err)
	}
	return m, nil
}

func samplesOf(changes []Change, group string) []Sample {
	out := make([]Sample, len(changes))
	for i, c := range changes {
		out[i] = c.Sample(group)
	}
	return out
}

// TrainProjects trains terms on every change of every project (each
// project a Group, see Train) and appends ReleaseTimePriors: a model made
// as the default one is, from the user's own data.
func TrainProjects(projects []Project, terms []FeatureSpec) (*Model, error) {
	var samples []Sample
	var parts []string
	for _, p := range projects {
		samples = append(samples, samplesOf(p.Changes, p.Name)...)
		parts = append(parts, fmt.Sprintf("%s %d", p.Name, len(p.Changes)))
	}
	var priors []FeatureSpec
	for _, pr := range ReleaseTimePriors() {
		if !slices.ContainsFunc(terms, func(t FeatureSpec) bool { return t.Name == pr.Name }) {
			priors = append(priors, pr) // a term learned from the data replaces its prior
		}
	}
	return Train(samples, TrainOptions{
		Terms: terms, Priors: priors,
		TrainedOn: fmt.Sprintf("JIT data, every change (%s changes; one intercept per project in the fit)", strings.Join(parts, ", ")),
	})
}

// HeldOutAUC is the AUC of terms trained on a project's oldest 80% on its
// newest 20% (the published protocol's within-project figure, without the
// choice of terms).
func HeldOutAUC(p Project, terms []FeatureSpec) (float64, error) {
	train, test := SplitByDate(p.Changes)
	m, err := fit(p.Name, samplesOf(train, p.Name), terms)
	if err != nil {
		return 0, err
	}
	return ModelAUC(m, test)
}
