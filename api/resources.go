package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/controller"
	"github.com/sluicehq/sluice/raft"
	"github.com/sluicehq/sluice/state"
)

// kindOf maps a URL collection name to a kind.
func kindOf(collection string) (config.Kind, error) {
	switch collection {
	case "services", "service", "svc":
		return config.KindService, nil
	case "policies", "policy", "releasepolicies", "releasepolicy":
		return config.KindReleasePolicy, nil
	case "releases", "release":
		return config.KindRelease, nil
	case "trains", "train", "releasetrains", "releasetrain":
		return config.KindReleaseTrain, nil
	case "notifiers", "notifier":
		return config.KindNotifier, nil
	}
	return "", fmt.Errorf("%w %q (known: services, policies, releases, trains, notifiers)", errUnknownKind, collection)
}

// ApplyResponse is the body of a successful apply.
type ApplyResponse struct {
	state.ApplyResult
	// Index is the state index after the apply: the xDS version that
	// carries the change.
	Index uint64 `json:"index"`
}

func (s *Server) apply(w http.ResponseWriter, r *http.Request) {
	done, err := s.decoding(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	defer done()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeError(w, fmt.Errorf("%w: read body: %w", errBadRequest, err))
		return
	}
	file := r.URL.Query().Get("file")
	if file == "" {
		file = "<request>"
	}
	force := r.URL.Query().Get("force") == "true"
	if id := identity(r); force && !id.Has(RoleAdmin) {
		s.writeError(w, fmt.Errorf("%w: forcing static weights needs the admin role (%s has %v)", ErrForbidden, id.User, id.Roles))
		return
	}
	docs, err := config.Parse(file, body)
	if err != nil {
		s.writeError(w, err)
		return
	}
	// Check here, with positions, so the user sees file:line:col; the FSM
	// checks again on every node without them.
	st, now := s.cluster.State(), s.opts.Now()
	if err := config.Check(docs, st); err != nil {
		s.writeError(w, err)
		return
	}
	if err := state.CheckTraffic(st, docs, force); err != nil {
		s.writeError(w, err)
		return
	}
	declared, err := state.DeclaredReleases(st, docs, now)
	if err != nil {
		s.writeError(w, err)
		return
	}
	p := state.ApplyPayload{Documents: docs, Assessments: s.assess(docs, declared, now), Force: force, Defaults: config.CurrentDefaults}
	res, idx, err := s.proposeAt(r, now, state.CmdApply, p)
	if err != nil {
		s.writeError(w, err)
		return
	}
	out := ApplyResponse{Index: idx}
	if ar, ok := res.(state.ApplyResult); ok {
		out.ApplyResult = ar
	}
	s.log.Info("applied", "actor", actor(r), "file", file, "created", out.Created, "updated", out.Updated,
		"started", out.Started, "forced", out.Forced, "index", idx)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	kind, err := kindOf(r.PathValue("kind"))
	if err != nil {
		s.writeError(w, err)
		return
	}
	name := r.PathValue("name")
	_, idx, err := s.propose(r, state.CmdDelete, state.DeletePayload{Kind: kind, Name: name})
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.log.Info("deleted", "actor", actor(r), "kind", kind, "name", name, "index", idx)
	writeJSON(w, http.StatusOK, map[string]any{"deleted": string(kind) + "/" + name, "index": idx})
}

// objects returns every object of a kind, sorted by name.
func objects(st *state.State, kind config.Kind) []any {
	var out []any
	switch kind {
	case config.KindService:
		for _, n := range st.ServiceNames() {
			out = append(out, st.Services[n])
		}
	case config.KindReleasePolicy:
		for _, n := range st.ReleasePolicyNames() {
			out = append(out, st.Policies[n])
		}
	case config.KindNotifier:
		for _, n := range st.NotifierNames() {
			out = append(out, st.Notifiers[n])
		}
	}
	return out
}

