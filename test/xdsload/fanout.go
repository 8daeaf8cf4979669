package xdsload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/server"
	"github.com/sluicehq/sluice/state"
	"github.com/sluicehq/sluice/xds"
)

// FanoutConfig configures one fan-out comparison at one stream count.
type FanoutConfig struct {
	// Streams is the number of ADS streams (N).
	Streams int
	// Rounds is the number of weight changes timed per path.
	Rounds int
	// Services is the number of gRPC services in the configuration, the
	// benchmark service included (default 50).
	Services int
	// NewFleet returns a fresh, unopened fleet of Streams streams; each
	// path gets its own.
	NewFleet func() (Fleet, error)
	// Timeout bounds connecting the fleet and each round (default 2m).
	Timeout time.Duration
	// Logger receives progress (default: discard).
	Logger *slog.Logger
	// Profile, when set, is called just before a path's first round
	// ("sluice" or "bare"); the function it returns is called after the
	// last round. The CLI uses it to profile the push path alone.
	Profile func(path string) (stop func())
	// Synced, when set, is called once every stream of a path is synced,
	// just after the memory reading (the CLI writes heap profiles there).
	Synced func(path string)
	// Restart, when set, ends the Sluice path by restarting the node on
	// its data directory and timing a fresh fleet of Streams streams
	// connecting at once (PathResult.Restart).
	Restart bool
	// OneVersion, when set, also runs the bare cache the way the first
	// version of this benchmark did: one version on all four types, so
	// every change resends every type (FanoutResult.OneVersion).
	OneVersion bool
	// XDSStream picks the Sluice node's ADS stream handlers, state of the
	// world and delta (server.Config.XDSStream; default Sluice's own).
	XDSStream string
	// Delta says that NewFleet's streams speak delta ADS (Options.Delta);
	// the bare path then counts delta watches. OneVersion cannot be
	// combined with it: delta sends only resources whose content hash
	// changed, whatever the snapshot's versions, so it would measure the
	// bare path again.
	Delta bool
}

func (cfg *FanoutConfig) profile(path string) func() {
	if cfg.Profile == nil {
		return func() {}
	}
	return sync.OnceFunc(cfg.Profile(path))
}

// MemSample is the process's memory after a forced garbage collection,
// in bytes.
type MemSample struct {
	// Heap is the live heap (runtime.MemStats.HeapAlloc).
	Heap uint64 `json:"heap"`
	// HeapInuse counts whole spans holding live objects, so it also moves
	// with fragmentation.
	HeapInuse uint64 `json:"heapInuse"`
	// Stack is goroutine stacks in use (StackInuse).
	Stack uint64 `json:"stack"`
}

// Memory is the server process's memory around a path.
type Memory struct {
	// Before: the server ready, no stream open.
	Before MemSample `json:"before"`
	// Synced: every stream synced, before any round.
	Synced MemSample `json:"synced"`
	// After: after the last round, streams still open.
	After MemSample `json:"after"`
}

// PerStream is (live heap + stacks when synced - before) / n, in bytes.
func (m Memory) PerStream(n int) float64 {
	return (float64(m.Synced.Heap) - float64(m.Before.Heap) + float64(m.Synced.Stack) - float64(m.Before.Stack)) / float64(n)
}

// InusePerStream is PerStream with heap in use (whole spans) in place of
// the live heap.
func (m Memory) InusePerStream(n int) float64 {
	return (float64(m.Synced.HeapInuse) - float64(m.Before.HeapInuse) + float64(m.Synced.Stack) - float64(m.Before.Stack)) / float64(n)
}

// ColdSync is a fleet connecting at once to a node that holds no snapshot
// for its group yet.
type ColdSync struct {
	// Sync is the time from dialling to every stream holding config.
	Sync time.Duration `json:"syncNs"`
	// Builds counts the group snapshot builds meanwhile (Sluice only).
	Builds uint64 `json:"builds"`
}

