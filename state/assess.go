package state

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/config"
)

// CmdRiskModel replaces the risk model (learned from this cluster's
// outcomes by the leader, deterministically).
const CmdRiskModel Type = "risk.model"

// Assessment is a release's risk score and the plan it chose. The leader
// computes it when the release is submitted (scores are decisions: they
// are recorded with their inputs and the model version).
type Assessment struct {
	ModelVersion string    `json:"modelVersion"`
	Probability  float64   `json:"probability"`
	Level        RiskLevel `json:"level"`
	// Reasons are the top contributions in plain words.
	Reasons []string `json:"reasons"`
	// Score is the full score (every contribution, missing inputs), as
	// analysis/risk encoded it: kept for people, never read back.
	Score json.RawMessage `json:"score"`
	// Features are the inputs, kept so outcomes can train the model.
	Features RiskInputs `json:"features"`
	// ServicesTouched includes the services that depend on the released
	// one, transitively.
	ServicesTouched []string `json:"servicesTouched,omitempty"`
	// PlanSource is "policy" (its explicit steps) or "risk" (derived).
	PlanSource string            `json:"planSource"`
	Plan       []config.StepSpec `json:"plan,omitempty"`
	// ApprovalSteps are plan steps a person must approve before they start.
	ApprovalSteps []int     `json:"approvalSteps,omitempty"`
	At            time.Time `json:"at"`
}

// applyRiskModel replaces the cluster's risk model. The leader proposes
// only a model analysis/risk has validated (risk.ModelFromStored); the
// FSM checks that the record names its version, keeps the one in force
// when the version is the same, and refuses a refit started from a base
// model that an install has replaced since (staleRefit).
func applyRiskModel(s *State, c Command) (*State, any, error) {
	var m RiskModel
	if err := decodePayload(c, &m); err != nil {
		return s, nil, err
	}
	if m.Version == "" {
		return s, nil, fmt.Errorf("%w: a risk model needs a version", ErrBadPayload)
	}
	if s.RiskModel != nil && s.RiskModel.Version == m.Version {
		return s, nil, nil
	}
	if staleRefit(s, &m) {
		return s, nil, fmt.Errorf("%w: the risk model was refitted from %s, and %s has been installed since",
			ErrConflict, versionName(m.Parent), versionName(s.RiskBaseVersion()))
	}
	next := s.shallow()
	next.RiskModel = &m
	return next, m.Version, nil
}

// NeedsApproval reports whether plan step i must be approved by a person
// because of the release's risk.
func (r *Release) NeedsApproval(step int) bool {
	if r.Status.Assessment == nil {
		return false
	}
	for _, s := range r.Status.Assessment.ApprovalSteps {
		if s == step {
			return true
		}
	}
	return false
}

// ApprovalStepsOrNil is nil-safe access to ApprovalSteps.
func (a *Assessment) ApprovalStepsOrNil() []int {
	if a == nil {
		return nil
	}
	return a.ApprovalSteps
}

// staleRefit reports whether m, refitted by the learner from the base
// model named by its Parent, started from a base that is no longer the
// installed one: the installed base is another model, or the built-in
// model is back in force (RiskBase nil) and m's parent is a model that
// was installed before. A cluster that never installed a model refuses
// nothing, so logs from before risk.install replay as they did.
func staleRefit(s *State, m *RiskModel) bool {
	if s.RiskBase != nil {
		return m.Parent != s.RiskBase.Version
	}
	for _, in := range s.RiskInstalls {
		if in.Version != "" && in.Version == m.Parent {
			return true
		}
	}
	return false
}
