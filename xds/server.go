package xds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/sluicehq/sluice/state"
)

// maxRecvMsgSize bounds one discovery request from a proxy (a request
// names resources; 1 MiB is far above any real one).
const maxRecvMsgSize = 1 << 20

// Source is what the xDS server needs from the replicated state.
type Source interface {
	State() *state.State
	Subscribe() (<-chan struct{}, func())
}

// Options tune a Server. Zero values take the documented defaults.
type Options struct {
	// Debounce is the quiet period (default 5ms): a change after one is
	// built at once, a change closer to the last rebuild waits until no
	// other came for Debounce, and at most MaxDelay (default 100ms).
	Debounce time.Duration
	MaxDelay time.Duration
	Logger   *slog.Logger
	Metrics  *Metrics // may be nil
	// Now is the clock used for stream bookkeeping and for telling
	// whether a change follows a quiet period (default time.Now).
	Now func() time.Time
	// Creds secure the port (TLS, or mutual TLS when they require client
	// certificates); nil serves plaintext.
	Creds credentials.TransportCredentials
	// Authorizer, with mutual TLS, binds client identities to the proxy
	// groups they may receive (StreamInterceptor); nil lets every client
	// receive any group.
	Authorizer Authorizer
	// Translate builds one group's resources from the state (default
	// Translate). It must be pure; tests inject one to count or hold
	// builds.
	Translate func(*state.State, Group) (*Resources, error)
	// Stream picks the ADS stream handlers, state of the world and delta:
	// StreamSluice (the default, see push.go) or StreamGCP
	// (go-control-plane's). The per-type discovery services are always
	// go-control-plane's.
	Stream string
}

// Status is the xDS side of a node: what it serves and what proxies did
// with it.
type Status struct {
	// StateIndex is the index of the state the last rebuild read.
	StateIndex uint64 `json:"stateIndex"`
	// Sequence counts completed rebuilds.
	Sequence uint64 `json:"sequence"`
	// Builds counts group snapshot builds (translations) on this node:
	// one per group per rebuild, plus one for each group's first stream.
	Builds uint64        `json:"builds"`
	Groups []GroupStatus `json:"groups"`
	// LastError is the last translation error on this node, if any.
	LastError string `json:"lastError,omitempty"`
}

// Server translates replicated state into per-group snapshots and serves
// them over ADS (state of the world and delta) with go-control-plane.
type Server struct {
	src     Source
	opts    Options
	log     *slog.Logger
	cache   *Cache
	tracker *Tracker
	xds     serverv3.Server
	// nextStream numbers the streams of Sluice's own ADS handler, and hub
	// finds them when their group's snapshot moves.
	nextStream atomic.Int64
	hub        *streamHub

	mu        sync.Mutex
	seq       uint64
	seqCh     chan struct{} // closed and replaced on every rebuild
	stateIdx  uint64
	groups    map[string]Group // groups with streams
	groupErrs map[string]string
	// failedAt is the state index of a group's last failed build.
	failedAt map[string]uint64
	// firstBuild holds, per group, the build of its first snapshot while
	// it runs; the channel is closed when it is done.
	firstBuild map[string]chan struct{}
	builds     uint64
	lastErr    string
}

