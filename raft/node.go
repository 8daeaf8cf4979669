// Package raft runs the Raft node that replicates Sluice's state.State: the
// hashicorp/raft instance, its on-disk stores and transport, and the FSM
// that applies commands to the state. See DESIGN.md in this directory.
package raft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/sluicehq/sluice/state"
)

// ErrNotLeader is returned by operations that only the leader may perform
// (Apply, Barrier, membership changes) when this node is not the leader, or
// is handing leadership over. Use Leader to find where to send the request.
var ErrNotLeader = errors.New("not the Raft leader")

// ErrLeadershipLost is returned when this node lost leadership while a
// command was in flight: the command may or may not have been committed.
var ErrLeadershipLost = errors.New("leadership lost before the command was confirmed; it may or may not have been applied")

// ErrShutdown is returned once Close has stopped the Raft node.
var ErrShutdown = errors.New("raft node is shut down")

// ErrTooLarge is returned for a command bigger than one Raft log entry
// should be (hraft.SuggestedMaxDataSize). Split the change.
var ErrTooLarge = errors.New("command too large for one Raft log entry")

// ErrApplyPanic is returned when applying a command panicked. The state is
// left unchanged on every node.
var ErrApplyPanic = errors.New("applying the command panicked")

// ErrNoVoter is returned by HandOver when no other voter could take
// leadership (a single-node cluster).
var ErrNoVoter = errors.New("no other voter to hand leadership to")

// ErrConfig is returned by Open for an unusable Config.
var ErrConfig = errors.New("invalid raft node configuration")

// Transport and store settings.
const (
	logStoreFile      = "raft.db"
	snapshotsRetained = 2
	transportMaxPool  = 3
	transportTimeout  = 10 * time.Second
	logCacheSize      = 512
	// boltOpenTimeout bounds the wait for the log store's file lock, so a
	// second process on the same data directory fails instead of hanging.
	boltOpenTimeout = time.Second
)

// Sluice's Raft timeouts, used when Config leaves them zero. A follower
// checks for the leader's heartbeats at random intervals of one to two
// heartbeat timeouts and campaigns at the first check that finds none for
// a heartbeat timeout, so a dead leader is noticed 0.3-0.9 s after its
// last heartbeat (hashicorp's 1 s default takes 1-3 s). The leader lease is
// as long as the heartbeat timeout allows: a leader steps down only after
// 300 ms without hearing from a quorum. docs/benchmarks.md has the
// failover and idle-cluster measurements behind these values.
const (
	DefaultHeartbeatTimeout   = 300 * time.Millisecond
	DefaultElectionTimeout    = 300 * time.Millisecond
	DefaultLeaderLeaseTimeout = 300 * time.Millisecond
)

// handOverTimeout bounds how long Close waits for leadership to move to
// another voter before shutting down anyway.
const handOverTimeout = 2 * time.Second

// Config configures a Node.
type Config struct {
	// NodeID is this server's stable Raft id.
	NodeID string
	// DataDir holds the log store (raft.db) and snapshots (snapshots/).
	DataDir string
	// RaftAddr is the host:port the Raft transport listens on. It is also
	// the address advertised to peers unless AdvertiseAddr is set. Port 0
	// picks a free port (see Node.Addr).
	RaftAddr string
	// AdvertiseAddr is the host:port peers use to reach this node, when it
	// differs from RaftAddr (e.g. RaftAddr "0.0.0.0:7000"). Optional.
	AdvertiseAddr string
	// TLS, when set, makes the transport mutual TLS (see TLS). Without it
	// the transport is plain TCP: anyone who reaches the port can speak
	// Raft.
	TLS *TLS
	// Bootstrap makes a new single-voter cluster of this node if the data
	// directory holds no Raft state yet. It is ignored on restart.
	Bootstrap bool
	// Logger receives the node's and hashicorp/raft's logs. Nil discards.
	Logger *slog.Logger

	// Timeouts; zero means DefaultHeartbeatTimeout,
	// DefaultElectionTimeout, DefaultLeaderLeaseTimeout and hashicorp's
	// default commit timeout.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration

	// Snapshot policy; zero means the hashicorp/raft default.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
}

