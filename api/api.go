// Package api is Sluice's HTTP/JSON API. Every node serves it; reads are
// answered from the node's replicated state, writes are forwarded to the
// leader, which stamps the time into a Raft command.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/raft"
	"github.com/sluicehq/sluice/state"
	"github.com/sluicehq/sluice/xds"
)

// ErrNoLeader is returned when a write arrives and no leader is known.
var ErrNoLeader = errors.New("no leader: the cluster cannot accept writes right now")

// MaxBodyBytes bounds a request body. Raft log entries should stay well
// under hashicorp/raft's suggested 512 KiB, and an apply is one entry.
const MaxBodyBytes = 512 << 10

// Cluster is what the API needs from the Raft node.
type Cluster interface {
	ID() string
	State() *state.State
	IsLeader() bool
	Leader() (id, raftAddr string)
	Apply(ctx context.Context, cmd state.Command) (any, error)
	AddVoter(ctx context.Context, id, addr string) error
	AddNonvoter(ctx context.Context, id, addr string) error
	RemoveServer(ctx context.Context, id string) error
	Servers() ([]raft.Server, error)
	Stats() raft.Stats
}

// XDS is what the API needs from the xDS server.
type XDS interface {
	Status() xds.Status
	Ready() bool
	// Dump returns what a proxy group is served, by type URL.
	Dump(group string) (uint64, map[string][]*anypb.Any, bool)
}

// Options configure the API.
type Options struct {
	Logger *slog.Logger
	// Now stamps commands on the leader (default time.Now).
	Now func() time.Time
	// Gatherer serves /metrics (default: a fresh registry).
	Gatherer prometheus.Gatherer
	// Forward is the client used to forward writes to the leader.
	Forward *http.Client
	// Auth maps tokens to users and roles; nil disables authentication
	// (development: every caller has every role).
	Auth *Auth
	// Windows is the release-window optimizer (GET /v1/windows/...).
	Windows WindowSuggester
}

// Server is the HTTP API of one node.
type Server struct {
	cluster Cluster
	xds     XDS
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
}

