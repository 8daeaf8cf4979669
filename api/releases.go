package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// ActionRequest is the body of a manual release action.
type ActionRequest struct {
	Reason string `json:"reason,omitempty"`
	// Step (1-based) is the plan step an approval is for; 0 means the step
	// the release is waiting to enter.
	Step int `json:"step,omitempty"`
	// OverrideGate approves past a failed required quality gate; it needs
	// a reason.
	OverrideGate string `json:"overrideGate,omitempty"`
	// StartNow approves starting outside the release window.
	StartNow bool `json:"startNow,omitempty"`
}

// manualAction maps a URL verb to a release action a person may take.
func manualAction(verb string) (state.Action, bool) {
	switch verb {
	case "pause", "resume", "promote", "rollback", "abort", "approve":
		return state.Action(verb), true
	}
	return "", false
}

// releaseAction applies a person's pause/resume/promote/rollback/abort.
// The decision is taken against the release as this (leader) node sees it
// and recorded with who asked and why.
func (s *Server) releaseAction(w http.ResponseWriter, r *http.Request) {
	name, verb := r.PathValue("name"), r.PathValue("action")
	act, ok := manualAction(verb)
	if !ok {
		s.writeError(w, fmt.Errorf("%w: unknown action %q (known: pause, resume, promote, rollback, abort, approve)", errBadRequest, verb))
		return
	}
	req, err := actionRequest(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	rel, ok := s.cluster.State().Releases[name]
	if !ok {
		s.writeError(w, fmt.Errorf("%w: Release %q", state.ErrNotFound, name))
		return
	}
	need := RoleDeployer
	if act == state.ActApprove {
		need = RoleApprover
		if req.OverrideGate != "" && strings.TrimSpace(req.Reason) == "" {
			s.writeError(w, fmt.Errorf("%w: overriding a quality gate needs a reason (--reason)", errBadRequest))
			return
		}
	}
	if id := identity(r); !id.Has(need) {
		s.writeError(w, fmt.Errorf("%w: %s of a release needs the %s role (%s has %v)", ErrForbidden, verb, need, id.User, id.Roles))
		return
	}
	msg := actionMessage(r, verb, req.Reason)
	u := state.ReleaseUpdate{Name: name, Action: act, ExpectPhase: rel.Status.Phase, ExpectStep: rel.Status.Step, Message: msg}
	if act == state.ActApprove {
		u.ApproveStep = approvalStep(rel, req.Step)
		u.ApproveGate, u.StartNow = req.OverrideGate, req.StartNow
		switch {
		case req.OverrideGate != "":
			u.Message = fmt.Sprintf("quality gate %s overridden by %s: %s", req.OverrideGate, actor(r), strings.TrimSpace(req.Reason))
		case req.StartNow:
			u.Message = fmt.Sprintf("start now approved by %s", actor(r))
			if strings.TrimSpace(req.Reason) != "" {
				u.Message += ": " + strings.TrimSpace(req.Reason)
			}
		}
	}
	if _, _, err := s.propose(r, state.CmdReleaseUpdate, u); err != nil {
		s.writeError(w, err)
		return
	}
	s.log.Info("release action", "actor", actor(r), "release", name, "action", act, "reason", req.Reason)
	writeJSON(w, http.StatusOK, s.cluster.State().Releases[name])
}

// ReleaseSummary is one row of GET /v1/releases.
type ReleaseSummary struct {
	Name    string      `json:"name"`
	Service string      `json:"service"`
	From    string      `json:"from"`
	To      string      `json:"to"`
	Phase   state.Phase `json:"phase"`
	Step    int         `json:"step"`
	Steps   int         `json:"steps"`
	Weight  uint32      `json:"weight"`
	Holding string      `json:"holding,omitempty"`
	Reason  string      `json:"reason,omitempty"`
}

func summarize(r *state.Release) ReleaseSummary {
	return ReleaseSummary{Name: r.Name(), Service: r.Service(), From: r.Status.From, To: r.Spec.Spec.To,
		Phase: r.Status.Phase, Step: r.Status.Step, Steps: len(r.Status.Plan), Weight: r.Status.Weight,
		Holding: r.Status.Holding, Reason: r.Status.Reason}
}

func (s *Server) listReleases(w http.ResponseWriter, _ *http.Request) {
	st := s.cluster.State()
	out := struct {
		Index uint64           `json:"index"`
		Items []ReleaseSummary `json:"items"`
	}{Index: st.Index, Items: []ReleaseSummary{}}
	for _, n := range st.ReleaseNames() {
		out.Items = append(out.Items, summarize(st.Releases[n]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getRelease(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	rel, ok := s.cluster.State().Releases[name]
	if !ok {
		s.writeError(w, fmt.Errorf("%w: Release %q", state.ErrNotFound, name))
		return
	}
	writeJSON(w, http.StatusOK, rel)
}

// createRelease starts a release from a compact request (the CLI's
// `release start`): it is a Release document applied like any other.
func (s *Server) createRelease(w http.ResponseWriter, r *http.Request) {
	done, err := s.decoding(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	defer done()
	var rel config.Release
	if err := decodeJSON(r, &rel); err != nil {
		s.writeError(w, err)
		return
	}
	rel.APIVersion, rel.Kind = config.APIVersion, config.KindRelease
	doc := config.Document{Kind: config.KindRelease, Name: rel.Metadata.Name, Release: &rel}
	config.ApplyDefaults(&doc)
	if err := config.Check([]config.Document{doc}, s.cluster.State()); err != nil {
		s.writeError(w, err)
		return
	}
	docs := []config.Document{doc}
	if _, _, err := s.propose(r, state.CmdApply, state.ApplyPayload{Documents: docs, Assessments: s.assess(docs)}); err != nil {
		s.writeError(w, err)
		return
	}
	s.log.Info("release created", "actor", actor(r), "release", rel.Metadata.Name, "service", rel.Spec.Service, "to", rel.Spec.To)
	writeJSON(w, http.StatusCreated, s.cluster.State().Releases[rel.Metadata.Name])
}

// approvalStep is the plan index an approval is for: the one asked for,
// else the step an exposure-budget hold waits for, else the next step.
func approvalStep(r *state.Release, step int) int {
	switch {
	case step > 0:
		return step - 1
	case r.Status.Exposure != nil && r.Status.Holding != "":
		return r.Status.Exposure.Step
	}
	return r.Status.Step + 1
}

// actionRequest reads the optional body of a manual action.
func actionRequest(r *http.Request) (ActionRequest, error) {
	var req ActionRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &req); err != nil {
			return req, err
		}
	}
	return req, nil
}

// actionMessage is the recorded message of a manual action.
func actionMessage(r *http.Request, verb, reason string) string {
	msg := fmt.Sprintf("%s by %s", verb, actor(r))
	if strings.TrimSpace(reason) != "" {
		msg += ": " + strings.TrimSpace(reason)
	}
	return msg
}