// PathResult is one path (Sluice, the bare cache or the floor server) at
// one stream count.
type PathResult struct {
	Path string `json:"path"`
	// Sync is the time from dialling to every stream holding config.
	Sync time.Duration `json:"syncNs"`
	// SyncBuilds counts Sluice's snapshot builds during Sync.
	SyncBuilds uint64 `json:"syncBuilds,omitempty"`
	// Restart is the cold sync of a fresh fleet after the node restarted
	// on its data directory (FanoutConfig.Restart; Sluice only).
	Restart *ColdSync `json:"restart,omitempty"`
	// Rounds holds, per round, the time from just before the change was
	// made (the API call, or NewSnapshot+SetSnapshot) to the last stream
	// ACKing the new route content.
	Rounds []time.Duration `json:"roundsNs"`
	// Medians holds, per round, the median stream's time.
	Medians []time.Duration `json:"mediansNs"`
	// Applies holds, per round, how long the API call took to return (the
	// change committed through Raft); Sluice path only.
	Applies []time.Duration `json:"appliesNs,omitempty"`
	Memory  Memory          `json:"memory"`
	// ServerCPU is this process's CPU time (user and system) per round,
	// from the first change to the last round settling; it includes the
	// client when the fleet runs in this process.
	ServerCPU time.Duration `json:"serverCpuPerRoundNs"`
	// ClientCPU is the client's CPU time per round, when the fleet can
	// tell (CPUMeter); 0 otherwise.
	ClientCPU time.Duration `json:"clientCpuPerRoundNs,omitempty"`
	// Allocs and AllocBytes are this process's heap allocations per
	// round (runtime.MemStats Mallocs and TotalAlloc), over the same span
	// as ServerCPU.
	Allocs     uint64 `json:"allocsPerRound"`
	AllocBytes uint64 `json:"allocBytesPerRound"`
}

// CPUMeter is implemented by fleets that can tell how much CPU time their
// client has used so far.
type CPUMeter interface {
	CPUTime() time.Duration
}

// processCPU is this process's CPU time so far, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuClock measures CPU time and allocations per round for a path.
type cpuClock struct {
	fleet          Fleet
	server, client time.Duration
	mem            runtime.MemStats
}

func startCPU(f Fleet) *cpuClock {
	c := &cpuClock{fleet: f}
	runtime.ReadMemStats(&c.mem)
	c.server = processCPU()
	if m, ok := f.(CPUMeter); ok {
		c.client = m.CPUTime()
	}
	return c
}

// stop records the CPU time and allocations per round since start into res.
func (c *cpuClock) stop(res *PathResult, rounds int) {
	res.ServerCPU = (processCPU() - c.server) / time.Duration(rounds)
	if m, ok := c.fleet.(CPUMeter); ok {
		res.ClientCPU = (m.CPUTime() - c.client) / time.Duration(rounds)
	}
	var now runtime.MemStats
	runtime.ReadMemStats(&now)
	res.Allocs = (now.Mallocs - c.mem.Mallocs) / uint64(rounds)
	res.AllocBytes = (now.TotalAlloc - c.mem.TotalAlloc) / uint64(rounds)
}

// FanoutResult compares the paths at one stream count.
type FanoutResult struct {
	Streams int `json:"streams"`
	// Delta is set when the streams spoke delta ADS.
	Delta  bool       `json:"delta,omitempty"`
	Sluice PathResult `json:"sluice"`
	// Bare is go-control-plane's SnapshotCache used well: a version per
	// type, so a route change sends only routes.
	Bare PathResult `json:"bare"`
	// Floor is the minimal ADS server writing one pre-marshalled response
	// to every stream.
	Floor PathResult `json:"floor"`
	// OneVersion is the SnapshotCache with one version on every type
	// (FanoutConfig.OneVersion).
	OneVersion *PathResult `json:"oneVersion,omitempty"`
}

