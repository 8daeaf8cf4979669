// Package server assembles one Sluice node: the Raft node, the xDS server,
// the HTTP API and the leader-only tasks. cmd/sluice and the end-to-end
// tests start nodes through it.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/certs"
	"github.com/sluicehq/sluice/controller"
	"github.com/sluicehq/sluice/raft"
	"github.com/sluicehq/sluice/state"
	"github.com/sluicehq/sluice/ui"
	"github.com/sluicehq/sluice/xds"
)

// ErrJoin is returned when a node cannot join an existing cluster.
var ErrJoin = errors.New("cannot join cluster")

// handOverTimeout bounds the leadership hand-over on Close.
const handOverTimeout = 2 * time.Second

// Defaults for the listen addresses.
const (
	DefaultAPIAddr  = "127.0.0.1:7070"
	DefaultXDSAddr  = "127.0.0.1:18000"
	DefaultRaftAddr = "127.0.0.1:7071"
)

// Config configures a node.
type Config struct {
	NodeID   string
	DataDir  string
	APIAddr  string
	XDSAddr  string
	RaftAddr string
	// Bootstrap starts a new cluster with this node as its only voter
	// (ignored when the data directory already holds Raft state).
	Bootstrap bool
	// Join is the API address of any existing member; the node asks it
	// to be added (the request is forwarded to the leader).
	Join string
	// NonVoter joins as a non-voter.
	NonVoter bool
	// XDSStream picks the ADS stream handlers, state of the world and
	// delta (xds.StreamSluice, the default, or xds.StreamGCP).
	XDSStream string
	Logger    *slog.Logger
	// Raft tuning (tests use short timeouts); zero means defaults.
	Raft raft.Config
	// Now is the leader's clock for stamping commands (default time.Now).
	Now func() time.Time
	// PrometheusURL is where release analysis queries go when a policy
	// names no Prometheus of its own.
	PrometheusURL string
	// DNSServers are the DNS servers ("host:port") that resolve the
	// versions' discovery names; empty means those of /etc/resolv.conf.
	DNSServers []string
	// ControllerTick is how often the leader looks at releases (default
	// 200ms).
	ControllerTick time.Duration
	// AckNodeDeadline bounds how long the leader waits for one member's
	// xDS status when it collects ACKs (default 500ms).
	AckNodeDeadline time.Duration
	// Auth maps API tokens to users and roles. Every node must have the
	// same map. A node without it refuses to start unless Dev or
	// InsecureNoAuth says otherwise.
	Auth *api.Auth
	// JoinToken is this node's own token for its calls to other members:
	// the join request (admin role) and the leader's ACK collection
	// (viewer). Required with Auth.
	JoinToken string
	// Dev runs open (no authentication) and refuses any address that is
	// not loopback.
	Dev bool
	// InsecureNoAuth runs the API without authentication outside Dev: it
	// is logged at every start and shown in /readyz.
	InsecureNoAuth bool
	// MetricsOpen serves /metrics without a token.
	MetricsOpen bool
	// TrustedOrigins may send writes from a browser besides the API's own
	// origin.
	TrustedOrigins []string
	// TLS is this node's certificate and the cluster's CA. With it the API
	// speaks HTTPS, Raft mutual TLS (peers need a node certificate) and
	// xDS TLS.
	TLS *certs.Store
	// XDSClientCerts, with TLS, makes proxies present a certificate signed
	// by this store's CA bundle (it holds the node's own key pair too); nil
	// means TLS only. XDSAuthorizer binds their identities to proxy groups
	// (default xds.ClusterIdentity).
	XDSClientCerts *certs.Store
	XDSAuthorizer  xds.Authorizer
}

// ErrInsecure is returned by Start for a configuration that would run a
// node open where it should not be.
var ErrInsecure = errors.New("refusing an insecure configuration")

