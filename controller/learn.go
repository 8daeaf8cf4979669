package controller

import (
	"strings"

	"github.com/sluicehq/sluice/analysis/risk"
	"github.com/sluicehq/sluice/state"
)

// RiskSamples turns this cluster's ended, assessed releases into training
// samples: a promotion is a success; a rollback decided by the controller
// (the new version burned its budget) is a failure. Aborts and rollbacks
// by a person say nothing certain about the change and are left out.
// Samples are in release-name order, so training is deterministic.
func RiskSamples(st *state.State) []risk.Sample {
	var out []risk.Sample
	for _, name := range st.ReleaseNames() {
		r := st.Releases[name]
		a := r.Status.Assessment
		if a == nil {
			continue
		}
		switch r.Status.Phase {
		case state.PhasePromoted:
			out = append(out, risk.Sample{Features: risk.FeaturesFromStored(a.Features)})
		case state.PhaseRolledBack:
			ds := r.Status.Decisions
			if len(ds) > 0 && strings.HasPrefix(ds[len(ds)-1].Actor, "controller") {
				out = append(out, risk.Sample{Features: risk.FeaturesFromStored(a.Features), Failed: true})
			}
		}
	}
	return out
}

// NextRiskModel is pure: the model learned from every outcome so far, if
// there is enough history and it differs from the one in force. It always
// starts from the base model (RiskBase), so every leader computes the same
// one.
func NextRiskModel(st *state.State) *risk.Model {
	samples := RiskSamples(st)
	cur, base := risk.InForce(st), RiskBase(st)
	// The model in force already learned from these outcomes, from this
	// base (an installed model's own sample count says nothing here).
	if cur.Samples == len(samples) && cur.Parent == base.Version {
		return nil
	}
	m, err := risk.Update(base, samples, risk.TrainOptions{})
	if err != nil || m == nil || m.Version == cur.Version {
		return nil
	}
	return m
}

// RiskBase is the model the learner starts from: the one installed with
// state.CmdRiskInstall, or the built-in model when none is (or, which the
// API never proposes, the installed one does not validate).
func RiskBase(st *state.State) *risk.Model {
	if st.RiskBase != nil {
		if m, err := risk.ModelFromStored(st.RiskBase); err == nil {
			return m
		}
	}
	return risk.DefaultModel()
}