// ListResponse is the body of a list request.
type ListResponse struct {
	Kind  config.Kind       `json:"kind"`
	Index uint64            `json:"index"`
	Items []json.RawMessage `json:"items"`
	// Live is, for services, how each one's traffic is split now, by name.
	// Items are the objects as applied.
	Live map[string]ServiceLive `json:"live,omitempty"`
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	kind, err := kindOf(r.PathValue("kind"))
	if err != nil {
		s.writeError(w, err)
		return
	}
	st := s.cluster.State()
	out := ListResponse{Kind: kind, Index: st.Index, Items: []json.RawMessage{}}
	for _, o := range objects(st, kind) {
		b, err := json.Marshal(o)
		if err != nil {
			s.writeError(w, err)
			return
		}
		out.Items = append(out.Items, b)
	}
	if kind == config.KindService {
		out.Live = liveServices(st, s.opts.Now())
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	kind, err := kindOf(r.PathValue("kind"))
	if err != nil {
		s.writeError(w, err)
		return
	}
	name := r.PathValue("name")
	st := s.cluster.State()
	var obj any
	switch kind {
	case config.KindService:
		if v, ok := st.Services[name]; ok {
			obj = v
		}
	case config.KindReleasePolicy:
		if v, ok := st.Policies[name]; ok {
			obj = v
		}
	case config.KindNotifier:
		if v, ok := st.Notifiers[name]; ok {
			obj = v
		}
	}
	if obj == nil {
		s.writeError(w, fmt.Errorf("%w: %s %q", state.ErrNotFound, kind, name))
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

// Member is one node as the API reports it.
type Member struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raftAddr"`
	APIAddr  string `json:"apiAddr,omitempty"`
	XDSAddr  string `json:"xdsAddr,omitempty"`
	Suffrage string `json:"suffrage"`
	Leader   bool   `json:"leader"`
}

// MembersResponse is the body of GET /v1/cluster/members.
type MembersResponse struct {
	Leader  string   `json:"leader"`
	Members []Member `json:"members"`
}

func (s *Server) members(w http.ResponseWriter, _ *http.Request) {
	servers, err := s.cluster.Servers()
	if err != nil {
		s.writeError(w, err)
		return
	}
	st := s.cluster.State()
	leader, _ := s.cluster.Leader()
	out := MembersResponse{Leader: leader}
	for _, sv := range servers {
		m := Member{ID: sv.ID, RaftAddr: sv.Address, Suffrage: sv.Suffrage, Leader: sv.ID == leader}
		if rec, ok := st.Members[sv.ID]; ok {
			m.APIAddr, m.XDSAddr = rec.APIAddr, rec.XDSAddr
		}
		out.Members = append(out.Members, m)
	}
	sort.Slice(out.Members, func(i, j int) bool { return out.Members[i].ID < out.Members[j].ID })
	writeJSON(w, http.StatusOK, out)
}

// JoinRequest asks the leader to add a node.
type JoinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raftAddr"`
	APIAddr  string `json:"apiAddr"`
	XDSAddr  string `json:"xdsAddr"`
	// Voter false adds a non-voter: it serves xDS and reads, but does not
	// take part in elections or commit quorums.
	Voter bool `json:"voter"`
}

// decodeJSON reads a request body with the config decoder's rules
// (duplicate and unknown keys, types and ranges, with positions), so JSON
// requests are held to what YAML documents are.
func decodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return fmt.Errorf("%w: read body: %w", errBadRequest, err)
	}
	return config.DecodeStrict("<request>", body, v)
}

