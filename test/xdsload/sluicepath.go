package xdsload

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/server"
	"github.com/sluicehq/sluice/state"
	"github.com/sluicehq/sluice/xds"
)

// sluicePath is the real path: API -> Raft -> FSM -> translation ->
// snapshot -> streams, on a single bootstrapped node.
type sluicePath struct {
	pathRun
	cfg  FanoutConfig
	node *server.Node
	dir  string
	// lastIndex is the Raft index of the last round's change.
	lastIndex uint64
	// ackBase is the node's ACK count just before the last change.
	ackBase uint64
	// resources are the translation of the node's state at each split,
	// for the baselines; made before the node's memory is first read, so
	// that they count in none of its readings.
	resources [2]*xds.Resources
}

// openSluice starts the node, applies the fleet's configuration and
// opens a fleet on it, synced.
func openSluice(ctx context.Context, cfg FanoutConfig) (_ *sluicePath, err error) {
	sp := &sluicePath{cfg: cfg, pathRun: pathRun{res: &PathResult{Path: "sluice"}}}
	sp.log = cfg.Logger.With("path", sp.res.Path, "streams", cfg.Streams)
	defer func() {
		if err != nil {
			sp.close()
		}
	}()
	if sp.dir, err = os.MkdirTemp("", "sluice-bench-"); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	sp.closers = append(sp.closers, func() { os.RemoveAll(sp.dir) })
	sp.node, err = server.Start(ctx, server.Config{
		NodeID: "bench-1", DataDir: sp.dir, Bootstrap: true, Dev: true,
		APIAddr: "127.0.0.1:0", XDSAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0",
		XDSStream: cfg.XDSStream,
	})
	if err != nil {
		return nil, fmt.Errorf("start node: %w", err)
	}
	sp.closers = append(sp.closers, func() { sp.node.Close() })
	sctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	cl := api.NewClient(sp.node.APIAddr())
	cl.Actor = "sluice-bench"
	if err := sp.configure(sctx, cl); err != nil {
		return nil, err
	}
	if err := sp.open(sctx); err != nil {
		return nil, err
	}
	n := cfg.Streams
	sp.push = func(ctx context.Context, _, split int) (uint64, error) {
		sp.ackBase = sp.node.XDS().ACKs()
		t0 := time.Now()
		ar, err := cl.Apply(ctx, "bench.yaml", BenchServiceYAML(split))
		if err != nil {
			return 0, fmt.Errorf("apply: %w", err)
		}
		sp.res.Applies = append(sp.res.Applies, time.Since(t0))
		sp.lastIndex = ar.Index
		return ar.Index, nil
	}
	// Each stream ACKs its route once per round.
	sp.settled = func(ctx context.Context) error {
		return sluiceSettled(ctx, sp.node, n, sp.ackBase, uint64(n), true)
	}
	sp.finish = func(ctx context.Context) error {
		// Every stream synced at the last round's index, nothing rejected.
		if err := sluiceSettled(ctx, sp.node, n, sp.ackBase, uint64(n), false); err != nil {
			return fmt.Errorf("after the rounds: %w", err)
		}
		return nil
	}
	return sp, nil
}

// configure waits until the node is ready, with the leader's own member
// record written so that no command but ours lands during the rounds,
// then applies the fleet's configuration and translates the state at
// both splits.
func (sp *sluicePath) configure(ctx context.Context, cl *api.Client) error {
	node := sp.node
	if err := poll(ctx, 20*time.Millisecond, "node ready", func() error {
		if !cl.Ready(ctx) {
			return errors.New("/readyz not 200")
		}
		if _, ok := node.Raft().State().Members["bench-1"]; !ok {
			return errors.New("member record not written yet")
		}
		return nil
	}); err != nil {
		return err
	}
	ar, err := cl.Apply(ctx, "fleet.yaml", FleetYAML(sp.cfg.Services))
	if err != nil {
		return fmt.Errorf("apply the fleet configuration: %w", err)
	}
	if err := node.XDS().WaitIndex(ctx, ar.Index); err != nil {
		return err
	}
	var states [2]*state.State
	states[0] = node.Raft().State()
	if states[1], err = withSplit(states[0], 1); err != nil {
		return err
	}
	for i, st := range states {
		if sp.resources[i], err = xds.Translate(st, benchGroup); err != nil {
			return fmt.Errorf("translate split %d: %w", i, err)
		}
	}
	return nil
}