// Node is one member of the Raft cluster that replicates state.State.
// All methods are safe for concurrent use.
type Node struct {
	id    string
	addr  string
	log   *slog.Logger
	raft  *hraft.Raft
	fsm   *fsm
	store *raftboltdb.BoltStore
	trans *hraft.NetworkTransport
	dial  dialer

	obsCh    chan hraft.Observation
	observer *hraft.Observer
	stop     chan struct{}
	wg       sync.WaitGroup
	leaders  leaderTracker

	closeOnce sync.Once
	closeErr  error
}

// Open starts a Raft node on cfg.DataDir, creating the directory and stores
// if needed. With cfg.Bootstrap and no existing state it bootstraps a
// single-voter cluster; otherwise it rejoins the cluster recorded on disk,
// or waits to be added by a leader (AddVoter / AddNonvoter).
func Open(cfg Config) (*Node, error) {
	if cfg.NodeID == "" {
		return nil, fmt.Errorf("%w: NodeID is empty", ErrConfig)
	}
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("%w: DataDir is empty", ErrConfig)
	}
	if cfg.RaftAddr == "" {
		return nil, fmt.Errorf("%w: RaftAddr is empty", ErrConfig)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "raft", "node", cfg.NodeID)
	hlog := newHCLogAdapter(logger, "")

	rc := hraft.DefaultConfig()
	rc.LocalID = hraft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	// A node removed from the cluster stays up as a follower outside the
	// configuration (it never campaigns) until it is closed, so Close always
	// does the full shutdown and the node could be added back.
	rc.ShutdownOnRemove = false
	rc.HeartbeatTimeout = DefaultHeartbeatTimeout
	rc.ElectionTimeout = DefaultElectionTimeout
	rc.LeaderLeaseTimeout = DefaultLeaderLeaseTimeout
	setIfNonZero(&rc.HeartbeatTimeout, cfg.HeartbeatTimeout)
	setIfNonZero(&rc.ElectionTimeout, cfg.ElectionTimeout)
	setIfNonZero(&rc.LeaderLeaseTimeout, cfg.LeaderLeaseTimeout)
	setIfNonZero(&rc.CommitTimeout, cfg.CommitTimeout)
	if cfg.LeaderLeaseTimeout == 0 {
		// A shorter heartbeat timeout alone shortens the default lease too.
		rc.LeaderLeaseTimeout = min(rc.LeaderLeaseTimeout, rc.HeartbeatTimeout)
	}
	setIfNonZero(&rc.SnapshotThreshold, cfg.SnapshotThreshold)
	setIfNonZero(&rc.SnapshotInterval, cfg.SnapshotInterval)
	setIfNonZero(&rc.TrailingLogs, cfg.TrailingLogs)
	if err := hraft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}

	var advertise net.Addr
	if cfg.AdvertiseAddr != "" {
		a, err := net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr)
		if err != nil {
			return nil, fmt.Errorf("%w: AdvertiseAddr %q: %w", ErrConfig, cfg.AdvertiseAddr, err)
		}
		advertise = a
	}

	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create raft data dir: %w", err)
	}
	dbPath := filepath.Join(cfg.DataDir, logStoreFile)
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        dbPath,
		BoltOptions: &bbolt.Options{Timeout: boltOpenTimeout},
	})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("open raft log store %s: locked by another process (is another node using this data dir?): %w", dbPath, err)
		}
		return nil, fmt.Errorf("open raft log store %s: %w", dbPath, err)
	}
	fail := func(err error) (*Node, error) {
		_ = store.Close()
		return nil, err
	}
	logs, err := hraft.NewLogCache(logCacheSize, store)
	if err != nil {
		return fail(fmt.Errorf("create raft log cache: %w", err))
	}
	snaps, err := hraft.NewFileSnapshotStoreWithLogger(cfg.DataDir, snapshotsRetained, hlog.Named("snapshot"))
	if err != nil {
		return fail(fmt.Errorf("open raft snapshot store in %s: %w", cfg.DataDir, err))
	}
	var trans *hraft.NetworkTransport
	dial := dialer(tcpDial)
	if cfg.TLS != nil {
		trans, dial, err = newTLSTransportDialer(cfg.RaftAddr, advertise, cfg.TLS, hlog.Named("transport"))
	} else {
		trans, err = hraft.NewTCPTransportWithLogger(cfg.RaftAddr, advertise, transportMaxPool, transportTimeout, hlog.Named("transport"))
	}
	if err != nil {
		return fail(fmt.Errorf("start raft transport on %s: %w", cfg.RaftAddr, err))
	}
	failTrans := func(err error) (*Node, error) {
		_ = trans.Close()
		return fail(err)
	}
	addr := string(trans.LocalAddr())

	if cfg.Bootstrap {
		existing, err := hraft.HasExistingState(logs, store, snaps)
		if err != nil {
			return failTrans(fmt.Errorf("check for existing raft state: %w", err))
		}
		if !existing {
			boot := hraft.Configuration{Servers: []hraft.Server{{
				Suffrage: hraft.Voter,
				ID:       rc.LocalID,
				Address:  hraft.ServerAddress(addr),
			}}}
			if err := hraft.BootstrapCluster(rc, logs, store, snaps, trans, boot); err != nil {
				return failTrans(fmt.Errorf("bootstrap raft cluster: %w", err))
			}
			logger.Info("bootstrapped new single-voter cluster", "addr", addr)
		}
	}

	f := newFSM(logger)
	r, err := hraft.NewRaft(rc, f, logs, store, snaps, trans)
	if err != nil {
		return failTrans(fmt.Errorf("start raft: %w", err))
	}
	n := &Node{
		id:    cfg.NodeID,
		addr:  addr,
		log:   logger,
		raft:  r,
		fsm:   f,
		store: store,
		trans: trans,
		dial:  dial,
		obsCh: make(chan hraft.Observation, 64),
		stop:  make(chan struct{}),
	}
	n.leaders.init()
	n.observer = hraft.NewObserver(n.obsCh, false, func(o *hraft.Observation) bool {
		switch o.Data.(type) {
		case hraft.LeaderObservation, hraft.RaftState:
			return true
		}
		return false
	})
	r.RegisterObserver(n.observer)
	n.wg.Add(1)
	go n.watchLeadership()
	logger.Info("raft node started", "addr", addr, "dataDir", cfg.DataDir)
	return n, nil
}