// NewServer builds a server; call Run to start rebuilding and Serve or
// Register to accept streams.
func NewServer(ctx context.Context, src Source, opts Options) *Server {
	if opts.Debounce == 0 {
		opts.Debounce = 5 * time.Millisecond
	}
	if opts.MaxDelay == 0 {
		opts.MaxDelay = 100 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Stream == "" {
		opts.Stream = StreamSluice
	}
	if opts.Translate == nil {
		opts.Translate = Translate
	}
	s := &Server{
		src:        src,
		opts:       opts,
		log:        opts.Logger,
		seqCh:      make(chan struct{}),
		groups:     map[string]Group{},
		groupErrs:  map[string]string{},
		failedAt:   map[string]uint64{},
		firstBuild: map[string]chan struct{}{},
	}
	ev := TrackerEvents{}
	if m := opts.Metrics; m != nil {
		ev.Push, ev.ACK = byType(m.pushes), byType(m.acks)
		ev.NACK = func(g, t string) { m.nacks.WithLabelValues(g, shortType(t)).Inc() }
	}
	s.tracker = NewTracker(ev)
	s.cache = NewCache(func(n *core.Node) string { return GroupOf(n).Key() }, s.tracker)
	if opts.Stream == StreamSluice {
		s.hub = newStreamHub()
		s.cache.notifyOnSet(s.hub.moved)
	}
	s.xds = serverv3.NewServer(ctx, s.cache, &callbacks{s: s})
	if opts.Metrics != nil {
		opts.Metrics.bind(s)
	}
	return s
}

// Register adds the ADS and per-type discovery services to a gRPC server.
func (s *Server) Register(g *grpc.Server) {
	if s.opts.Stream == StreamSluice {
		discovery.RegisterAggregatedDiscoveryServiceServer(g, &adsServer{s: s})
	} else {
		discovery.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
	}
	listenerservice.RegisterListenerDiscoveryServiceServer(g, s.xds)
	routeservice.RegisterRouteDiscoveryServiceServer(g, s.xds)
	clusterservice.RegisterClusterDiscoveryServiceServer(g, s.xds)
	endpointservice.RegisterEndpointDiscoveryServiceServer(g, s.xds)
}

// Serve accepts xDS streams on lis until ctx ends.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	opts := []grpc.ServerOption{
		grpc.MaxConcurrentStreams(1 << 20),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 5 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		// Discovery requests are small; bound what one message may cost.
		grpc.MaxRecvMsgSize(maxRecvMsgSize),
	}
	if s.opts.Creds != nil {
		opts = append(opts, grpc.Creds(s.opts.Creds))
	}
	if s.opts.Authorizer != nil {
		opts = append(opts, grpc.StreamInterceptor(logRefusals(s.log, StreamInterceptor(s.opts.Authorizer))),
			grpc.UnaryInterceptor(func(context.Context, any, *grpc.UnaryServerInfo, grpc.UnaryHandler) (any, error) {
				return nil, status.Error(codes.PermissionDenied, "xds: only streams are served")
			}))
	}
	g := grpc.NewServer(opts...)
	s.Register(g)
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(lis) }()
	select {
	case <-ctx.Done():
		stopped := make(chan struct{})
		go func() { g.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(2 * time.Second):
			g.Stop()
		}
		return nil
	case err := <-errc:
		if errors.Is(err, grpc.ErrServerStopped) {
			return nil
		}
		return fmt.Errorf("xds: serve: %w", err)
	}
}

// Run rebuilds snapshots whenever the state changes, until ctx ends. A
// change that comes after a quiet period (no rebuild for Debounce) is
// built at once: a release step or a rollback is one command and should
// not wait. A change that follows a rebuild closer than that is part of a
// burst, and the burst is debounced: built once it has been quiet for
// Debounce, or MaxDelay after its first change.
func (s *Server) Run(ctx context.Context) {
	ch, cancel := s.src.Subscribe()
	defer cancel()
	s.rebuild()
	last := s.opts.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
		if s.opts.Now().Sub(last) >= s.opts.Debounce {
			s.rebuild()
			last = s.opts.Now()
			continue
		}
		if !s.debounce(ctx, ch) {
			return
		}
		s.rebuild()
		last = s.opts.Now()
	}
}

// debounce waits for a quiet period of Debounce after the latest change
// on ch, but never longer than MaxDelay; it reports false if ctx ended.
func (s *Server) debounce(ctx context.Context, ch <-chan struct{}) bool {
	deadline := time.NewTimer(s.opts.MaxDelay)
	defer deadline.Stop()
	quiet := time.NewTimer(s.opts.Debounce)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-ch:
			quiet.Reset(s.opts.Debounce)
		case <-quiet.C:
			return true
		case <-deadline.C:
			return true
		}
	}
}

// rebuild translates the current state for every group that has streams
// and publishes the snapshots; groups whose translation fails keep their
// last good snapshot. A group whose snapshot is already built from this
// state index is skipped: translation is pure, so it would give the same
// snapshot. (A burst's debounced rebuild
// often reads the same state as the immediate one before it, and a group
// that connected in between was built by ensureGroup.)
func (s *Server) rebuild() {
	st := s.src.State()
	s.mu.Lock()
	groups := make([]Group, 0, len(s.groups))
	for key, g := range s.groups {
		if s.builtAt(key, st.Index) {
			continue
		}
		groups = append(groups, g)
	}
	s.mu.Unlock()
	var lastErr string
	for _, g := range groups {
		if err := s.build(st, g); err != nil {
			lastErr = err.Error()
		}
	}
	s.mu.Lock()
	s.stateIdx = st.Index
	if lastErr != "" {
		s.lastErr = lastErr
	} else if len(groups) > 0 {
		s.lastErr = ""
	}
	s.seq++
	close(s.seqCh)
	s.seqCh = make(chan struct{})
	s.mu.Unlock()
	if m := s.opts.Metrics; m != nil {
		m.stateIndex.Set(float64(st.Index))
	}
}

