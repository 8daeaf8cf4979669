package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/sluicehq/sluice/analysis/risk"
	"github.com/sluicehq/sluice/state"
)

// RiskModelResponse is GET /v1/risk/model: the model in force, the base
// the learner starts from and the installs so far.
type RiskModelResponse struct {
	// Version is the version of the model in force; Stored the stored
	// version the guard of an install compares ("" for the built-in model).
	Version string `json:"version"`
	Stored  string `json:"stored"`
	// BuiltIn says the built-in model is in force.
	BuiltIn bool `json:"builtIn"`
	// Model is the model in force.
	Model *state.RiskModel `json:"model"`
	// Base is the version of the installed base model ("" for the
	// built-in model).
	Base     string              `json:"base"`
	Installs []state.RiskInstall `json:"installs,omitempty"`
}

// RiskInstallRequest is POST /v1/risk/model.
type RiskInstallRequest struct {
	// Model is the model to install, as `sluice risk train` writes it;
	// Default returns to the built-in model instead.
	Model   *state.RiskModel `json:"model,omitempty"`
	Default bool             `json:"default,omitempty"`
	// ExpectVersion is RiskModelResponse.Stored as the caller saw it.
	ExpectVersion string `json:"expectVersion"`
	// Source says where the model came from (a file name).
	Source string `json:"source,omitempty"`
}

func riskModelResponse(st *state.State) RiskModelResponse {
	m := risk.InForce(st)
	out := RiskModelResponse{Version: m.Version, Stored: st.RiskModelVersion(), BuiltIn: st.RiskModel == nil,
		Model: m.Stored(), Installs: st.RiskInstalls}
	if st.RiskBase != nil {
		out.Base = st.RiskBase.Version
	}
	return out
}

func (s *Server) riskModel(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, riskModelResponse(s.cluster.State()))
}

// installRiskModel validates the model with analysis/risk (the checks a
// stored model passes) and proposes it, guarded by the version the caller
// saw in force.
func (s *Server) installRiskModel(w http.ResponseWriter, r *http.Request) {
	var req RiskInstallRequest
	if err := decodeJSON(r, &req); err != nil {
		s.writeError(w, err)
		return
	}
	p := state.InstallRiskModel{ExpectVersion: req.ExpectVersion, Source: req.Source}
	switch {
	case req.Default && req.Model != nil:
		s.writeError(w, fmt.Errorf("%w: model and default: name a model or ask for the built-in one, not both", errBadRequest))
		return
	case req.Default:
		if p.Source == "" {
			p.Source = "default"
		}
	case req.Model == nil:
		s.writeError(w, fmt.Errorf("%w: model: missing (or set default to return to the built-in model)", errBadRequest))
		return
	default:
		m, err := risk.ModelFromStored(req.Model)
		if err != nil {
			s.writeError(w, fmt.Errorf("%w: model: %w", errBadRequest, err))
			return
		}
		p.Model = m.Stored()
	}
	res, _, err := s.propose(r, state.CmdRiskInstall, &p)
	if err != nil {
		s.writeError(w, err)
		return
	}
	in, _ := res.(state.RiskInstall)
	s.log.Info("risk model installed", "actor", actor(r), "version", in.Version, "parent", in.Parent, "source", in.Source)
	writeJSON(w, http.StatusOK, riskModelResponse(s.cluster.State()))
}

// RiskModel returns the model in force and its history.
func (c *Client) RiskModel(ctx context.Context) (*RiskModelResponse, error) {
	var out RiskModelResponse
	if err := c.do(ctx, http.MethodGet, "/v1/risk/model", nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// InstallRiskModel installs a model (or the built-in one).
func (c *Client) InstallRiskModel(ctx context.Context, req RiskInstallRequest) (*RiskModelResponse, error) {
	b, _ := json.Marshal(req)
	var out RiskModelResponse
	if err := c.do(ctx, http.MethodPost, "/v1/risk/model", bytes.NewReader(b), "application/json", &out); err != nil {
		return nil, err
	}
	return &out, nil
}