// open connects the fleet, timing its cold sync, and waits until the
// node has every ACK.
func (sp *sluicePath) open(ctx context.Context) error {
	n := sp.cfg.Streams
	sp.res.Memory.Before = readMemory()
	fleet, err := sp.cfg.NewFleet()
	if err != nil {
		return err
	}
	sp.fleet = fleet
	sp.closers = append(sp.closers, func() { fleet.Close() })
	builds := sp.node.XDS().Status().Builds
	acks := sp.node.XDS().ACKs()
	start := time.Now()
	if err := fleet.Open(ctx, sp.node.XDSAddr(), SplitWeights(0)); err != nil {
		return fmt.Errorf("open %d streams: %w", n, err)
	}
	sp.res.Sync = time.Since(start)
	sp.res.SyncBuilds = sp.node.XDS().Status().Builds - builds
	// Every stream ACKs its four types.
	if err := sluiceSettled(ctx, sp.node, n, acks, uint64(4*n), false); err != nil {
		return err
	}
	sp.res.Memory.Synced = readMemory()
	logSynced(sp.log, *sp.res, n)
	if sp.cfg.Synced != nil {
		sp.cfg.Synced(sp.res.Path)
	}
	return nil
}

// restart closes the fleet, restarts the node on its data directory and
// times a fresh fleet connecting at once (PathResult.Restart).
func (sp *sluicePath) restart(ctx context.Context) error {
	if err := sp.fleet.Close(); err != nil {
		return fmt.Errorf("close the fleet: %w", err)
	}
	var err error
	if sp.res.Restart, err = restartNode(ctx, sp.cfg, &sp.node, sp.dir, sp.lastIndex); err != nil {
		return fmt.Errorf("after the restart: %w", err)
	}
	sp.log.Info("restart storm", "sync", sp.res.Restart.Sync, "builds", sp.res.Restart.Builds)
	return nil
}

// withSplit applies the benchmark service at split i to st, as the FSM would.
func withSplit(st *state.State, i int) (*state.State, error) {
	docs, err := config.Parse("bench.yaml", BenchServiceYAML(i))
	if err != nil {
		return nil, err
	}
	cmd, err := state.NewCommand(state.CmdApply, time.Unix(0, 0), "sluice-bench", state.ApplyPayload{Documents: docs, Defaults: config.CurrentDefaults})
	if err != nil {
		return nil, err
	}
	next, _, err := state.Apply(st, st.Index+1, cmd)
	if err != nil {
		return nil, fmt.Errorf("apply split %d: %w", i, err)
	}
	return next, nil
}

// sluiceSettled waits until the node's one group has n streams, all
// synced, with no NACK, once the node's ACK count has grown by at least
// minACKs since acks. Status walks every stream, so between rounds
// (quick) only the ACK count is read, as the floor's settle check does;
// Status is then asked only if the count has not grown enough within
// half a second. The rounds' server CPU time must not measure the check.
func sluiceSettled(ctx context.Context, node *server.Node, n int, acks, minACKs uint64, quick bool) error {
	polls := 0
	return poll(ctx, 2*time.Millisecond, "server side synced", func() error {
		polls++
		got := node.XDS().ACKs() - acks
		if got < minACKs && polls%250 != 0 {
			return fmt.Errorf("%d ACKs of %d", got, minACKs)
		}
		if quick && got >= minACKs {
			return nil
		}
		st := node.XDS().Status()
		if len(st.Groups) != 1 || st.Groups[0].Streams != n || st.Groups[0].Synced != n || len(st.Groups[0].NACKs) > 0 {
			return fmt.Errorf("groups %+v", st.Groups)
		}
		return nil
	})
}

// restartNode closes *node, starts it again on dir and the same
// addresses, waits until its xDS server has read index, and times a fresh
// fleet connecting at once, as every proxy reconnects after a node
// restart. *node is the new node afterwards.
func restartNode(ctx context.Context, cfg FanoutConfig, node **server.Node, dir string, index uint64) (*ColdSync, error) {
	old := *node
	sc := server.Config{
		NodeID: "bench-1", DataDir: dir, Bootstrap: true, Dev: true,
		APIAddr: old.APIAddr(), XDSAddr: old.XDSAddr(), RaftAddr: old.RaftAddr(),
		XDSStream: cfg.XDSStream,
	}
	if err := old.Close(); err != nil {
		return nil, fmt.Errorf("close the node: %w", err)
	}
	n, err := server.Start(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("start the node again: %w", err)
	}
	*node = n
	sctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if err := n.XDS().WaitIndex(sctx, index); err != nil {
		return nil, err
	}
	fleet, err := cfg.NewFleet()
	if err != nil {
		return nil, err
	}
	defer fleet.Close()
	builds := n.XDS().Status().Builds
	start := time.Now()
	if err := fleet.Open(sctx, n.XDSAddr(), SplitWeights(cfg.Rounds%2)); err != nil {
		return nil, fmt.Errorf("open %d streams: %w", cfg.Streams, err)
	}
	out := &ColdSync{Sync: time.Since(start), Builds: n.XDS().Status().Builds - builds}
	return out, sluiceSettled(sctx, n, cfg.Streams, 0, uint64(4*cfg.Streams), false)
}