// builtAt reports whether group key's snapshot was built from state index
// idx or newer.
func (s *Server) builtAt(key string, idx uint64) bool {
	built, ok := s.cache.Index(key)
	return ok && built >= idx
}

// build publishes one group's snapshot from st.
func (s *Server) build(st *state.State, g Group) error {
	start := time.Now()
	res, err := s.opts.Translate(st, g)
	if err == nil {
		_, err = s.cache.SetGroup(g.Key(), st.Index, res)
	}
	if m := s.opts.Metrics; m != nil {
		m.buildSeconds.Observe(time.Since(start).Seconds())
		if err != nil {
			m.buildErrors.Inc()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.builds++
	if err != nil {
		s.groupErrs[g.Key()] = err.Error()
		s.failedAt[g.Key()] = st.Index
		s.log.Error("snapshot build failed; serving the last good snapshot", "group", g.Key(), "index", st.Index, "err", err)
		return fmt.Errorf("group %s: %w", g.Key(), err)
	}
	delete(s.groupErrs, g.Key())
	delete(s.failedAt, g.Key())
	return nil
}

// ensureGroup makes sure a group has a snapshot before its first watch.
//
// A group's first snapshot is built once: streams that arrive while it is
// being built wait for that build instead of running their own (after a
// node restart every proxy of a group reconnects at once, and each build
// publishes to every watch already open). A group whose build failed at
// the current state index is not built again for it: translation is pure,
// so it would fail the same way; the rebuild after the next state change
// tries again.
func (s *Server) ensureGroup(g Group) {
	key := g.Key()
	st := s.src.State()
	s.mu.Lock()
	_, known := s.groups[key]
	s.groups[key] = g
	if done, ok := s.firstBuild[key]; ok {
		s.mu.Unlock()
		<-done
		return
	}
	idx, failed := s.failedAt[key]
	// A group not known here may still hold a snapshot in the cache: a
	// build that finished after its last stream closed. It is built anew.
	built := false
	if known {
		_, built = s.cache.Index(key)
	}
	if built || (failed && idx >= st.Index) {
		s.mu.Unlock()
		return
	}
	done := make(chan struct{})
	s.firstBuild[key] = done
	s.mu.Unlock()

	_ = s.build(st, g)
	s.mu.Lock()
	delete(s.firstBuild, key)
	s.mu.Unlock()
	close(done)
}

func (s *Server) streamClosed(stream int64) {
	group, last := s.tracker.Close(stream)
	if !last {
		return
	}
	s.mu.Lock()
	delete(s.groups, group)
	delete(s.groupErrs, group)
	delete(s.failedAt, group)
	s.mu.Unlock()
	s.cache.Forget(group)
}

// Sequence returns the number of completed rebuilds.
func (s *Server) Sequence() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// WaitIndex blocks until a rebuild has read state index idx or newer.
func (s *Server) WaitIndex(ctx context.Context, idx uint64) error {
	for {
		s.mu.Lock()
		done, ch := s.stateIdx >= idx, s.seqCh
		s.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("xds: waiting for state index %d: %w", idx, ctx.Err())
		case <-ch:
		}
	}
}

// Status reports groups, ACKs and NACKs on this node.
func (s *Server) Status() Status {
	// Read the cache first: the tracker calls the callback under its own
	// lock, and the cache calls the tracker under the cache's lock, so
	// reaching into the cache from the callback could deadlock.
	indexes := s.cache.indexes()
	groups := s.tracker.Groups(func(key string) uint64 { return indexes[key] })
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range groups {
		groups[i].Error = s.groupErrs[groups[i].Key]
	}
	return Status{StateIndex: s.stateIdx, Sequence: s.seq, Builds: s.builds, Groups: groups, LastError: s.lastErr}
}

// ACKs returns how many responses proxies have accepted from this server;
// it costs one atomic load, so a caller waiting for a fleet to ACK can
// poll it before asking Status, which walks every stream.
func (s *Server) ACKs() uint64 { return s.tracker.acks.Load() }

// Ready reports whether the server has completed a rebuild.
func (s *Server) Ready() bool { return s.Sequence() > 0 }

// Dump returns what a proxy group is served on this node.
func (s *Server) Dump(group string) (uint64, map[string][]*anypb.Any, bool) {
	return s.cache.Dump(group)
}

// Cache exposes the snapshot cache (tests and debugging).
func (s *Server) Cache() *Cache { return s.cache }

// callbacks feed the tracker and the cache from go-control-plane's stream
// events. They run synchronously on the stream's goroutine.
type callbacks struct{ s *Server }

func (c *callbacks) OnStreamOpen(context.Context, int64, string) error { return nil }

func (c *callbacks) OnStreamClosed(id int64, _ *core.Node) { c.s.streamClosed(id) }

func (c *callbacks) OnStreamRequest(id int64, req *discovery.DiscoveryRequest) error {
	c.s.noteRequest(id, req.GetNode(), false)
	// A stale request never reaches the cache: noting it would leak.
	if stale := c.s.recordAnswer(id, GroupOf(req.GetNode()).Key(), req, false); !stale {
		c.s.cache.NoteStream(req, id)
	}
	return nil
}

func (c *callbacks) OnStreamResponse(_ context.Context, id int64, req *discovery.DiscoveryRequest, resp *discovery.DiscoveryResponse) {
	c.s.tracker.Response(id, req.GetTypeUrl(), resp.GetNonce(), resp.GetVersionInfo())
}

func (c *callbacks) OnDeltaStreamOpen(context.Context, int64, string) error { return nil }

// deltaStream is the number Sluice's bookkeeping gives a delta stream.
// go-control-plane counts state-of-the-world and delta streams separately,
// both from 1, so the two would collide in the tracker and the cache; delta
// streams are numbered negatively instead.
func deltaStream(id int64) int64 { return -id }

func (c *callbacks) OnDeltaStreamClosed(id int64, _ *core.Node) { c.s.streamClosed(deltaStream(id)) }

func (c *callbacks) OnStreamDeltaRequest(id int64, req *discovery.DeltaDiscoveryRequest) error {
	id = deltaStream(id)
	c.s.noteRequest(id, req.GetNode(), true)
	c.s.recordAnswer(id, GroupOf(req.GetNode()).Key(), req, true)
	c.s.cache.NoteStream(req, id)
	return nil
}

func (c *callbacks) OnStreamDeltaResponse(id int64, req *discovery.DeltaDiscoveryRequest, resp *discovery.DeltaDiscoveryResponse) {
	c.s.tracker.Response(deltaStream(id), req.GetTypeUrl(), resp.GetNonce(), resp.GetSystemVersionInfo())
}

func (c *callbacks) OnFetchRequest(context.Context, *discovery.DiscoveryRequest) error {
	return ErrFetchUnsupported
}

func (c *callbacks) OnFetchResponse(*discovery.DiscoveryRequest, *discovery.DiscoveryResponse) {}

// answerRequest is what state-of-the-world and delta requests share for
// ACK tracking.
type answerRequest interface {
	GetNode() *core.Node
	GetTypeUrl() string
	GetResponseNonce() string
	GetErrorDetail() *statuspb.Status
}

// recordAnswer tells the tracker what a request answers (an ACK, or a
// NACK, which is logged) and reports whether it is stale: it names a
// nonce other than the last one sent for its type. The own handlers do
// the same on the record they keep (streamCore.recordAnswer).
func (s *Server) recordAnswer(stream int64, group string, req answerRequest, delta bool) (stale bool) {
	return s.tracker.Request(stream, req.GetTypeUrl(), req.GetResponseNonce(), s.nackOf(stream, group, req, delta))
}

// nackOf returns, logged, the message of a request that rejects config
// (a NACK), and nil for any other request.
func (s *Server) nackOf(stream int64, group string, req answerRequest, delta bool) *string {
	d := req.GetErrorDetail()
	if d == nil {
		return nil
	}
	msg := nackMessage(d.GetMessage())
	s.log.Warn("proxy rejected config (NACK)", "stream", stream, "group", group, "delta", delta,
		"node", req.GetNode().GetId(), "type", req.GetTypeUrl(), "nonce", req.GetResponseNonce(), "detail", msg)
	return &msg
}

// maxNACKMessage bounds how much of a proxy's error message is kept: it
// is stored per stream and type and shown in status and hold reasons.
const maxNACKMessage = 4 << 10

// nackMessage is a proxy's error message as kept: without the trailing
// newline Envoy adds, and cut at maxNACKMessage bytes.
func nackMessage(m string) string {
	m = strings.TrimSpace(m)
	if len(m) > maxNACKMessage {
		m = strings.ToValidUTF8(m[:maxNACKMessage], "") + "..."
	}
	return m
}

// noteRequest registers a stream on its first request (the only one that
// must carry the node) and makes sure its group has a snapshot.
func (s *Server) noteRequest(id int64, node *core.Node, delta bool) {
	// Every request carries the node (the server fills it in after the
	// first), so check cheaply for a known stream before building keys.
	if node == nil || s.tracker.has(id) {
		return
	}
	g := GroupOf(node)
	if s.tracker.Open(id, g.Key(), node.GetId(), delta, s.opts.Now()) {
		s.ensureGroup(g)
	}
	if Proxyless(node) {
		s.tracker.markProxyless(id)
	}
}