// Fanout runs the Sluice path, then the bare go-control-plane path and the
// floor server (and, if asked, the one-version bare path), at one stream
// count, each with a fleet of its own. The server side of every path runs
// in this process.
func Fanout(ctx context.Context, cfg FanoutConfig) (*FanoutResult, error) {
	if cfg.Services <= 0 {
		cfg.Services = 50
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Streams <= 0 || cfg.Rounds <= 0 || cfg.NewFleet == nil {
		return nil, fmt.Errorf("%w: need Streams > 0, Rounds > 0 and NewFleet", ErrBadOptions)
	}
	if cfg.Delta && cfg.OneVersion {
		return nil, fmt.Errorf("%w: OneVersion has no meaning on delta streams (only resources whose content changed are sent)", ErrBadOptions)
	}
	out := &FanoutResult{Streams: cfg.Streams, Delta: cfg.Delta}
	var states [2]*state.State
	var err error
	out.Sluice, states, err = runSluice(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("sluice path, %d streams: %w", cfg.Streams, err)
	}
	var resources [2]*xds.Resources
	for i, st := range states {
		if resources[i], err = xds.Translate(st, benchGroup); err != nil {
			return nil, err
		}
	}
	out.Bare, err = runBare(ctx, cfg, resources, false)
	if err != nil {
		return nil, fmt.Errorf("bare path, %d streams: %w", cfg.Streams, err)
	}
	out.Floor, err = runFloor(ctx, cfg, resources)
	if err != nil {
		return nil, fmt.Errorf("floor path, %d streams: %w", cfg.Streams, err)
	}
	if cfg.OneVersion {
		one, err := runBare(ctx, cfg, resources, true)
		if err != nil {
			return nil, fmt.Errorf("one-version bare path, %d streams: %w", cfg.Streams, err)
		}
		out.OneVersion = &one
	}
	return out, nil
}

func logSynced(log *slog.Logger, res PathResult, n int) {
	m := res.Memory
	log.Info("synced", "sync", res.Sync, "memPerStream", int(m.PerStream(n)),
		"heapPerStream", (int64(m.Synced.Heap)-int64(m.Before.Heap))/int64(n),
		"stackPerStream", (int64(m.Synced.Stack)-int64(m.Before.Stack))/int64(n),
		"inusePerStream", int(m.InusePerStream(n)))
}

// readMemory reads memory after collecting garbage.
func readMemory() MemSample {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return MemSample{Heap: m.HeapAlloc, HeapInuse: m.HeapInuse, Stack: m.StackInuse}
}

// poll calls cond every interval until it returns nil or ctx ends.
func poll(ctx context.Context, interval time.Duration, what string, cond func() error) error {
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %v: %w", what, err, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// roundStats turns one round's ACK times into the time to the last
// stream and the median stream's time, both from t0.
func roundStats(t0 time.Time, acks []time.Time) (last, median time.Duration, err error) {
	d := make([]time.Duration, len(acks))
	for i, a := range acks {
		d[i] = a.Sub(t0)
		if d[i] < 0 {
			return 0, 0, fmt.Errorf("stream %d ACKed %s before the change was made", i, -d[i])
		}
	}
	slices.Sort(d)
	return d[len(d)-1], d[len(d)/2], nil
}

// runSluice measures the real path: API -> Raft -> FSM -> debounced
// translation -> cache -> streams, on a single bootstrapped node. It also
// returns the states at both splits for the bare path.
func runSluice(ctx context.Context, cfg FanoutConfig) (res PathResult, states [2]*state.State, err error) {
	res.Path = "sluice"
	log := cfg.Logger.With("path", res.Path, "streams", cfg.Streams)
	dir, err := os.MkdirTemp("", "sluice-bench-")
	if err != nil {
		return res, states, fmt.Errorf("create data dir: %w", err)
	}
	defer os.RemoveAll(dir)
	node, err := server.Start(ctx, server.Config{
		NodeID: "bench-1", DataDir: dir, Bootstrap: true, Dev: true,
		APIAddr: "127.0.0.1:0", XDSAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0",
		XDSStream: cfg.XDSStream,
	})
	if err != nil {
		return res, states, fmt.Errorf("start node: %w", err)
	}
	defer func() { node.Close() }()
	cl := api.NewClient(node.APIAddr())
	cl.Actor = "sluice-bench"

	sctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	// Ready, and the leader's own member record written, so no command but
	// ours lands during the rounds.
	if err := poll(sctx, 20*time.Millisecond, "node ready", func() error {
		if !cl.Ready(sctx) {
			return errors.New("/readyz not 200")
		}
		if _, ok := node.Raft().State().Members["bench-1"]; !ok {
			return errors.New("member record not written yet")
		}
		return nil
	}); err != nil {
		return res, states, err
	}
	ar, err := cl.Apply(sctx, "fleet.yaml", FleetYAML(cfg.Services))
	if err != nil {
		return res, states, fmt.Errorf("apply the fleet configuration: %w", err)
	}
	if err := node.XDS().WaitIndex(sctx, ar.Index); err != nil {
		return res, states, err
	}
	states[0] = node.Raft().State()

	res.Memory.Before = readMemory()
	fleet, err := cfg.NewFleet()
	if err != nil {
		return res, states, err
	}
	defer fleet.Close()
	builds := node.XDS().Status().Builds
	// Every stream ACKs its four types, then its route once per round.
	ackBase, ackWant := node.XDS().ACKs(), uint64(4*cfg.Streams)
	start := time.Now()
	if err := fleet.Open(sctx, node.XDSAddr(), SplitWeights(0)); err != nil {
		return res, states, fmt.Errorf("open %d streams: %w", cfg.Streams, err)
	}
	res.Sync = time.Since(start)
	res.SyncBuilds = node.XDS().Status().Builds - builds
	settled := func(ctx context.Context) error {
		return sluiceSettled(ctx, node, cfg.Streams, ackBase, ackWant, false)
	}
	if err := settled(sctx); err != nil {
		return res, states, err
	}
	res.Memory.Synced = readMemory()
	logSynced(log, res, cfg.Streams)
	if cfg.Synced != nil {
		cfg.Synced(res.Path)
	}

	var lastIndex uint64
	push := func(ctx context.Context, r, split int) (uint64, error) {
		ackBase, ackWant = node.XDS().ACKs(), uint64(cfg.Streams)
		t0 := time.Now()
		ar, err := cl.Apply(ctx, "bench.yaml", BenchServiceYAML(split))
		if err != nil {
			return 0, fmt.Errorf("apply: %w", err)
		}
		res.Applies = append(res.Applies, time.Since(t0))
		if states[split] == nil {
			states[split] = node.Raft().State()
		}
		lastIndex = ar.Index
		return ar.Index, nil
	}
	quick := func(ctx context.Context) error {
		return sluiceSettled(ctx, node, cfg.Streams, ackBase, ackWant, true)
	}
	if err := runRounds(ctx, cfg, fleet, &res, log, push, quick); err != nil {
		return res, states, err
	}
	// Every stream synced at the last round's index, nothing rejected.
	if err := settled(sctx); err != nil {
		return res, states, fmt.Errorf("after the rounds: %w", err)
	}
	res.Memory.After = readMemory()
	if cfg.Restart {
		if err := fleet.Close(); err != nil {
			return res, states, fmt.Errorf("close the fleet: %w", err)
		}
		if res.Restart, err = restartNode(ctx, cfg, &node, dir, lastIndex); err != nil {
			return res, states, fmt.Errorf("after the restart: %w", err)
		}
		log.Info("restart storm", "sync", res.Restart.Sync, "builds", res.Restart.Builds)
	}
	if states[1] == nil {
		// One round only: build the other split's state for the bare path.
		states[1], err = withSplit(states[0], 1)
		if err != nil {
			return res, states, err
		}
	}
	return res, states, nil
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

// pushFunc makes round r's change, to split, and returns the version every
// stream's route must reach.
type pushFunc func(ctx context.Context, r, split int) (version uint64, err error)

// runRounds times cfg.Rounds changes, each from just before push to the
// last stream's ACK, waiting for settled after each; it records rounds,
// medians and CPU time in res, profiling them if asked.
func runRounds(ctx context.Context, cfg FanoutConfig, fleet Fleet, res *PathResult, log *slog.Logger,
	push pushFunc, settled func(context.Context) error) error {
	stopProfile := cfg.profile(res.Path)
	defer stopProfile()
	cpu := startCPU(fleet)
	for r := range cfg.Rounds {
		rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		err := runRound(rctx, fleet, res, log, r, push, settled)
		cancel()
		if err != nil {
			return fmt.Errorf("round %d: %w", r+1, err)
		}
	}
	stopProfile()
	cpu.stop(res, cfg.Rounds)
	return nil
}

func runRound(ctx context.Context, fleet Fleet, res *PathResult, log *slog.Logger, r int,
	push pushFunc, settled func(context.Context) error) error {
	split := (r + 1) % 2
	t0 := time.Now()
	version, err := push(ctx, r, split)
	if err != nil {
		return err
	}
	acks, err := fleet.Await(ctx, t0, version, SplitWeights(split))
	if err != nil {
		return err
	}
	last, median, err := roundStats(t0, acks)
	if err != nil {
		return err
	}
	res.Rounds, res.Medians = append(res.Rounds, last), append(res.Medians, median)
	log.Debug("round", "round", r+1, "version", version, "last", last, "median", median)
	return settled(ctx)
}
