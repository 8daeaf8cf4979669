package risk

import (
	"slices"
	"time"

	"github.com/sluicehq/sluice/config"
)

// Feature names. They are the keys of FeatureSpec.Name and the words a
// Score uses to say what it could not use ("missing: entropy, files").
const (
	FeatLinesAdded       = "linesAdded"
	FeatLinesDeleted     = "linesDeleted"
	FeatFiles            = "files"
	FeatDirectories      = "directories"
	FeatSubsystems       = "subsystems"
	FeatEntropy          = "entropy"
	FeatAuthorExperience = "authorExperience"
	FeatFix              = "fix"
	FeatFilesAge         = "filesAge"
	FeatServicesTouched  = "servicesTouched"
	FeatOffHours         = "offHours"
	FeatOnCallGap        = "onCallGap"
)

// KnownFeatures lists every feature a model may use, in a fixed order.
func KnownFeatures() []string {
	return []string{
		FeatLinesAdded, FeatLinesDeleted, FeatFiles, FeatDirectories, FeatSubsystems,
		FeatEntropy, FeatAuthorExperience, FeatFix, FeatFilesAge, FeatServicesTouched, FeatOffHours, FeatOnCallGap,
	}
}

func isKnownFeature(name string) bool {
	return slices.Contains(KnownFeatures(), name)
}

// Business hours used for the offHours feature: Monday to Friday, from
// 09:00 up to (not including) 18:00, in the policy's time zone.
const (
	BusinessStartHour = 9
	BusinessEndHour   = 18
)

// Features are the inputs of a risk score. Every field is optional: a nil
// field is missing, is reported by the score, and contributes nothing
// (it is taken at the model's reference value, see Model.Score).
type Features struct {
	// Change metrics, as in config.ChangeDescriptor.
	LinesAdded   *int `json:"linesAdded,omitempty"`
	LinesDeleted *int `json:"linesDeleted,omitempty"`
	Files        *int `json:"files,omitempty"`
	Directories  *int `json:"directories,omitempty"`
	Subsystems   *int `json:"subsystems,omitempty"`
	// Entropy is the change entropy (Shannon entropy, in bits, of how the
	// modified lines are spread over the files).
	Entropy *float64 `json:"entropy,omitempty"`
	// AuthorExperience is the number of earlier changes (or releases) by
	// the same author.
	AuthorExperience *int `json:"authorExperience,omitempty"`
	// FilesAge is the mean number of days since the touched files were
	// last changed (the change history's age): recently changed files are
	// the riskier.
	FilesAge *float64 `json:"filesAge,omitempty"`
	// Fix says whether the change fixes a defect.
	Fix *bool `json:"fix,omitempty"`

	// Release-time context the caller computes.

	// ServicesTouched counts the services the release changes, including
	// the services that depend on them transitively (at least 1).
	ServicesTouched *int `json:"servicesTouched,omitempty"`
	// PlannedStart is when the release is planned to start, expressed in
	// the policy's time zone (t.In(loc)); its weekday and hour decide
	// offHours. OffHours, when set, is used instead (for a policy with its
	// own business calendar).
	PlannedStart *time.Time `json:"plannedStart,omitempty"`
	OffHours     *bool      `json:"offHours,omitempty"`
	// OnCallCovered says whether someone is on call for the whole expected
	// duration of the release.
	OnCallCovered *bool `json:"onCallCovered,omitempty"`
}

// Context is what the caller knows about a release beyond its change
// descriptor.
type Context struct {
	// ServicesTouched including transitive dependents.
	ServicesTouched *int
	// AuthorExperience replaces the descriptor's value when set (for
	// example the author's count of earlier releases in this cluster).
	AuthorExperience *int
	// PlannedStart in the policy's time zone.
	PlannedStart *time.Time
	// OffHours overrides the business-hours rule when set.
	OffHours *bool
	// OnCallCovered: someone is on call for the whole expected duration.
	OnCallCovered *bool
}

// NewFeatures builds the features of a release from its change descriptor
// (which may be nil) and the context the caller computed.
func NewFeatures(cd *config.ChangeDescriptor, ctx Context) Features {
	var f Features
	if cd != nil {
		f.LinesAdded = cd.LinesAdded
		f.LinesDeleted = cd.LinesDeleted
		f.Files = cd.Files
		f.Directories = cd.Directories
		f.Subsystems = cd.Subsystems
		f.Entropy = cd.Entropy
		f.AuthorExperience = cd.AuthorExperience
		f.Fix = cd.Fix
		f.FilesAge = cd.FilesAge
	}
	if ctx.AuthorExperience != nil {
		f.AuthorExperience = ctx.AuthorExperience
	}
	f.ServicesTouched = ctx.ServicesTouched
	f.PlannedStart = ctx.PlannedStart
	f.OffHours = ctx.OffHours
	f.OnCallCovered = ctx.OnCallCovered
	return f
}

// IsOffHours reports whether t (already in the policy's time zone) falls
// outside Monday–Friday 09:00–18:00.
func IsOffHours(t time.Time) bool {
	switch t.Weekday() {
	case time.Saturday, time.Sunday:
		return true
	}
	return t.Hour() < BusinessStartHour || t.Hour() >= BusinessEndHour
}

// rawValue is one feature's value before the model's transform.
type rawValue struct {
	x       float64
	present bool
	valid   bool
	// when is kept for the offHours text.
	when *time.Time
}

func intValue(p *int) rawValue {
	if p == nil {
		return rawValue{}
	}
	return rawValue{x: float64(*p), present: true, valid: *p >= 0}
}

func floatValue(p *float64) rawValue {
	if p == nil {
		return rawValue{}
	}
	return rawValue{x: *p, present: true, valid: finite(*p) && *p >= 0}
}

func boolValue(p *bool) rawValue {
	if p == nil {
		return rawValue{}
	}
	x := 0.0
	if *p {
		x = 1
	}
	return rawValue{x: x, present: true, valid: true}
}

// value extracts one feature. A present but impossible value (negative
// count, NaN, a services count of 0) is reported invalid.
func (f Features) value(name string) rawValue {
	switch name {
	case FeatLinesAdded:
		return intValue(f.LinesAdded)
	case FeatLinesDeleted:
		return intValue(f.LinesDeleted)
	case FeatFiles:
		return intValue(f.Files)
	case FeatDirectories:
		return intValue(f.Directories)
	case FeatSubsystems:
		return intValue(f.Subsystems)
	case FeatEntropy:
		return floatValue(f.Entropy)
	case FeatFilesAge:
		return floatValue(f.FilesAge)
	case FeatAuthorExperience:
		return intValue(f.AuthorExperience)
	case FeatFix:
		return boolValue(f.Fix)
	case FeatServicesTouched:
		v := intValue(f.ServicesTouched)
		if v.present && v.x < 1 {
			v.valid = false
		}
		return v
	case FeatOffHours:
		if f.OffHours != nil {
			v := boolValue(f.OffHours)
			v.when = f.PlannedStart
			return v
		}
		if f.PlannedStart == nil {
			return rawValue{}
		}
		off := IsOffHours(*f.PlannedStart)
		v := boolValue(&off)
		v.when = f.PlannedStart
		return v
	case FeatOnCallGap:
		if f.OnCallCovered == nil {
			return rawValue{}
		}
		gap := !*f.OnCallCovered
		return boolValue(&gap)
	}
	return rawValue{}
}
