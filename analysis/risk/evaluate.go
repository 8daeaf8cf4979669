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
}

// ProjectResult holds one project's AUCs on its test set (the newest 20%).
type ProjectResult struct {
	Project                                 string
	Rows, TrainRows, TestRows, TestFailures int
	Published                               float64 // published LApredict AUC, NaN if unknown
	LAOnly                                  float64 // logistic regression on la alone, same split
	WithinProject                           float64 // the terms, trained on this project's training part
	CrossProject                            float64 // the terms, trained on the other projects' training parts; NaN with one project
	Pooled                                  float64 // the terms, trained on every project's training part
	Default                                 float64 // EvalOptions.Default as it is; NaN without one
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
}

// Evaluate runs the published protocol on each project: changes in date
// order, the oldest 80% to train (the scaling is fitted there too), the
// newest 20% to test; it reports exact AUCs (see AUC).
func Evaluate(projects []Project, opts EvalOptions) (*Report, error) {
	if len(projects) == 0 {
		return nil, fmt.Errorf("%w: no projects to evaluate", ErrBadTrainingData)
	}
	terms := opts.Terms
	if terms == nil {
		terms = DefaultTerms()
	}
	laOnly := []FeatureSpec{{Name: FeatLinesAdded, Transform: TransformIdentity}}
	trains := make([][]Sample, len(projects))
	tests := make([][]Change, len(projects))
	var pooled []Sample
	for i, p := range projects {
		tr, te := SplitByDate(p.Changes)
		trains[i], tests[i] = samplesOf(tr, p.Name), te
		pooled = append(pooled, trains[i]...)
	}
	fit := func(what string, samples []Sample, terms []FeatureSpec) (*Model, error) {
		m, err := Train(samples, TrainOptions{Terms: terms})
		if err != nil {
			return nil, fmt.Errorf("training %s: %w", what, err)
		}
		return m, nil
	}
	pooledModel, err := fit("on all projects", pooled, terms)
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	for i, p := range projects {
		r := ProjectResult{
			Project: p.Name, Rows: len(p.Changes), TrainRows: len(trains[i]), TestRows: len(tests[i]),
			CrossProject: math.NaN(), Default: math.NaN(),
		}
		r.Published = math.NaN()
		if p.Baseline != "" {
			r.Published, _ = PublishedLApredict(p.Baseline)
		}
		for _, c := range tests[i] {
			if c.Buggy {
				r.TestFailures++
			}
		}
		wp, err := fit(p.Name+" (within project)", trains[i], terms)
		if err != nil {
			return nil, err
		}
		la, err := fit(p.Name+" (la only)", trains[i], laOnly)
		if err != nil {
			return nil, err
		}
		type target struct {
			m   *Model
			out *float64
		}
		models := []target{{wp, &r.WithinProject}, {la, &r.LAOnly}, {pooledModel, &r.Pooled}, {opts.Default, &r.Default}}
		if len(projects) > 1 {
			var others []Sample
			for j := range projects {
				if j != i {
					others = append(others, trains[j]...)
				}
			}
			cp, err := fit(p.Name+" (cross project)", others, terms)
			if err != nil {
				return nil, err
			}
			models = append(models, target{cp, &r.CrossProject})
		}
		for _, mo := range models {
			if mo.m == nil {
				continue
			}
			if *mo.out, err = ModelAUC(mo.m, tests[i]); err != nil {
				return nil, fmt.Errorf("%s test set: %w", p.Name, err)
			}
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