// checkSecurity refuses configurations that would leave a node open by
// accident, and returns the security status /readyz shows.
func checkSecurity(cfg *Config) (api.SecurityStatus, error) {
	st := api.SecurityStatus{Auth: "tokens"}
	switch {
	case cfg.Dev:
		for _, a := range []string{cfg.APIAddr, cfg.XDSAddr, cfg.RaftAddr} {
			if !isLoopback(a) {
				return st, fmt.Errorf("%w: --dev listens on loopback only, got %s (run without --dev, with --auth-file, to serve other hosts)", ErrInsecure, a)
			}
		}
		if cfg.Auth == nil {
			st.Auth = "off: --dev (loopback only)"
		}
	case cfg.Auth == nil && !cfg.InsecureNoAuth:
		return st, fmt.Errorf("%w: no authentication configured: start with --auth-file FILE (tokens and roles), "+
			"or --insecure-no-auth to let anyone who reaches the API do everything", ErrInsecure)
	case cfg.Auth == nil:
		st.Auth = "off: --insecure-no-auth"
		st.Warnings = append(st.Warnings, "authentication is off (--insecure-no-auth): anyone who reaches the API may apply, release, roll back and delete")
	}
	if cfg.Auth != nil {
		id, ok := cfg.Auth.Lookup(cfg.JoinToken)
		switch {
		case !ok:
			return st, fmt.Errorf("%w: with --auth-file this node needs its own token (--token or SLUICE_TOKEN) from that file, "+
				"for joining and for reading the other members' xDS status", ErrInsecure)
		case cfg.Join != "" && !id.Has(api.RoleAdmin):
			return st, fmt.Errorf("%w: --join needs a token with the admin role (%s has %v)", ErrInsecure, id.User, id.Roles)
		}
	}
	if cfg.XDSClientCerts != nil && cfg.TLS == nil {
		return st, fmt.Errorf("%w: proxy client certificates need the node's TLS certificate (--tls-cert, --tls-key, --tls-ca)", ErrInsecure)
	}
	if cfg.TLS != nil {
		st.TLS = []string{"api", "raft", "xds"}
		st.XDSClientCerts = cfg.XDSClientCerts != nil
	} else if !cfg.Dev {
		st.Warnings = append(st.Warnings, "TLS is off: tokens, Raft traffic and proxy configuration cross the network in the clear, and anyone who reaches the Raft port can write to the log")
	}
	return st, nil
}

