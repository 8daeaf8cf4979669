// Package server assembles one Sluice node: the Raft node, the xDS server,
// the HTTP API and the leader-only tasks. cmd/sluice and the end-to-end
// tests start nodes through it.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/controller"
	"github.com/sluicehq/sluice/raft"
	"github.com/sluicehq/sluice/state"
	"github.com/sluicehq/sluice/xds"
)

// ErrJoin is returned when a node cannot join an existing cluster.
var ErrJoin = errors.New("cannot join cluster")

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
	Logger   *slog.Logger
	// Raft tuning (tests use short timeouts); zero means defaults.
	Raft raft.Config
	// Now is the leader's clock for stamping commands (default time.Now).
	Now func() time.Time
	// PrometheusURL is where release analysis queries go when a policy
	// names no Prometheus of its own.
	PrometheusURL string
	// ControllerTick is how often the leader looks at releases (default
	// 200ms).
	ControllerTick time.Duration
	// Auth maps API tokens to users and roles; nil disables
	// authentication. Every node must have the same map.
	Auth *api.Auth
	// JoinToken authenticates this node's join request (admin role).
	JoinToken string
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

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// Start opens the Raft node, binds the API and xDS listeners and starts
// serving. It returns once everything listens; joining happens in the
// background until it succeeds or ctx ends.
func Start(ctx context.Context, cfg Config) (*Node, error) {
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
	rn, err := raft.Open(rc)
	if err != nil {
		apiLis.Close()
		xdsLis.Close()
		return nil, fmt.Errorf("open raft: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(newRaftCollector(rn))

	ctx, cancel := context.WithCancel(ctx)
	n := &Node{cfg: cfg, log: log, raft: rn, apiLis: apiLis, xdsLis: xdsLis, reg: reg, cancel: cancel}
	n.xds = xds.NewServer(ctx, rn, xds.Options{Logger: log.With("component", "xds"), Metrics: xds.NewMetrics(reg)})
	prom := &controller.Prometheus{DefaultURL: cfg.PrometheusURL}
	windows := &controller.WindowAdvisor{Prom: prom}
	n.api = api.New(rn, n.xds, api.Options{Logger: log.With("component", "api"), Now: cfg.Now, Gatherer: reg, Auth: cfg.Auth, Windows: windows})
	if cfg.Auth == nil {
		log.Warn("API authentication is off: every caller may do everything (use --auth-file in production)")
	}
	n.httpSrv = &http.Server{Handler: n.api, ReadHeaderTimeout: 10 * time.Second}

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
	reg.MustRegister(analysisResults, newReleaseCollector(rn, cfg.Now))
	acks := &controller.ClusterAcks{
		Self:    cfg.NodeID,
		Local:   n.xds.Status,
		Members: func() map[string]*state.Member { return rn.State().Members },
		Fetch: func(ctx context.Context, addr string) (*xds.Status, error) {
			return api.NewClient(addr).XDSStatus(ctx)
		},
	}
	ctrl := controller.New(rn, controller.Deps{Acks: acks, Analyzer: &controller.SLOAnalyzer{Prom: prom}, Exposure: &controller.TrafficEstimator{Prom: prom},
		Health: &controller.ProbeChecker{Prom: prom, HTTP: &http.Client{Timeout: 10 * time.Second}, Now: cfg.Now}, Windows: windows}, controller.Options{
		Tick:      cfg.ControllerTick,
		Now:       cfg.Now,
		Logger:    log.With("component", "controller"),
		Actor:     "controller:" + cfg.NodeID,
		OnVerdict: func(v analysis.Verdict) { analysisResults.WithLabelValues(string(v.Phase)).Inc() },
	})
	n.goRun(func() { ctrl.Run(ctx) })
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

// Close stops serving and shuts the Raft node down.
func (n *Node) Close() error {
	var err error
	n.once.Do(func() {
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
	client := api.NewClient(n.cfg.Join)
	client.Actor = "system:" + n.cfg.NodeID
	client.Token = n.cfg.JoinToken
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