func setIfNonZero[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}

// Close shuts the Raft node down and closes its stores. A leader first
// hands leadership to the most up-to-date voter (HandOver), so the cluster
// has a leader again without waiting for an election timeout; when that
// fails it shuts down anyway and the others elect one. Calling Close again
// returns the first result.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		if n.IsLeader() {
			ctx, cancel := context.WithTimeout(context.Background(), handOverTimeout)
			if err := n.HandOver(ctx); err != nil && !errors.Is(err, ErrNoVoter) {
				n.log.Warn("leadership hand-over before shutdown failed; the others will elect a leader after the election timeout", "err", err)
			}
			cancel()
		}
		var errs []error
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("shut down raft: %w", err))
		}
		if err := n.trans.Close(); err != nil { // already closed by Shutdown; kept for clarity
			errs = append(errs, fmt.Errorf("close raft transport: %w", err))
		}
		n.raft.DeregisterObserver(n.observer)
		close(n.stop)
		n.wg.Wait()
		n.refreshLeadership() // delivers the final false
		if err := n.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close raft log store: %w", err))
		}
		n.closeErr = errors.Join(errs...)
		n.log.Info("raft node stopped")
	})
	return n.closeErr
}

// HandOver transfers leadership to the most up-to-date voter and waits
// until that voter has been told to campaign at once (hashicorp's
// LeadershipTransfer, Raft's TimeoutNow). It returns ErrNotLeader on a
// follower; applies are refused with ErrNotLeader while it runs.
func (n *Node) HandOver(ctx context.Context) error {
	if !n.IsLeader() {
		return fmt.Errorf("hand over leadership: %w", ErrNotLeader)
	}
	if !n.hasOtherVoter() {
		return fmt.Errorf("hand over leadership: %w", ErrNoVoter)
	}
	term := n.raft.CurrentTerm()
	if err := wait(ctx, n.raft.LeadershipTransfer()); err != nil {
		return raftError("hand over leadership", err)
	}
	id, _ := n.Leader()
	n.log.Info("leadership handed over", "term", term, "to", id)
	return nil
}

// hasOtherVoter reports whether the configuration has a voter besides
// this node.
func (n *Node) hasOtherVoter() bool {
	servers, err := n.Servers()
	if err != nil {
		return false
	}
	for _, s := range servers {
		if s.ID != n.id && s.Suffrage == SuffrageVoter {
			return true
		}
	}
	return false
}

