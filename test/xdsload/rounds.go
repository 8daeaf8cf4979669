package xdsload

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"syscall"
	"time"
)

// A path's rounds run either one path after another (each path alone on
// the machine while it is timed) or interleaved: every path's fleet stays
// connected and round r of each path runs back to back, in an order that
// rotates every round. On a shared machine whose speed drifts over
// minutes, interleaving puts the same drift on every path, so the ratios
// between paths are less noisy than the paths' absolute figures.

// pathRun is one path whose fleet is connected and synced, ready for
// rounds.
type pathRun struct {
	res   *PathResult
	fleet Fleet
	log   *slog.Logger
	push  pushFunc
	// settled waits, after a round's last ACK reached the client, until
	// the server has counted every ACK.
	settled func(context.Context) error
	// finish, when set, checks the path after its last round.
	finish func(context.Context) error
	// closers release the fleet and the server, last first.
	closers []func()
	tally   cpuTally
}

// close runs the closers once.
func (p *pathRun) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
	p.closers = nil
}

// round runs round r (0-based) of p and adds its CPU time and
// allocations to p's tally.
func (p *pathRun) round(ctx context.Context, cfg FanoutConfig, r int) error {
	rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	clock := startCPU(p.fleet)
	if err := runRound(rctx, p.fleet, p.res, p.log, r, p.push, p.settled); err != nil {
		return fmt.Errorf("%s path, round %d: %w", p.res.Path, r+1, err)
	}
	p.res.GCs = append(p.res.GCs, clock.addTo(&p.tally))
	return nil
}

// runRounds times cfg.Rounds changes on p alone, profiling them if asked.
func (p *pathRun) runRounds(ctx context.Context, cfg FanoutConfig) error {
	stopProfile := cfg.profile(p.res.Path)
	defer stopProfile()
	for r := range cfg.Rounds {
		if err := p.round(ctx, cfg, r); err != nil {
			return err
		}
	}
	stopProfile()
	p.tally.record(p.res, cfg.Rounds)
	return nil
}

// interleave times cfg.Rounds changes on every path: round r of each in
// turn, the order rotated by one every round so that no path always
// follows the same one.
//
// Every round starts just after a forced garbage collection, outside the
// timed span. The paths share one heap, so a collection that one path's
// allocations start marks every path's live data and lands in whichever
// round runs then: one collection of a 10,000-stream run's three paths
// took about 1.7 s of CPU, charged to one round of one path. With a
// collection before each round, none runs during one (a round allocates
// far less than the live heap), so interleaved rounds measure every path
// without collection cost; allocations per round are reported beside.
func interleave(ctx context.Context, cfg FanoutConfig, runs []*pathRun) error {
	for r := range cfg.Rounds {
		for k := range runs {
			runtime.GC()
			if err := runs[(r+k)%len(runs)].round(ctx, cfg, r); err != nil {
				return err
			}
		}
	}
	for _, p := range runs {
		p.tally.record(p.res, cfg.Rounds)
	}
	return nil
}

// pushFunc makes round r's change, to split, and returns the version every
// stream's route must reach.
type pushFunc func(ctx context.Context, r, split int) (version uint64, err error)

// runRound makes round r's change and records the time to the last and
// to the median stream's ACK in res, then waits for settled.
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

// cpuClock reads CPU time and allocations at the start of a round.
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

// cpuTally sums a path's rounds' CPU time and allocations.
type cpuTally struct {
	server, client      time.Duration
	mallocs, allocBytes uint64
}

// addTo adds what was used since c started to t and returns the
// garbage collections completed meanwhile.
func (c *cpuClock) addTo(t *cpuTally) (gcs uint32) {
	t.server += processCPU() - c.server
	if m, ok := c.fleet.(CPUMeter); ok {
		t.client += m.CPUTime() - c.client
	}
	var now runtime.MemStats
	runtime.ReadMemStats(&now)
	t.mallocs += now.Mallocs - c.mem.Mallocs
	t.allocBytes += now.TotalAlloc - c.mem.TotalAlloc
	return now.NumGC - c.mem.NumGC
}

// record writes t per round into res.
func (t cpuTally) record(res *PathResult, rounds int) {
	res.ServerCPU = t.server / time.Duration(rounds)
	res.ClientCPU = t.client / time.Duration(rounds)
	res.Allocs = t.mallocs / uint64(rounds)
	res.AllocBytes = t.allocBytes / uint64(rounds)
}