// isLoopback reports whether a listen address is a loopback host.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Node is a running Sluice server.
type Node struct {
	cfg     Config
	log     *slog.Logger
	raft    *raft.Node
	xds     *xds.Server
	api     *api.Server
	httpSrv *http.Server
	apiLis  net.Listener
	xdsLis  net.Listener
	reg     *prometheus.Registry
	peers   *transportSecurity

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// Start opens the Raft node, binds the API and xDS listeners and starts
// serving. It returns once everything listens; joining happens in the
// background until it succeeds or ctx ends.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	stream, err := xds.ParseStream(cfg.XDSStream)
	if err != nil {
		return nil, fmt.Errorf("xds stream handler: %w", err)
	}
	cfg.XDSStream = stream
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.APIAddr == "" {
		cfg.APIAddr = DefaultAPIAddr
	}
	if cfg.XDSAddr == "" {
		cfg.XDSAddr = DefaultXDSAddr
	}
	if cfg.RaftAddr == "" {
		cfg.RaftAddr = DefaultRaftAddr
	}
	log := cfg.Logger.With("node", cfg.NodeID)
	sec, err := checkSecurity(&cfg)
	if err != nil {
		return nil, err
	}
	for _, w := range sec.Warnings {
		log.Error("INSECURE: "+w, "auth", sec.Auth)
	}

	apiLis, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return nil, fmt.Errorf("listen api on %s: %w", cfg.APIAddr, err)
	}
	xdsLis, err := net.Listen("tcp", cfg.XDSAddr)
	if err != nil {
		apiLis.Close()
		return nil, fmt.Errorf("listen xds on %s: %w", cfg.XDSAddr, err)
	}
	rc := cfg.Raft
	rc.NodeID, rc.DataDir, rc.RaftAddr, rc.Bootstrap, rc.Logger = cfg.NodeID, cfg.DataDir, cfg.RaftAddr, cfg.Bootstrap, cfg.Logger
	t := newTransportSecurity(cfg)
	rc.TLS = t.raft
	rn, err := raft.Open(rc)
	if err != nil {
		apiLis.Close()
		xdsLis.Close()
		return nil, fmt.Errorf("open raft: %w", err)
	}
	if t.api != nil {
		apiLis = tls.NewListener(apiLis, t.api)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(newRaftCollector(rn))

	ctx, cancel := context.WithCancel(ctx)
	n := &Node{cfg: cfg, log: log, raft: rn, apiLis: apiLis, xdsLis: xdsLis, reg: reg, cancel: cancel, peers: t}
	n.xds = xds.NewServer(ctx, rn, xds.Options{Logger: log.With("component", "xds"), Metrics: xds.NewMetrics(reg),
		Creds: t.xdsCreds, Authorizer: t.xdsAuthz, Stream: cfg.XDSStream})
	prom := &controller.Prometheus{DefaultURL: cfg.PrometheusURL}
	windows := &controller.WindowAdvisor{Prom: prom}
	console, err := newConsole(rn, n.xds, cfg.Now, log)
	if err != nil {
		cancel()
		rn.Close()
		apiLis.Close()
		xdsLis.Close()
		return nil, err
	}
	n.api = api.New(rn, n.xds, api.Options{Logger: log.With("component", "api"), Now: cfg.Now, Gatherer: reg, Auth: cfg.Auth, Windows: windows,
		Forward: t.httpClient(30 * time.Second), Scheme: t.scheme, MetricsOpen: cfg.MetricsOpen, TrustedOrigins: cfg.TrustedOrigins, Security: sec,
		Subscribe: rn.Subscribe, Console: console})
	// Requests share the node's context, so long-lived event streams end
	// when the node stops instead of holding Shutdown up (the stream
	// handler lifts the read timeout for itself).
	n.httpSrv = &http.Server{Handler: n.api, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context { return ctx }}

	n.goRun(func() { n.xds.Run(ctx) })
	n.goRun(func() {
		if err := n.xds.Serve(ctx, xdsLis); err != nil {
			log.Error("xds server stopped", "err", err)
		}
	})
	n.goRun(func() {
		if err := n.httpSrv.Serve(apiLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("api server stopped", "err", err)
		}
	})
	n.goRun(func() { n.leaderLoop(ctx) })
	analysisResults := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_analysis_results_total", Help: "Release analyses run by this node while leading, by verdict phase.",
	}, []string{"phase"})
	// Every verdict is exported from the start, so rate() reads 0, not
	// "no data", before the first analysis of that kind.
	for _, p := range []analysis.Phase{analysis.PhaseSuccessful, analysis.PhaseFailed, analysis.PhaseInconclusive, analysis.PhaseError} {
		analysisResults.WithLabelValues(string(p))
	}
	attempts := newNotifyAttempts()
	reg.MustRegister(analysisResults, newReleaseCollector(rn, cfg.Now), newNotifyCollector(rn), attempts.delivered, attempts.failed)
	acks := &controller.ClusterAcks{
		Self:    cfg.NodeID,
		Local:   n.xds.Status,
		Members: func() map[string]*state.Member { return rn.State().Members },
		Fetch: func(ctx context.Context, addr string) (*xds.Status, error) {
			return n.peerClient(addr).XDSStatus(ctx)
		},
		NodeDeadline: cfg.AckNodeDeadline,
	}
	ctrl := controller.New(rn, controller.Deps{Acks: acks, Analyzer: &controller.SLOAnalyzer{Prom: prom}, Exposure: &controller.TrafficEstimator{Prom: prom},
		Health: &controller.ProbeChecker{Prom: prom, HTTP: &http.Client{Timeout: 10 * time.Second}, Now: cfg.Now}, Windows: windows,
		Webhooks: &controller.HTTPWebhooks{Now: cfg.Now}, Notices: &controller.HTTPNotifier{Now: cfg.Now}}, controller.Options{
		Tick:       cfg.ControllerTick,
		Now:        cfg.Now,
		Logger:     log.With("component", "controller"),
		Actor:      "controller:" + cfg.NodeID,
		OnVerdict:  func(v analysis.Verdict) { analysisResults.WithLabelValues(string(v.Phase)).Inc() },
		OnDelivery: attempts.observe,
	})
	n.goRun(func() { ctrl.Run(ctx) })
	n.goRun(func() { n.newDiscovery(rn).Run(ctx) })
	if cfg.Join != "" {
		n.goRun(func() { n.joinLoop(ctx) })
	}
	log.Info("sluice node started", "api", n.APIAddr(), "xds", n.XDSAddr(), "raft", rn.Addr(), "data_dir", cfg.DataDir)
	return n, nil
}

func (n *Node) goRun(f func()) {
	n.wg.Add(1)
	go func() { defer n.wg.Done(); f() }()
}

// APIAddr is the bound API address.
func (n *Node) APIAddr() string { return n.apiLis.Addr().String() }

// XDSAddr is the bound xDS address.
func (n *Node) XDSAddr() string { return n.xdsLis.Addr().String() }

// RaftAddr is the Raft transport address.
func (n *Node) RaftAddr() string { return n.raft.Addr() }

// Raft exposes the Raft node.
func (n *Node) Raft() *raft.Node { return n.raft }

