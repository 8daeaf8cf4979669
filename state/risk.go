package state

import "time"

// The stored forms of a risk assessment and of the cluster's risk model.
// state owns them, not analysis/risk: the Raft log and snapshots must not
// change shape when the model's Go types do. analysis/risk converts
// (risk.Features.Stored, risk.ModelFromStored, ...); RiskInputs mirrors
// risk.Features field for field, so a change there stops the conversion
// from compiling instead of silently changing the log.

// RiskLevel is a release's coarse risk class.
type RiskLevel string

// Risk levels.
const (
	RiskLow    RiskLevel = "low"
	RiskMedium RiskLevel = "medium"
	RiskHigh   RiskLevel = "high"
)

// RiskInputs are the inputs of a risk score, as recorded with the
// assessment. Every field is optional (nil is missing).
type RiskInputs struct {
	LinesAdded       *int       `json:"linesAdded,omitempty"`
	LinesDeleted     *int       `json:"linesDeleted,omitempty"`
	Files            *int       `json:"files,omitempty"`
	Directories      *int       `json:"directories,omitempty"`
	Subsystems       *int       `json:"subsystems,omitempty"`
	Entropy          *float64   `json:"entropy,omitempty"`
	AuthorExperience *int       `json:"authorExperience,omitempty"`
	FilesAge         *float64   `json:"filesAge,omitempty"`
	Fix              *bool      `json:"fix,omitempty"`
	ServicesTouched  *int       `json:"servicesTouched,omitempty"`
	PlannedStart     *time.Time `json:"plannedStart,omitempty"`
	OffHours         *bool      `json:"offHours,omitempty"`
	OnCallCovered    *bool      `json:"onCallCovered,omitempty"`
}

// RiskModel is a logistic risk model as stored: its version (a content
// hash of what changes a score), its terms, intercept and cut-offs, and
// where it came from.
type RiskModel struct {
	Version   string      `json:"version"`
	Terms     []RiskTerm  `json:"features"`
	Intercept float64     `json:"intercept"`
	Cutoffs   RiskCutoffs `json:"cutoffs"`
	TrainedOn string      `json:"trainedOn"`
	Samples   int         `json:"samples,omitempty"`
	Failures  int         `json:"failures,omitempty"`
	Parent    string      `json:"parent,omitempty"`
}

// RiskTerm is one term of a stored model: Coef * (transform(x) - Mean) / Std.
type RiskTerm struct {
	Name      string  `json:"name"`
	Transform string  `json:"transform"`
	Mean      float64 `json:"mean"`
	Std       float64 `json:"std"`
	Coef      float64 `json:"coef"`
	Origin    string  `json:"origin"`
	Note      string  `json:"note,omitempty"`
}

// RiskCutoffs are the probabilities at which a score becomes medium or
// high risk.
type RiskCutoffs struct {
	Medium float64 `json:"medium"`
	High   float64 `json:"high"`
}
