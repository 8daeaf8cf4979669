package config

import (
	"fmt"
)

// RollbackMode says how a release that fails its analysis sends traffic
// back to the stable version.
type RollbackMode string

// Rollback modes.
const (
	// RollbackInstant moves all traffic back at once (the default).
	RollbackInstant RollbackMode = "instant"
	// RollbackGradual steps traffic back over several steps with a short
	// bake each, for a stable version that cannot take all traffic at
	// once; a burn that worsens meanwhile switches to instant.
	RollbackGradual RollbackMode = "gradual"
)

// RollbackSpec is a ReleasePolicy's rollback speed. docs/strategies.md
// ("Gradual rollback") explains it.
type RollbackSpec struct {
	// Mode is instant (default) or gradual.
	Mode RollbackMode `json:"mode,omitempty"`
	// Steps is how many steps a gradual rollback takes at least (default
	// DefaultRollbackSteps); more when MaxStepPercent needs them.
	Steps int `json:"steps,omitempty"`
	// Bake is how long each step back holds before the next (default
	// DefaultRollbackBake).
	Bake Duration `json:"bake,omitempty"`
	// MaxStepPercent is the largest share of all traffic (percentage
	// points) one step moves back onto the stable version; 0 sets no
	// limit beyond Steps.
	MaxStepPercent uint32 `json:"maxStepPercent,omitempty"`
	// WorsenFactor says when a burn worsens during a gradual rollback: the
	// canary's short-window burn rate above WorsenFactor times the burn
	// that started the rollback, or the lowest burn-rule threshold when
	// that is higher (the rule is controller.WorseBar), switches to an
	// instant rollback (default DefaultRollbackWorsenFactor).
	WorsenFactor float64 `json:"worsenFactor,omitempty"`
}

// Gradual reports whether the policy rolls back gradually.
func (s *RollbackSpec) Gradual() bool { return s != nil && s.Mode == RollbackGradual }

// checkRollback applies the rules of spec.rollback.
func checkRollback(r *reporter, s *RollbackSpec) {
	if s == nil {
		return
	}
	switch s.Mode {
	case "", RollbackInstant, RollbackGradual:
	default:
		r.addf("spec.rollback.mode", "must be %q or %q, got %q", RollbackInstant, RollbackGradual, s.Mode)
		return
	}
	if !s.Gradual() {
		fields := []struct {
			name string
			set  bool
		}{{"steps", s.Steps != 0}, {"bake", s.Bake != 0}, {"maxStepPercent", s.MaxStepPercent != 0}, {"worsenFactor", s.WorsenFactor != 0}}
		for _, f := range fields {
			if f.set {
				r.addf("spec.rollback."+f.name, "applies to mode: gradual only; an instant rollback moves all traffic at once")
			}
		}
		return
	}
	if s.Steps < 0 || s.Steps > MaxRollbackSteps {
		r.addf("spec.rollback.steps", "must be 1-%d when set, got %d", MaxRollbackSteps, s.Steps)
	}
	if b := s.Bake.D(); b != 0 && (b < MinRollbackBake || b > MaxRollbackBake) {
		r.addf("spec.rollback.bake", "must be %s-%s when set, got %s", MinRollbackBake, MaxRollbackBake, b)
	}
	if s.MaxStepPercent > TotalWeight {
		r.addf("spec.rollback.maxStepPercent", "must be 1-%d percentage points when set, got %d", TotalWeight, s.MaxStepPercent)
	}
	if f := s.WorsenFactor; f != 0 && !(f >= 1 && f <= MaxRollbackWorsenFactor) {
		r.addf("spec.rollback.worsenFactor", "must be 1-%d when set (a factor of the burn that started the rollback), got %v", MaxRollbackWorsenFactor, f)
	}
}

// RollbackPlan is the new version's weight at each step of a gradual
// rollback from weight w, the last one 0: at least s.Steps steps, more
// when s.MaxStepPercent needs them, at most one per percentage point; each
// step moves at most s.MaxStepPercent points (when set) and the steps
// differ by at most one point. s must hold its defaults.
func RollbackPlan(w uint32, s RollbackSpec) []uint32 {
	if w == 0 {
		return []uint32{0}
	}
	n := uint32(max(s.Steps, 1))
	if m := s.MaxStepPercent; m > 0 {
		n = max(n, (w+m-1)/m)
	}
	n = min(n, w)
	out := make([]uint32, n)
	for i := range n {
		out[i] = w - (i+1)*w/n
	}
	return out
}

// RollbackPlanText renders a rollback plan for messages: "34% -> 17% -> 0%".
func RollbackPlanText(ws []uint32) string {
	s := ""
	for i, w := range ws {
		if i > 0 {
			s += " -> "
		}
		s += fmt.Sprintf("%d%%", w)
	}
	return s
}