// XDS exposes the xDS server.
func (n *Node) XDS() *xds.Server { return n.xds }

// Close stops serving and shuts the Raft node down. A leader hands
// leadership over first, while everything still runs, so the cluster is
// led again within a round trip instead of an election timeout.
func (n *Node) Close() error {
	var err error
	n.once.Do(func() {
		if n.raft.IsLeader() {
			hctx, cancel := context.WithTimeout(context.Background(), handOverTimeout)
			if herr := n.raft.HandOver(hctx); herr != nil && !errors.Is(herr, raft.ErrNoVoter) {
				n.log.Warn("leadership hand-over failed; the others will elect a leader after the election timeout", "err", herr)
			}
			cancel()
		}
		n.cancel()
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = n.httpSrv.Shutdown(sctx)
		cancel()
		n.wg.Wait()
		err = n.raft.Close()
		n.log.Info("sluice node stopped")
	})
	return err
}

// member is this node's record in replicated state.
func (n *Node) member() state.Member {
	return state.Member{ID: n.cfg.NodeID, RaftAddr: n.raft.Addr(), APIAddr: n.APIAddr(), XDSAddr: n.XDSAddr()}
}

// leaderLoop runs leader-only tasks while this node leads: today, keeping
// its own member record current so followers can forward to it.
func (n *Node) leaderLoop(ctx context.Context) {
	ch, cancel := n.raft.LeaderChanges()
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case leader := <-ch:
			if !leader {
				continue
			}
			n.ensureMember(ctx)
		}
	}
}

func (n *Node) ensureMember(ctx context.Context) {
	want := n.member()
	for attempt := 0; ctx.Err() == nil && n.raft.IsLeader(); attempt++ {
		if cur, ok := n.raft.State().Members[want.ID]; ok && *cur == want {
			return
		}
		cmd, err := state.NewCommand(state.CmdSetMember, n.cfg.Now(), "system:"+n.cfg.NodeID, want)
		if err == nil {
			actx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err = n.raft.Apply(actx, cmd)
			cancel()
		}
		if err == nil {
			return
		}
		n.log.Warn("recording member address failed; retrying", "err", err, "attempt", attempt)
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
}

// joinLoop asks an existing member to add this node until it is part of
// a configuration or ctx ends.
func (n *Node) joinLoop(ctx context.Context) {
	client := n.peerClient(n.cfg.Join)
	m := n.member()
	req := api.JoinRequest{ID: m.ID, RaftAddr: m.RaftAddr, APIAddr: m.APIAddr, XDSAddr: m.XDSAddr, Voter: !n.cfg.NonVoter}
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if n.inConfiguration() && n.memberRecorded(m) {
			return
		}
		err := client.Join(ctx, req)
		if err == nil {
			n.log.Info("joined cluster", "via", n.cfg.Join, "voter", req.Voter)
			return
		}
		n.log.Warn("join failed; retrying", "via", n.cfg.Join, "err", err, "attempt", attempt)
		select {
		case <-ctx.Done():
		case <-time.After(min(time.Duration(attempt+1)*250*time.Millisecond, 3*time.Second)):
		}
	}
}

func (n *Node) inConfiguration() bool {
	servers, err := n.raft.Servers()
	if err != nil {
		return false
	}
	for _, s := range servers {
		if s.ID == n.cfg.NodeID {
			return true
		}
	}
	return false
}

func (n *Node) memberRecorded(m state.Member) bool {
	cur, ok := n.raft.State().Members[m.ID]
	return ok && *cur == m
}

// newConsole builds the web console of a node: it reads the node's state
// and asks other nodes' APIs for their xDS status with the caller's token.
func newConsole(rn *raft.Node, x *xds.Server, now func() time.Time, log *slog.Logger) (*ui.Console, error) {
	return ui.New(rn, ui.Options{
		Logger:   log.With("component", "console"),
		Now:      now,
		LocalXDS: x.Status,
		PeerXDS: func(ctx context.Context, addr, authorization string) (*xds.Status, error) {
			c := api.NewClient(addr)
			c.Token, _ = strings.CutPrefix(authorization, "Bearer ")
			return c.XDSStatus(ctx)
		},
	})
}

// DataDirOrTemp returns dir, or a new temporary directory when dir is "".
func DataDirOrTemp(dir string) (string, func(), error) {
	if dir != "" {
		return dir, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "sluice-dev-")
	if err != nil {
		return "", nil, fmt.Errorf("create temporary data dir: %w", err)
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}
