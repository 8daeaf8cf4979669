package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// VersionShare is one version's share of a service's traffic.
type VersionShare struct {
	Version string `json:"version"`
	Weight  uint32 `json:"weight"`
}

// ServiceLive is how a service's traffic is split now and what moves it.
type ServiceLive struct {
	// Declared is the version the service declares ("" for static
	// weights); Stable the one that gets all traffic when nothing moves.
	Declared string         `json:"declared,omitempty"`
	Stable   string         `json:"stable"`
	Split    []VersionShare `json:"split"`
	// Release is the release in progress (or the train member), if any.
	Release string      `json:"release,omitempty"`
	Phase   state.Phase `json:"phase,omitempty"`
	Step    int         `json:"step,omitempty"`
	Steps   int         `json:"steps,omitempty"`
	// Served are the proxy groups recorded as holding the service's
	// config: the first step of its next release waits for them.
	Served []string `json:"served,omitempty"`
}

func liveServices(st *state.State, now time.Time) map[string]ServiceLive {
	out := map[string]ServiceLive{}
	for _, name := range st.ServiceNames() {
		svc := st.Services[name]
		l := ServiceLive{Declared: svc.Spec.Version, Stable: st.StableVersion(name), Served: st.ServedBy(name, now)}
		for i, w := range st.RouteWeights(name) {
			l.Split = append(l.Split, VersionShare{Version: svc.Spec.Versions[i].Name, Weight: w})
		}
		if r := st.Releases[st.Active[name]]; r != nil {
			l.Release, l.Phase, l.Step, l.Steps = r.Name(), r.Status.Phase, r.Status.Step, len(r.Status.Plan)
		}
		out[name] = l
	}
	return out
}

// UndoRequest is the body of POST /v1/services/{name}/undo.
type UndoRequest struct {
	// Now sends the traffic back at once (approver role) instead of in a
	// new, analysed release.
	Now    bool   `json:"now,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// UndoResponse says what an undo did: the plan, and the release it
// started unless it was done at once.
type UndoResponse struct {
	Plan    state.UndoPlan `json:"plan"`
	Now     bool           `json:"now,omitempty"`
	Release *state.Release `json:"release,omitempty"`
}

// undo sends a service back to the version before its last promotion:
// by default as a new release, analysed like any other; with now, at
// once, recorded with who asked.
func (s *Server) undo(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req UndoRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &req); err != nil {
			s.writeError(w, err)
			return
		}
	}
	need, what := RoleDeployer, "undo"
	if req.Now {
		need, what = RoleApprover, "undo --now"
	}
	if id := identity(r); !id.Has(need) {
		s.writeError(w, fmt.Errorf("%w: %s of a service needs the %s role (%s has %v)", ErrForbidden, what, need, id.User, id.Roles))
		return
	}
	st, now := s.cluster.State(), s.opts.Now()
	plan, err := state.PlanUndo(st, name)
	if err != nil {
		s.writeError(w, err)
		return
	}
	reason := strings.TrimSpace(req.Reason)
	if req.Now {
		if _, _, err := s.proposeAt(r, now, state.CmdUndo, &state.UndoService{UndoPlan: plan, Reason: reason}); err != nil {
			s.writeError(w, err)
			return
		}
		s.log.Info("service undone at once", "actor", actor(r), "service", name, "from", plan.From, "to", plan.To, "release", plan.Release)
		writeJSON(w, http.StatusOK, UndoResponse{Plan: plan, Now: true})
		return
	}
	desc := fmt.Sprintf("undo of Release %s: back from %s to %s", plan.Release, plan.From, plan.To)
	if reason != "" {
		desc += ": " + reason
	}
	rel := &config.Release{APIVersion: config.APIVersion, Kind: config.KindRelease,
		Metadata: config.Metadata{Name: state.ReleaseName(name, "undo-"+plan.To, now)},
		Spec:     config.ReleaseSpec{Service: name, From: plan.From, To: plan.To, Change: &config.ChangeDescriptor{Description: desc}}}
	docs := []config.Document{{Kind: config.KindRelease, Name: rel.Metadata.Name, Release: rel}}
	if err := config.Check(docs, st); err != nil {
		s.writeError(w, err)
		return
	}
	if _, _, err := s.proposeAt(r, now, state.CmdApply, state.ApplyPayload{Documents: docs, Assessments: s.assess(docs, nil, now), Defaults: config.CurrentDefaults}); err != nil {
		s.writeError(w, err)
		return
	}
	s.log.Info("undo release started", "actor", actor(r), "service", name, "release", rel.Metadata.Name, "from", plan.From, "to", plan.To)
	writeJSON(w, http.StatusCreated, UndoResponse{Plan: plan, Release: s.cluster.State().Releases[rel.Metadata.Name]})
}
