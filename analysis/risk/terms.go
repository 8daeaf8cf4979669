package risk

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

//go:generate go run ./internal/gendefault -data $SLUICE_JIT_DATA -o default_model.go

// DefaultTerms are the terms the default model learns from public data:
// lines added, lines deleted and files touched (each log1p, so a change
// ten times larger adds a fixed amount of risk rather than ten times as
// much) and whether the change is a fix. They were chosen on a time-ordered
// validation split inside the training data (see docs/risk.md): the other
// change metrics Sluice's descriptor carries (directories, subsystems,
// entropy, author experience) did not raise validation AUC and their
// coefficients change sign from one project to the next, which would make
// explanations contradict each other.
func DefaultTerms() []FeatureSpec {
	return []FeatureSpec{
		{Name: FeatLinesAdded, Transform: TransformLog1p},
		{Name: FeatLinesDeleted, Transform: TransformLog1p},
		{Name: FeatFiles, Transform: TransformLog1p},
		{Name: FeatFix, Transform: TransformIdentity},
		{Name: FeatFilesAge, Transform: TransformLog1p},
	}
}

// ErrUnknownTerm: a term name is not a feature JIT data can carry.
var ErrUnknownTerm = errors.New("unknown model term")

// TermNamed is the term for a feature a JIT data set carries, with the
// transform that suits it: log1p for counts and ages (skewed, so ten
// times more adds a fixed amount of risk), identity for fix (0/1) and
// entropy (already bounded).
func TermNamed(name string) (FeatureSpec, error) {
	switch name {
	case FeatLinesAdded, FeatLinesDeleted, FeatFiles, FeatDirectories, FeatSubsystems, FeatAuthorExperience, FeatFilesAge:
		return FeatureSpec{Name: name, Transform: TransformLog1p}, nil
	case FeatFix, FeatEntropy:
		return FeatureSpec{Name: name, Transform: TransformIdentity}, nil
	}
	var known []string
	for _, c := range jitFeatureColumns() {
		known = append(known, c.feature)
	}
	return FeatureSpec{}, fmt.Errorf("%w %q: want one of %s", ErrUnknownTerm, name, strings.Join(known, ", "))
}

// Prior coefficients of the release-time terms, in log-odds.
const (
	// PriorServicesPerLog is the log-odds added per unit of
	// log1p(services touched) above a single service.
	PriorServicesPerLog = 0.35
	// PriorOffHours is added when the release starts outside business hours.
	PriorOffHours = 0.35
	// PriorOnCallGap is added when nobody is on call for the whole release.
	PriorOnCallGap = 0.5
	// PriorExperienceReference is the author experience (earlier changes)
	// taken as the reference for the authorExperience term.
	PriorExperienceReference = 10
)

// ReleaseTimePriors are the terms of the default model that no public
// data set carries. Their coefficients are stated priors (Origin "prior"),
// each with its reasoning in Note; Update refines them from the cluster's
// own outcomes. Each has Std 1, so Coef is the log-odds per unit of the
// transformed value, and Mean is the reference value at which the term
// contributes nothing (one service, business hours, on call covered).
func ReleaseTimePriors() []FeatureSpec {
	return []FeatureSpec{
		{
			Name: FeatServicesTouched, Transform: TransformLog1p, Mean: math.Log1p(1), Std: 1, Coef: PriorServicesPerLog, Origin: OriginPrior,
			Note: "Prior by analogy: a release that spreads over more services (with their transitive dependents) is like a change spreading over more files, " +
				"and every dependent is also exposed. Set near the learned per-unit effect of log1p(files) (0.35 without the files' age term, 0.39 with it). " +
				"Reference: one service; 3 services add 0.24, 10 add 0.60.",
		},
		{
			Name: FeatOffHours, Transform: TransformIdentity, Mean: 0, Std: 1, Coef: PriorOffHours, Origin: OriginPrior,
			Note: "Conservative judgement (odds x1.4). Changes made late at night are more often fix-inducing (Eyolfson, Tan, Lam, MSR 2011) " +
				"and changes made on Fridays more often induce fixes (Sliwerski, Zimmermann, Zeller, MSR 2005); outside business hours fewer people notice and respond.",
		},
		{
			Name: FeatOnCallGap, Transform: TransformIdentity, Mean: 0, Std: 1, Coef: PriorOnCallGap, Origin: OriginPrior,
			Note: "Conservative judgement (odds x1.65): with nobody on call for the whole release a failure that automatic rollback does not catch lasts longer. " +
				"Larger than offHours because it removes the human response altogether.",
		},
		{
			Name: FeatAuthorExperience, Transform: TransformLog1p, Mean: math.Log1p(PriorExperienceReference), Std: 1, Coef: 0, Origin: OriginPrior,
			Note: "No effect until learned: in the public data the author-experience coefficient changes sign between projects (as in Eyolfson et al., MSR 2011, " +
				"where the most experienced PostgreSQL authors were not the least buggy), so the default is 0 and Update learns it from this cluster's outcomes. " +
				"Reference: 10 earlier releases.",
		},
	}
}