// New returns the API handler for one node.
func New(cluster Cluster, x XDS, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Gatherer == nil {
		opts.Gatherer = prometheus.NewRegistry()
	}
	if opts.Forward == nil {
		opts.Forward = &http.Client{Timeout: 30 * time.Second}
	}
	s := &Server{cluster: cluster, xds: x, opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	s.routes()
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{}))

	s.mux.HandleFunc("POST /v1/apply", s.write(s.require(RoleDeployer, s.apply)))
	s.mux.HandleFunc("GET /v1/{kind}", s.list)
	s.mux.HandleFunc("GET /v1/{kind}/{name}", s.get)
	s.mux.HandleFunc("DELETE /v1/{kind}/{name}", s.write(s.require(RoleAdmin, s.delete)))

	s.mux.HandleFunc("GET /v1/releases", s.listReleases)
	s.mux.HandleFunc("GET /v1/releases/{name}", s.getRelease)
	s.mux.HandleFunc("POST /v1/releases", s.write(s.require(RoleDeployer, s.createRelease)))
	s.mux.HandleFunc("POST /v1/releases/{name}/{action}", s.write(s.releaseAction))
	s.mux.HandleFunc("POST /v1/services/{name}/undo", s.write(s.undo))

	s.mux.HandleFunc("GET /v1/trains", s.listTrains)
	s.mux.HandleFunc("GET /v1/trains/{name}", s.getTrain)
	s.mux.HandleFunc("POST /v1/trains/{name}/{action}", s.write(s.require(RoleDeployer, s.trainActionHandler)))

	s.mux.HandleFunc("GET /v1/cluster/members", s.members)
	s.mux.HandleFunc("POST /v1/cluster/join", s.write(s.require(RoleAdmin, s.join)))
	s.mux.HandleFunc("POST /v1/cluster/leave", s.write(s.require(RoleAdmin, s.leave)))
	s.mux.HandleFunc("GET /v1/xds/status", s.xdsStatus)
	s.mux.HandleFunc("GET /v1/xds/config", s.xdsConfig)
	s.mux.HandleFunc("GET /v1/report", s.report)
	s.mux.HandleFunc("GET /v1/windows/{service}", s.windowSuggest)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	s.withIdentity(s.mux).ServeHTTP(w, r)
}

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Error   string              `json:"error"`
	Details []config.FieldError `json:"details,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeError maps an error to a status code and a JSON body.
func (s *Server) writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		code = http.StatusRequestEntityTooLarge
		err = fmt.Errorf("request body larger than %d bytes: split the input into several applies", maxErr.Limit)
	case errors.Is(err, config.ErrSyntax), errors.Is(err, config.ErrInvalid), errors.Is(err, errBadRequest):
		code = http.StatusBadRequest
	case errors.Is(err, state.ErrNotFound), errors.Is(err, config.ErrNotFound), errors.Is(err, errUnknownKind):
		code = http.StatusNotFound
	case errors.Is(err, ErrUnauthenticated):
		code = http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		code = http.StatusForbidden
	case errors.Is(err, state.ErrConflict), errors.Is(err, state.ErrBadTransition), errors.Is(err, state.ErrNothingToUndo):
		code = http.StatusConflict
	case errors.Is(err, ErrNoLeader), errors.Is(err, raft.ErrNotLeader):
		code = http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		code = http.StatusGatewayTimeout
	}
	body := ErrorBody{Error: err.Error()}
	if fe, ok := config.AsErrors(err); ok {
		body.Details = fe
		body.Error = fmt.Sprintf("%d problem(s) found; nothing was applied", len(fe))
	}
	if code >= 500 {
		s.log.Error("request failed", "err", err)
	}
	writeJSON(w, code, body)
}

var (
	errBadRequest  = errors.New("bad request")
	errUnknownKind = errors.New("unknown kind")
)

// actor is who made a request; it is recorded with every command. With
// authentication it is the token's user, never a header.
func actor(r *http.Request) string {
	if id := identity(r); id.User != "" {
		return id.User
	}
	return headerActor(r)
}

// forwardedHeader marks a request already forwarded once, so a stale view
// of the leader can never make two nodes bounce a request between them.
const forwardedHeader = "X-Sluice-Forwarded-By"

// write wraps a mutating handler: on a follower it forwards the request to
// the leader's API; on the leader it runs h.
func (s *Server) write(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cluster.IsLeader() {
			h(w, r)
			return
		}
		if r.Header.Get(forwardedHeader) != "" {
			s.writeError(w, fmt.Errorf("%w (forwarded by %s, but this node is not the leader)", ErrNoLeader, r.Header.Get(forwardedHeader)))
			return
		}
		leaderID, _ := s.cluster.Leader()
		m, ok := s.cluster.State().Members[leaderID]
		if leaderID == "" || !ok || m.APIAddr == "" {
			s.writeError(w, ErrNoLeader)
			return
		}
		s.forward(w, r, m.APIAddr)
	}
}

func (s *Server) forward(w http.ResponseWriter, r *http.Request, leaderAPI string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeError(w, fmt.Errorf("%w: read body: %w", errBadRequest, err))
		return
	}
	u := "http://" + leaderAPI + r.URL.RequestURI()
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u, strings.NewReader(string(body)))
	if err != nil {
		s.writeError(w, fmt.Errorf("forward to leader: %w", err))
		return
	}
	req.Header = r.Header.Clone()
	req.Header.Set(forwardedHeader, s.cluster.ID())
	resp, err := s.opts.Forward.Do(req)
	if err != nil {
		s.writeError(w, fmt.Errorf("%w: forwarding to leader at %s failed: %v", ErrNoLeader, leaderAPI, err))
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// propose stamps and applies a command on the leader.
func (s *Server) propose(r *http.Request, t state.Type, payload any) (any, uint64, error) {
	return s.proposeAt(r, s.opts.Now(), t, payload)
}

// proposeAt applies a command stamped with now, for a payload decided
// from that time (the names of releases it starts).
func (s *Server) proposeAt(r *http.Request, now time.Time, t state.Type, payload any) (any, uint64, error) {
	cmd, err := state.NewCommand(t, now, actor(r), payload)
	if err != nil {
		return nil, 0, err
	}
	res, err := s.cluster.Apply(r.Context(), cmd)
	if err != nil {
		return nil, 0, err
	}
	return res, s.cluster.State().Index, nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz: ready when a leader is known and xDS has published from state.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	leader, _ := s.cluster.Leader()
	ready := leader != "" && s.xds.Ready()
	body := map[string]any{"ready": ready, "leader": leader, "xdsReady": s.xds.Ready(), "stateIndex": s.cluster.State().Index}
	code := http.StatusOK
	if !ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

func (s *Server) xdsStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.xds.Status())
}

// xdsConfig dumps the resources a proxy group is served on this node
// (?group=cluster/region/zone), like Envoy's config dump.
func (s *Server) xdsConfig(w http.ResponseWriter, r *http.Request) {
	group := r.URL.Query().Get("group")
	idx, byType, ok := s.xds.Dump(group)
	if !ok {
		s.writeError(w, fmt.Errorf("%w: proxy group %q has no stream on this node (groups: %s)", state.ErrNotFound, group, groupKeys(s.xds.Status())))
		return
	}
	out := map[string]any{"group": group, "index": idx}
	res := map[string][]json.RawMessage{}
	for url, anys := range byType {
		for _, a := range anys {
			b, err := protojson.Marshal(a)
			if err != nil {
				s.writeError(w, fmt.Errorf("render %s: %w", url, err))
				return
			}
			res[url] = append(res[url], b)
		}
	}
	out["resources"] = res
	writeJSON(w, http.StatusOK, out)
}

func groupKeys(st xds.Status) string {
	keys := make([]string, len(st.Groups))
	for i, g := range st.Groups {
		keys[i] = g.Key
	}
	if len(keys) == 0 {
		return "none"
	}
	return strings.Join(keys, ", ")
}
