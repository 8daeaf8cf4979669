package state

import (
	"fmt"
	"time"
)

// CmdRiskInstall installs a risk model (one trained outside the cluster,
// or the built-in one) as the cluster's base model, guarded by the
// version the caller saw in force.
const CmdRiskInstall Type = "risk.install"

// MaxRiskInstalls is how many installs State.RiskInstalls keeps (the
// oldest are dropped).
const MaxRiskInstalls = 100

// InstallRiskModel is the payload of CmdRiskInstall. The API proposes only
// a model analysis/risk has validated (risk.ModelFromStored).
type InstallRiskModel struct {
	// Model is the model to install; nil returns to analysis/risk's
	// built-in model.
	Model *RiskModel `json:"model,omitempty"`
	// ExpectVersion is the version of the stored model the caller saw in
	// force (State.RiskModelVersion: "" for the built-in model). The
	// install is refused with ErrConflict when another model was installed
	// or learned since.
	ExpectVersion string `json:"expectVersion"`
	// Source says where the model came from (a file name, "default").
	Source string `json:"source,omitempty"`
}

// RiskInstall records one install: who, when, what and on top of what.
type RiskInstall struct {
	Seq   int    `json:"seq"`
	Index uint64 `json:"index"`
	// Time and Actor are the command's.
	Time  time.Time `json:"time"`
	Actor string    `json:"actor,omitempty"`
	// Version is the installed model's ("" for the built-in model);
	// Parent the version in force before ("" for the built-in model).
	Version string `json:"version"`
	Parent  string `json:"parent"`
	Source  string `json:"source,omitempty"`
	// TrainedOn is the installed model's description of its data.
	TrainedOn string `json:"trainedOn,omitempty"`
}

// RiskModelVersion is the version of the stored model in force: "" when
// the cluster scores with analysis/risk's built-in model.
func (s *State) RiskModelVersion() string {
	if s.RiskModel == nil {
		return ""
	}
	return s.RiskModel.Version
}

func (p *InstallRiskModel) apply(t *tx) (any, error) {
	cur := t.cur()
	if p.Model != nil && (p.Model.Version == "" || len(p.Model.Terms) == 0) {
		return nil, fmt.Errorf("%w: an installed risk model needs a version and terms", ErrBadPayload)
	}
	if got := cur.RiskModelVersion(); got != p.ExpectVersion {
		return nil, fmt.Errorf("%w: the risk model in force is %s, the install expected %s",
			ErrConflict, versionName(got), versionName(p.ExpectVersion))
	}
	in := RiskInstall{Index: t.index, Time: t.time, Actor: t.actor,
		Parent: cur.RiskModelVersion(), Source: p.Source}
	next := t.write()
	if p.Model != nil {
		m := *p.Model
		next.RiskModel, next.RiskBase = &m, &m
		in.Version, in.TrainedOn = m.Version, m.TrainedOn
	} else {
		next.RiskModel, next.RiskBase = nil, nil
	}
	list := cur.RiskInstalls
	in.Seq = 1
	if n := len(list); n > 0 {
		in.Seq = list[n-1].Seq + 1
	}
	if len(list) >= MaxRiskInstalls {
		list = list[len(list)-MaxRiskInstalls+1:]
	}
	next.RiskInstalls = append(append([]RiskInstall(nil), list...), in)
	return in, nil
}

// RiskBaseVersion is the version of the installed base model: "" when
// the learner starts from analysis/risk's built-in model.
func (s *State) RiskBaseVersion() string {
	if s.RiskBase == nil {
		return ""
	}
	return s.RiskBase.Version
}

// versionName names a stored model version in messages.
func versionName(v string) string {
	if v == "" {
		return "the built-in model"
	}
	return fmt.Sprintf("%q", v)
}
