package config

// Release asks Sluice to move a service from one version to another.
// Once created its spec does not change; its progress is status, kept in
// the replicated state.
type Release struct {
	APIVersion string      `json:"apiVersion"`
	Kind       Kind        `json:"kind"`
	Metadata   Metadata    `json:"metadata"`
	Spec       ReleaseSpec `json:"spec"`
}

// ReleaseSpec is the body of a Release.
type ReleaseSpec struct {
	// Service to release.
	Service string `json:"service"`
	// From is the version traffic leaves; empty means the current stable
	// version (the one with the most static weight).
	From string `json:"from,omitempty"`
	// To is the version traffic moves to.
	To string `json:"to"`
	// Policy names the ReleasePolicy to use instead of the one covering
	// the service.
	Policy string `json:"policy,omitempty"`
	// Change describes what is being released (used for risk scoring).
	Change *ChangeDescriptor `json:"change,omitempty"`
	// Gates are the results of quality gates run before the release.
	Gates []GateResult `json:"gates,omitempty"`
}

// ChangeDescriptor describes the change a release ships. Every field is
// optional; what is missing is reported, not guessed.
type ChangeDescriptor struct {
	LinesAdded       *int     `json:"linesAdded,omitempty" max:"1000000000"`
	LinesDeleted     *int     `json:"linesDeleted,omitempty" max:"1000000000"`
	Files            *int     `json:"files,omitempty" max:"1000000000"`
	Directories      *int     `json:"directories,omitempty" max:"1000000000"`
	Subsystems       *int     `json:"subsystems,omitempty" max:"1000000000"`
	ServicesTouched  []string `json:"servicesTouched,omitempty"`
	Entropy          *float64 `json:"entropy,omitempty" max:"1000"`
	AuthorExperience *int     `json:"authorExperience,omitempty" max:"1000000000"`
	// FilesAge is the mean age, in days, of the touched files' last change
	// before this one (the change history's "age"): recently changed files
	// are the riskier.
	FilesAge    *float64 `json:"filesAge,omitempty" max:"1000000"`
	Author      string   `json:"author,omitempty"`
	Fix         *bool    `json:"fix,omitempty"`
	Commit      string   `json:"commit,omitempty"`
	Description string   `json:"description,omitempty"`
}

// GateResult is the outcome of one quality gate (tests, scans, ...).
type GateResult struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	// Required gates must pass before the release may start.
	Required bool   `json:"required,omitempty"`
	URL      string `json:"url,omitempty"`
}