func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	if err := decodeJSON(r, &req); err != nil {
		s.writeError(w, err)
		return
	}
	if req.ID == "" || req.RaftAddr == "" {
		s.writeError(w, fmt.Errorf("%w: join needs id and raftAddr", errBadRequest))
		return
	}
	// A voter nobody answers for would cost the cluster its quorum: check
	// that the node is there (over TLS: that its certificate is this
	// cluster's and names it) before the configuration changes.
	if err := s.cluster.ProbePeer(r.Context(), req.ID, req.RaftAddr); err != nil {
		s.writeError(w, fmt.Errorf("%w: refusing to add %s: %w", errBadRequest, fmt.Sprintf("%q", config.Clip(req.ID, maxEchoed)), err))
		return
	}
	add := s.cluster.AddVoter
	if !req.Voter {
		add = s.cluster.AddNonvoter
	}
	if err := add(r.Context(), req.ID, req.RaftAddr); err != nil {
		s.writeError(w, fmt.Errorf("add %s at %s: %w", req.ID, req.RaftAddr, err))
		return
	}
	m := state.Member{ID: req.ID, RaftAddr: req.RaftAddr, APIAddr: req.APIAddr, XDSAddr: req.XDSAddr}
	if _, _, err := s.propose(r, state.CmdSetMember, m); err != nil {
		s.writeError(w, fmt.Errorf("record member %s: %w", req.ID, err))
		return
	}
	s.log.Info("node joined", "actor", actor(r), "node", req.ID, "raft_addr", req.RaftAddr, "voter", req.Voter)
	writeJSON(w, http.StatusOK, map[string]any{"joined": req.ID, "voter": req.Voter})
}

// LeaveRequest asks the leader to remove a node.
type LeaveRequest struct {
	ID string `json:"id"`
}

func (s *Server) leave(w http.ResponseWriter, r *http.Request) {
	var req LeaveRequest
	if err := decodeJSON(r, &req); err != nil {
		s.writeError(w, err)
		return
	}
	servers, err := s.cluster.Servers()
	if err != nil {
		s.writeError(w, err)
		return
	}
	found := false
	for _, sv := range servers {
		found = found || sv.ID == req.ID
	}
	if !found {
		s.writeError(w, fmt.Errorf("%w: node %q is not a cluster member", state.ErrNotFound, req.ID))
		return
	}
	if err := s.cluster.RemoveServer(r.Context(), req.ID); err != nil {
		s.writeError(w, fmt.Errorf("remove %s: %w", req.ID, err))
		return
	}
	if s.cluster.IsLeader() {
		if _, _, err := s.propose(r, state.CmdRemoveMember, state.RemoveMemberPayload{ID: req.ID}); err != nil {
			s.writeError(w, fmt.Errorf("forget member %s: %w", req.ID, err))
			return
		}
	}
	s.log.Info("node left", "actor", actor(r), "node", req.ID)
	writeJSON(w, http.StatusOK, map[string]any{"removed": req.ID})
}

var _ Cluster = (*raft.Node)(nil)

// assess scores the releases a request creates (train members and
// declared versions included): the leader's decision travels in the
// command, so every node records the same score, plan and model version.
func (s *Server) assess(docs []config.Document, declared []*config.Release, now time.Time) map[string]*state.Assessment {
	st := s.cluster.State()
	out := map[string]*state.Assessment{}
	for _, rel := range declared {
		if a := controller.Assess(st, rel, now); a != nil {
			out[rel.Metadata.Name] = a
		}
	}
	for _, d := range docs {
		switch {
		case d.Release != nil:
			if _, exists := st.Releases[d.Name]; !exists {
				if a := controller.Assess(st, d.Release, now); a != nil {
					out[d.Name] = a
				}
			}
		case d.ReleaseTrain != nil:
			if _, exists := st.Trains[d.Name]; exists {
				continue
			}
			for _, m := range d.ReleaseTrain.Spec.Members {
				name := state.MemberReleaseName(d.Name, m.MemberName())
				rel := &config.Release{Metadata: config.Metadata{Name: name},
					Spec: config.ReleaseSpec{Service: m.Service, From: m.From, To: m.To, Policy: m.Policy, Change: m.Change, Gates: m.Gates}}
				if a := controller.Assess(st, rel, now); a != nil {
					out[name] = a
				}
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
