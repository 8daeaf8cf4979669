package xdsload

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"
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
	// Interleave keeps every path's fleet connected and runs round r of
	// each path back to back, the order rotated every round, so that the
	// machine's drift falls on every path alike. Memory.After is then one
	// reading of the whole process; Profile cannot be set. Each round
	// then starts after a forced garbage collection, so no path's rounds
	// pay for another's garbage, and none pays for its own (see
	// interleave).
	Interleave bool
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
	// each round from its change to its settling; it includes the client
	// when the fleet runs in this process.
	ServerCPU time.Duration `json:"serverCpuPerRoundNs"`
	// ClientCPU is the client's CPU time per round, when the fleet can
	// tell (CPUMeter); 0 otherwise.
	ClientCPU time.Duration `json:"clientCpuPerRoundNs,omitempty"`
	// Allocs and AllocBytes are this process's heap allocations per
	// round (runtime.MemStats Mallocs and TotalAlloc), over the same span
	// as ServerCPU.
	Allocs     uint64 `json:"allocsPerRound"`
	AllocBytes uint64 `json:"allocBytesPerRound"`
	// GCs holds, per round, the garbage collections this process
	// completed during it (with interleaved rounds, a collection another
	// path's allocations started may land in this path's round).
	GCs []uint32 `json:"gcs"`
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
	// Interleaved says the paths' rounds were interleaved
	// (FanoutConfig.Interleave).
	Interleaved bool `json:"interleaved,omitempty"`
}

// Fanout runs the Sluice path and the bare go-control-plane path and the
// floor server (and, if asked, the one-version bare path) at one stream
// count, each with a fleet of its own: one after another, or with their
// rounds interleaved (FanoutConfig.Interleave). The server side of every
// path runs in this process.
func Fanout(ctx context.Context, cfg FanoutConfig) (*FanoutResult, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	sp, err := openSluice(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("sluice path, %d streams: %w", cfg.Streams, err)
	}
	defer sp.close()
	resources := sp.resources
	baselines := []func() (*pathRun, error){
		func() (*pathRun, error) { return openBare(ctx, cfg, resources, false) },
		func() (*pathRun, error) { return openFloor(ctx, cfg, resources) },
	}
	if cfg.OneVersion {
		baselines = append(baselines, func() (*pathRun, error) { return openBare(ctx, cfg, resources, true) })
	}
	var runs []*pathRun
	if cfg.Interleave {
		runs, err = fanoutInterleaved(ctx, cfg, sp, baselines)
	} else {
		runs, err = fanoutInTurn(ctx, cfg, sp, baselines)
	}
	if err != nil {
		return nil, fmt.Errorf("%d streams: %w", cfg.Streams, err)
	}
	out := &FanoutResult{Streams: cfg.Streams, Delta: cfg.Delta, Sluice: *sp.res, Interleaved: cfg.Interleave}
	for _, p := range runs {
		switch r := *p.res; r.Path {
		case "bare":
			out.Bare = r
		case "floor":
			out.Floor = r
		case "one-version":
			out.OneVersion = &r
		}
	}
	return out, nil
}

func (cfg *FanoutConfig) check() error {
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
		return fmt.Errorf("%w: need Streams > 0, Rounds > 0 and NewFleet", ErrBadOptions)
	}
	if cfg.Delta && cfg.OneVersion {
		return fmt.Errorf("%w: OneVersion has no meaning on delta streams (only resources whose content changed are sent)", ErrBadOptions)
	}
	if cfg.Interleave && cfg.Profile != nil {
		return fmt.Errorf("%w: interleaved rounds cannot be profiled by path (Profile)", ErrBadOptions)
	}
	return nil
}

// finishSluice checks the Sluice path after its rounds, reads memory
// (passing the reading to others, when set) and, if asked, restarts the
// node and times the reconnect storm.
func finishSluice(ctx context.Context, cfg FanoutConfig, sp *sluicePath, others func(after MemSample)) error {
	fctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if err := sp.finish(fctx); err != nil {
		return fmt.Errorf("sluice path: %w", err)
	}
	sp.res.Memory.After = readMemory()
	if others != nil {
		others(sp.res.Memory.After)
	}
	if !cfg.Restart {
		return nil
	}
	if err := sp.restart(ctx); err != nil {
		return fmt.Errorf("sluice path: %w", err)
	}
	return nil
}

// fanoutInTurn runs each path's rounds alone: Sluice's, then each
// baseline's, each path closed before the next opens.
func fanoutInTurn(ctx context.Context, cfg FanoutConfig, sp *sluicePath, baselines []func() (*pathRun, error)) ([]*pathRun, error) {
	if err := sp.runRounds(ctx, cfg); err != nil {
		return nil, err
	}
	if err := finishSluice(ctx, cfg, sp, nil); err != nil {
		return nil, err
	}
	sp.close()
	var runs []*pathRun
	for _, open := range baselines {
		p, err := open()
		if err != nil {
			return nil, err
		}
		err = p.runRounds(ctx, cfg)
		p.res.Memory.After = readMemory()
		p.close()
		if err != nil {
			return nil, err
		}
		runs = append(runs, p)
	}
	return runs, nil
}

// fanoutInterleaved opens every path, one after another (so each path's
// memory is read around its own fleet's opening), then interleaves their
// rounds. Memory.After is then one reading of the whole process, the
// same for every path.
func fanoutInterleaved(ctx context.Context, cfg FanoutConfig, sp *sluicePath, baselines []func() (*pathRun, error)) ([]*pathRun, error) {
	var runs []*pathRun
	defer func() {
		for _, p := range runs {
			p.close()
		}
	}()
	for _, open := range baselines {
		p, err := open()
		if err != nil {
			return nil, err
		}
		runs = append(runs, p)
	}
	if err := interleave(ctx, cfg, append([]*pathRun{&sp.pathRun}, runs...)); err != nil {
		return nil, err
	}
	// The baselines close before the restart storm is timed.
	err := finishSluice(ctx, cfg, sp, func(after MemSample) {
		for _, p := range runs {
			p.res.Memory.After = after
			p.close()
		}
	})
	if err != nil {
		return nil, err
	}
	return runs, nil
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
