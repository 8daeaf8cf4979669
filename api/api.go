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
	"sync/atomic"
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
	// ProbePeer checks that a joining node answers on its Raft address.
	ProbePeer(ctx context.Context, id, addr string) error
	Barrier(ctx context.Context) error
	Backup(w io.Writer) (raft.BackupHeader, error)
	RestoreBackup(ctx context.Context, data []byte, force bool) (raft.BackupHeader, error)
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
	// Subscribe notifies of state changes (GET /v1/events); nil turns the
	// event stream off.
	Subscribe func() (<-chan struct{}, func())
	// Console is the web console under /ui/; nil serves none.
	Console Console
	// MetricsOpen serves /metrics without a token; by default it needs a
	// viewer token when authentication is on (it names releases).
	MetricsOpen bool
	// TrustedOrigins are web origins (scheme://host[:port]) besides the
	// API's own that may send writes from a browser.
	TrustedOrigins []string
	// Scheme is how this cluster's nodes reach each other's API: "http"
	// (default) or "https".
	Scheme string
	// Security is shown in /readyz: how this node is protected and every
	// warning about it (authentication off, no TLS).
	Security SecurityStatus
}

// SecurityStatus is the security part of /readyz.
type SecurityStatus struct {
	// Auth is "tokens", or why it is off ("off: --dev", "off: --insecure-no-auth").
	Auth string `json:"auth"`
	// TLS lists the ports that speak TLS.
	TLS []string `json:"tls"`
	// XDSClientCerts is true when proxies must present certificates.
	XDSClientCerts bool     `json:"xdsClientCerts"`
	Warnings       []string `json:"warnings,omitempty"`
}

// Server is the HTTP API of one node.
type Server struct {
	cluster Cluster
	xds     XDS
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	// streams counts open /v1/events streams.
	streams atomic.Int64
	// decodes bounds the request bodies decoded at once, so that the
	// memory a burst of large applies costs stays bounded too.
	decodes chan struct{}
}

// maxConcurrentDecodes is how many applies a node decodes at once.
const maxConcurrentDecodes = 4

// decoding waits for a decoding slot; call done when finished.
func (s *Server) decoding(r *http.Request) (done func(), err error) {
	select {
	case s.decodes <- struct{}{}:
		return func() { <-s.decodes }, nil
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
}

// maxEchoed bounds a name from the request echoed in a message.
const maxEchoed = 64

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
	s := &Server{cluster: cluster, xds: x, opts: opts, log: opts.Logger, mux: http.NewServeMux(), decodes: make(chan struct{}, maxConcurrentDecodes)}
	s.routes()
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{}))

	s.mux.HandleFunc("POST /v1/apply", s.write(s.require(RoleDeployer, s.apply)))
	s.mux.HandleFunc("GET /v1/{kind}", s.read(s.list))
	s.mux.HandleFunc("GET /v1/{kind}/{name}", s.read(s.get))
	s.mux.HandleFunc("DELETE /v1/{kind}/{name}", s.write(s.require(RoleAdmin, s.delete)))

	s.mux.HandleFunc("GET /v1/releases", s.read(s.listReleases))
	s.mux.HandleFunc("GET /v1/releases/{name}", s.read(s.getRelease))
	s.mux.HandleFunc("POST /v1/releases", s.write(s.require(RoleDeployer, s.createRelease)))
	s.mux.HandleFunc("POST /v1/releases/{name}/{action}", s.write(s.releaseAction))
	s.mux.HandleFunc("POST /v1/services/{name}/undo", s.write(s.undo))
	s.mux.HandleFunc("GET /v1/services/{name}/endpoints", s.read(s.serviceEndpoints))

	s.mux.HandleFunc("GET /v1/notifications", s.read(s.listNotifiers))

	s.mux.HandleFunc("GET /v1/trains", s.listTrains)
	s.mux.HandleFunc("GET /v1/trains/{name}", s.getTrain)
	s.mux.HandleFunc("POST /v1/trains/{name}/{action}", s.write(s.require(RoleDeployer, s.trainActionHandler)))

	s.mux.HandleFunc("GET /v1/cluster/members", s.members)
	s.mux.HandleFunc("POST /v1/cluster/join", s.write(s.require(RoleAdmin, s.join)))
	s.mux.HandleFunc("POST /v1/cluster/leave", s.write(s.require(RoleAdmin, s.leave)))
	s.mux.HandleFunc("GET /v1/xds/status", s.xdsStatus)
	s.mux.HandleFunc("GET /v1/xds/config", s.xdsConfig)
	s.mux.HandleFunc("GET /v1/report", s.report)
	s.mux.HandleFunc("GET /v1/snapshot", s.require(RoleAdmin, s.snapshotSave))
	s.mux.HandleFunc("POST /v1/snapshot", s.write(s.require(RoleAdmin, s.snapshotRestore)))
	s.mux.HandleFunc("GET /v1/windows/{service}", s.windowSuggest)
	s.mux.HandleFunc("GET /v1/risk/model", s.read(s.riskModel))
	s.mux.HandleFunc("POST /v1/risk/model", s.write(s.require(RoleAdmin, s.installRiskModel)))
	s.consoleRoutes()
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	limit := int64(MaxBodyBytes)
	if r.URL.Path == "/v1/snapshot" {
		limit = MaxBackupBytes
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
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
	case errors.Is(err, config.ErrSyntax), errors.Is(err, config.ErrInvalid), errors.Is(err, errBadRequest), errors.Is(err, raft.ErrBadBackup):
		code = http.StatusBadRequest
	case errors.Is(err, state.ErrNotFound), errors.Is(err, config.ErrNotFound), errors.Is(err, errUnknownKind):
		code = http.StatusNotFound
	case errors.Is(err, ErrUnauthenticated):
		code = http.StatusUnauthorized
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrCrossSite):
		code = http.StatusForbidden
	case errors.Is(err, state.ErrConflict), errors.Is(err, state.ErrBadTransition), errors.Is(err, raft.ErrNotEmpty), errors.Is(err, state.ErrNothingToUndo):
		code = http.StatusConflict
	case errors.Is(err, ErrNoLeader), errors.Is(err, raft.ErrNotLeader):
		code = http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		code = http.StatusGatewayTimeout
	}
	body := ErrorBody{Error: clipMessage(err.Error())}
	if fe, ok := config.AsErrors(err); ok {
		body.Details = fe
		body.Error = fmt.Sprintf("%d problem(s) found; nothing was applied", fe.Total())
	}
	if code >= 500 {
		s.log.Error("request failed", "err", err)
	}
	writeJSON(w, code, body)
}

