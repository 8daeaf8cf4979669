package risk

import (
	"fmt"

	"github.com/sluicehq/sluice/state"
)

// The replicated state stores risk inputs and models in its own types
// (state.RiskInputs, state.RiskModel), so the log's format does not follow
// this package's Go types; these functions convert.

// Stored is f as the state records it.
func (f Features) Stored() state.RiskInputs { return state.RiskInputs(f) }

// FeaturesFromStored is the inverse of Features.Stored.
func FeaturesFromStored(s state.RiskInputs) Features { return Features(s) }

// Stored is l as the state records it.
func (l Level) Stored() state.RiskLevel { return state.RiskLevel(l) }

// Stored is m as the state records it.
func (m *Model) Stored() *state.RiskModel {
	out := &state.RiskModel{Version: m.Version, Intercept: m.Intercept, TrainedOn: m.TrainedOn,
		Cutoffs: state.RiskCutoffs{Medium: m.Cutoffs.Medium, High: m.Cutoffs.High},
		Samples: m.Samples, Failures: m.Failures, Parent: m.Parent}
	for _, f := range m.Features {
		out.Terms = append(out.Terms, state.RiskTerm{Name: f.Name, Transform: f.Transform, Mean: f.Mean, Std: f.Std,
			Coef: f.Coef, Origin: string(f.Origin), Note: f.Note})
	}
	return out
}

// ModelFromStored is the model a stored record describes, validated
// (errors wrap ErrInvalidModel).
func ModelFromStored(s *state.RiskModel) (*Model, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: no model", ErrInvalidModel)
	}
	m := &Model{Version: s.Version, Intercept: s.Intercept, TrainedOn: s.TrainedOn,
		Cutoffs: Cutoffs{Medium: s.Cutoffs.Medium, High: s.Cutoffs.High},
		Samples: s.Samples, Failures: s.Failures, Parent: s.Parent}
	for _, t := range s.Terms {
		m.Features = append(m.Features, FeatureSpec{Name: t.Name, Transform: t.Transform, Mean: t.Mean, Std: t.Std,
			Coef: t.Coef, Origin: Origin(t.Origin), Note: t.Note})
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// InForce is the model a cluster scores with: its learned one, or the
// built-in model when it has none (or, which the leader never proposes,
// one that does not validate).
func InForce(st *state.State) *Model {
	if st.RiskModel != nil {
		if m, err := ModelFromStored(st.RiskModel); err == nil {
			return m
		}
	}
	return DefaultModel()
}