// ID returns this node's Raft server id.
func (n *Node) ID() string { return n.id }

// Addr returns the Raft address this node advertises to its peers (the
// real port when Config.RaftAddr asked for port 0).
func (n *Node) Addr() string { return n.addr }

// State returns the latest applied state; never nil. The value is
// immutable: read it without locking, never modify it.
func (n *Node) State() *state.State { return n.fsm.State() }

// Subscribe returns a channel that receives a value after every applied
// command that changed the state and after a snapshot restore. Notifications
// coalesce (buffer 1): on wake-up, read State(). The channel is never
// closed; call cancel to unsubscribe.
func (n *Node) Subscribe() (<-chan struct{}, func()) { return n.fsm.subscribe() }

// Apply proposes cmd to the cluster and waits until it is applied on this
// node, the leader. It returns the FSM's result, or ErrNotLeader on any
// other node. A command the state rejects returns its error wrapped, so
// errors.Is matches e.g. config.ErrInvalid or state.ErrNotFound; nothing has
// changed then.
//
// A zero cmd.Time is stamped with this leader's clock here, outside the
// FSM. If ctx ends first Apply returns ctx.Err(), but the command may still
// be committed later.
func (n *Node) Apply(ctx context.Context, cmd state.Command) (any, error) {
	op := fmt.Sprintf("apply %s", cmd.Type)
	if cmd.Time.IsZero() {
		cmd.Time = time.Now().UTC()
	}
	b, err := cmd.Encode()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if len(b) > hraft.SuggestedMaxDataSize {
		return nil, fmt.Errorf("%s: %w: %d bytes, limit %d", op, ErrTooLarge, len(b), hraft.SuggestedMaxDataSize)
	}
	timeout, err := enqueueTimeout(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	f := n.raft.Apply(b, timeout)
	if err := wait(ctx, f); err != nil {
		return nil, raftError(op, err)
	}
	resp, ok := f.Response().(applyResponse)
	if !ok {
		return nil, fmt.Errorf("%s: unexpected FSM response %T", op, f.Response())
	}
	if resp.Err != nil {
		return nil, fmt.Errorf("%s: %w", op, resp.Err)
	}
	return resp.Result, nil
}

// Barrier waits until every entry before it has been applied on this node,
// the leader. Use it after winning an election before trusting State().
func (n *Node) Barrier(ctx context.Context) error {
	timeout, err := enqueueTimeout(ctx)
	if err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	if err := wait(ctx, n.raft.Barrier(timeout)); err != nil {
		return raftError("barrier", err)
	}
	return nil
}

// Snapshot forces a snapshot of the state now and compacts the log. It is
// not an error when nothing was applied since the last snapshot.
func (n *Node) Snapshot() error {
	err := n.raft.Snapshot().Error()
	if err != nil && !errors.Is(err, hraft.ErrNothingNewToSnapshot) {
		return raftError("snapshot", err)
	}
	return nil
}

// enqueueTimeout turns ctx's deadline into hashicorp's enqueue timeout
// (0 = none).
func enqueueTimeout(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	dl, ok := ctx.Deadline()
	if !ok {
		return 0, nil
	}
	d := time.Until(dl)
	if d <= 0 {
		return 0, context.DeadlineExceeded
	}
	return d, nil
}

// wait blocks until f resolves or ctx ends. The future always resolves
// (at the latest when Raft shuts down), so the helper goroutine ends too.
func wait(ctx context.Context, f hraft.Future) error {
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// raftError maps hashicorp/raft errors to this package's sentinels, keeping
// the original in the chain.
func raftError(op string, err error) error {
	switch {
	case errors.Is(err, hraft.ErrNotLeader):
		return fmt.Errorf("%s: %w", op, ErrNotLeader)
	case errors.Is(err, hraft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%s: %w: %w", op, ErrNotLeader, err)
	case errors.Is(err, hraft.ErrLeadershipLost):
		return fmt.Errorf("%s: %w", op, ErrLeadershipLost)
	case errors.Is(err, hraft.ErrRaftShutdown):
		return fmt.Errorf("%s: %w", op, ErrShutdown)
	case errors.Is(err, hraft.ErrEnqueueTimeout):
		return fmt.Errorf("%s: %w: %w", op, context.DeadlineExceeded, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