// maxErrorMessage bounds the message of an error response: messages may
// echo names from the request.
const maxErrorMessage = 2048

func clipMessage(msg string) string { return config.Clip(msg, maxErrorMessage) }

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
		leaderAPI, self, err := s.awaitLeader(r.Context())
		switch {
		case err != nil:
			s.writeError(w, err)
		case self:
			h(w, r)
		default:
			s.forward(w, r, leaderAPI)
		}
	}
}

// read wraps a read handler. By default it answers from this node's
// applied state, which on a follower may lag the leader. With
// ?consistent=true the read is linearizable: a follower forwards it to the
// leader like a write, and the leader first commits a Raft barrier, which
// only a leader still holding a quorum can do, so the answer holds every
// write acknowledged before the request began. Without a leader it fails
// with ErrNoLeader rather than answer from a state that may be old.
func (s *Server) read(h http.HandlerFunc) http.HandlerFunc {
	consistent := s.write(func(w http.ResponseWriter, r *http.Request) {
		if err := s.cluster.Barrier(r.Context()); err != nil {
			s.writeError(w, fmt.Errorf("%w: confirm leadership for a consistent read: %w", ErrNoLeader, err))
			return
		}
		h(w, r)
	})
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("consistent") == "true" {
			consistent(w, r)
			return
		}
		h(w, r)
	}
}

// leaderWait bounds how long a write waits for an election to end. A
// leader that steps down (a slow disk, a busy host) is replaced within a
// few election timeouts; a write that arrives meanwhile waits for the new
// one rather than failing at once. Nothing has been proposed while it
// waits, so waiting is always safe.
const leaderWait = 5 * time.Second

// awaitLeader says where a write goes: to this node (self) or to the
// leader's API address. With no leader known it waits, up to leaderWait or
// the request's end, and then fails with ErrNoLeader.
func (s *Server) awaitLeader(ctx context.Context) (leaderAPI string, self bool, err error) {
	deadline := time.NewTimer(leaderWait)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.cluster.IsLeader() {
			return "", true, nil
		}
		if id, _ := s.cluster.Leader(); id != "" {
			if m, ok := s.cluster.State().Members[id]; ok && m.APIAddr != "" {
				return m.APIAddr, false, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", false, ErrNoLeader
		case <-deadline.C:
			return "", false, ErrNoLeader
		case <-tick.C:
		}
	}
}

func (s *Server) forward(w http.ResponseWriter, r *http.Request, leaderAPI string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeError(w, fmt.Errorf("%w: read body: %w", errBadRequest, err))
		return
	}
	u := s.scheme() + "://" + leaderAPI + r.URL.RequestURI()
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u, strings.NewReader(string(body)))
	if err != nil {
		s.writeError(w, fmt.Errorf("forward to leader: %w", err))
		return
	}
	req.Header = r.Header.Clone()
	req.Header.Set(forwardedHeader, s.cluster.ID())
	// This node has checked where the request came from; to the leader
	// the request comes from this node, not from the browser's page (whose
	// Origin would not be the leader's own).
	req.Header.Del("Origin")
	req.Header.Del("Sec-Fetch-Site")
	req.Header.Set(ClientHeader, "forwarded")
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

func (s *Server) scheme() string {
	if s.opts.Scheme == "" {
		return "http"
	}
	return s.opts.Scheme
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
	body := map[string]any{"ready": ready, "leader": leader, "xdsReady": s.xds.Ready(), "stateIndex": s.cluster.State().Index,
		"security": s.opts.Security}
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
