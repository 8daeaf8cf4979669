package api

import (
	"errors"
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

// releaseVerbs are the actions a person may take on a release.
const releaseVerbs = "pause, resume, promote, rollback, abort, approve"

// maxActionAttempts bounds how often a person's action is decided again
// because the release moved meanwhile.
const maxActionAttempts = 3

// verbRole is the role a person's action on a release needs.
func verbRole(verb string) (Role, bool) {
	switch verb {
	case "pause", "resume", "promote", "rollback", "abort":
		return RoleDeployer, true
	case "approve":
		return RoleApprover, true
	}
	return "", false
}

// manualEvent is the event a person's action on a release is; msg is the
// recorded message and who the person.
func manualEvent(verb string, rel *state.Release, req ActionRequest, msg, who string) (state.ReleaseEvent, error) {
	on := state.OnRelease(rel, msg)
	switch verb {
	case "pause":
		return &state.Pause{On: on}, nil
	case "resume":
		return &state.Resume{On: on}, nil
	case "promote":
		return &state.Promote{On: on}, nil
	case "rollback":
		return &state.Rollback{On: on}, nil
	case "abort":
		return &state.Abort{On: on}, nil
	}
	reason := strings.TrimSpace(req.Reason)
	switch {
	case req.OverrideGate != "":
		if reason == "" {
			return nil, fmt.Errorf("%w: overriding a quality gate needs a reason (--reason)", errBadRequest)
		}
		on.Message = fmt.Sprintf("quality gate %s overridden by %s: %s", req.OverrideGate, who, reason)
		return &state.OverrideGate{On: on, Gate: req.OverrideGate}, nil
	case req.StartNow:
		on.Message = fmt.Sprintf("start now approved by %s", who)
		if reason != "" {
			on.Message += ": " + reason
		}
		return &state.ApproveStartNow{On: on}, nil
	}
	return &state.ApproveStep{On: on, Step: approvalStep(rel, req.Step)}, nil
}

// releaseAction applies a person's action on a release. The decision is
// taken against the release as this (leader) node sees it and recorded
// with who asked and why.
func (s *Server) releaseAction(w http.ResponseWriter, r *http.Request) {
	name, verb := r.PathValue("name"), r.PathValue("action")
	need, ok := verbRole(verb)
	if !ok {
		s.writeError(w, fmt.Errorf("%w: unknown action %q (known: pause, resume, promote, rollback, abort, approve)", errBadRequest, verb))
		return
	}
	if id := identity(r); !id.Has(need) {
		s.writeError(w, fmt.Errorf("%w: %s of a release needs the %s role (%s has %v)", ErrForbidden, verb, need, id.User, id.Roles))
		return
	}
	req, err := actionRequest(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	// A person acts on the release as it is when the action applies: when
	// the controller moved it in between (the guard says ErrConflict), the
	// action is decided again on the new state.
	for attempt := 1; ; attempt++ {
		rel, ok := s.cluster.State().Releases[name]
		if !ok {
			s.writeError(w, fmt.Errorf("%w: Release %q", state.ErrNotFound, name))
			return
		}
		e, err := manualEvent(verb, rel, req, actionMessage(r, verb, req.Reason), actor(r))
		if err != nil {
			s.writeError(w, err)
			return
		}
		_, _, err = s.propose(r, e.Type(), e)
		if err == nil {
			break
		}
		if !errors.Is(err, state.ErrConflict) || attempt == maxActionAttempts {
			s.writeError(w, err)
			return
		}
	}
	s.log.Info("release action", "actor", actor(r), "release", name, "action", verb, "reason", req.Reason)
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
	Hold    *state.Hold `json:"hold,omitempty"`
	Reason  string      `json:"reason,omitempty"`
}

func summarize(r *state.Release) ReleaseSummary {
	return ReleaseSummary{Name: r.Name(), Service: r.Service(), From: r.Status.From, To: r.Spec.Spec.To,
		Phase: r.Status.Phase, Step: r.Status.Step, Steps: len(r.Status.Plan), Weight: r.Status.Weight,
		Hold: r.Status.Hold, Reason: r.Status.Reason}
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
	now := s.opts.Now()
	if _, _, err := s.proposeAt(r, now, state.CmdApply, state.ApplyPayload{Documents: docs, Assessments: s.assess(docs, nil, now), Defaults: config.CurrentDefaults}); err != nil {
		s.writeError(w, err)
		return
	}
	s.log.Info("release created", "actor", actor(r), "release", rel.Metadata.Name, "service", rel.Spec.Service, "to", rel.Spec.To)
	writeJSON(w, http.StatusCreated, s.cluster.State().Releases[rel.Metadata.Name])
}

// approvalStep is the plan index an approval is for: the one asked for,
// else the step an exposure-budget or risk hold waits for, else the next
// step.
func approvalStep(r *state.Release, step int) int {
	switch {
	case step > 0:
		return step - 1
	case r.Status.Exposure != nil && r.WaitsForStepApproval():
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
