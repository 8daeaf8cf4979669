package controller

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/state"
)

// snapshotHook is a cluster whose next State() call runs a hook after the
// snapshot is taken: what happens between a pass reading the state and
// deciding from it.
type snapshotHook struct {
	*fakeCluster
	mu   sync.Mutex
	hook func()
}

func (s *snapshotHook) State() *state.State {
	st := s.fakeCluster.State()
	s.mu.Lock()
	h := s.hook
	s.hook = nil
	s.mu.Unlock()
	if h != nil {
		h()
	}
	return st
}

// countingAnalyzer counts its analyses and can be held at a gate.
type countingAnalyzer struct {
	calls   atomic.Int32
	started chan struct{}
	gate    chan struct{}
}

func (a *countingAnalyzer) Analyze(context.Context, *state.Release, time.Time) analysis.Verdict {
	if a.calls.Add(1) == 1 && a.gate != nil {
		a.started <- struct{}{}
		<-a.gate
	}
	return analysis.Verdict{Phase: analysis.PhaseInconclusive, Reason: "no data"}
}

// waitUntil waits for cond, failing the test after a generous deadline
// (which only bounds a failure).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func analysisCount(r *state.Release) int {
	n := 0
	for _, d := range r.Status.Decisions {
		if d.Action == state.DecisionAnalysis {
			n++
		}
	}
	return n
}

// TestNoSecondAnalysisFromAStaleSnapshot is the duplicate-analysis race:
// an analysis is under way when the next pass reads the state; its
// decision is committed before that pass reaches the release, so the
// pass sees the release as it was (analysis due, none running). One
// analysis is recorded, counted once.
func TestNoSecondAnalysisFromAStaleSnapshot(t *testing.T) {
	f := newFakeCluster(t, loopWorld)
	cl := &snapshotHook{fakeCluster: f}
	clock := &fakeClock{now: t0}
	an := &countingAnalyzer{}
	c := New(cl, Deps{Acks: allAcked{f}, Analyzer: an, Exposure: planEstimator{}}, Options{Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); c.wg.Wait() })
	pass := func() { c.tick(ctx); c.wg.Wait() }
	pass() // started
	pass() // ACKed
	require.True(t, f.State().Releases["r"].Status.Acked)
	clock.advance(2 * time.Second)

	an.started, an.gate = make(chan struct{}), make(chan struct{})
	c.tick(ctx) // the first analysis starts and waits at the gate
	<-an.started
	cl.mu.Lock()
	cl.hook = func() {
		close(an.gate) // the first analysis finishes and is committed...
		waitUntil(t, "the first analysis is committed", func() bool { return analysisCount(f.State().Releases["r"]) == 1 })
	}
	cl.mu.Unlock()
	pass() // ...after this pass took its snapshot
	c.wg.Wait()

	r := f.State().Releases["r"]
	require.Equal(t, int32(1), an.calls.Load(), "one analysis started for one due analysis")
	require.Equal(t, 1, analysisCount(r), "one analysis recorded")
	require.Equal(t, 1, r.Status.Counters.Inconclusive)
	require.Equal(t, 1, r.Status.Analyses)

	// The next due analysis runs as usual.
	clock.advance(2 * time.Second)
	pass()
	require.Equal(t, int32(2), an.calls.Load())
	require.Equal(t, 2, f.State().Releases["r"].Status.Counters.Inconclusive)
}

// TestAnalysisResultIsGuardedByCount: two results of analyses started at
// the same count (another leader's, say): the second is refused as stale
// and the counters count one.
func TestAnalysisResultIsGuardedByCount(t *testing.T) {
	rig := newLoopRig(t, loopWorld, planEstimator{})
	rig.tick()
	rig.tick()
	rig.clock.advance(2 * time.Second)
	r := rig.rel("r")
	v := analysis.Verdict{Phase: analysis.PhaseInconclusive, Reason: "no data"}
	first := AfterAnalysis(r, AnalysisInput{Verdict: v, Now: rig.clock.Now()})
	second := AfterAnalysis(r, AnalysisInput{Verdict: v, Now: rig.clock.Now()})
	require.NoError(t, rig.c.propose(rig.context, first))
	err := rig.c.propose(rig.context, second)
	require.ErrorIs(t, err, state.ErrConflict)
	got := rig.rel("r").Status
	require.Equal(t, 1, got.Counters.Inconclusive)
	require.Equal(t, 1, got.Analyses)
}

// TestUncommittedAnalysisIsRetried: an analysis whose result was not
// committed (the node was not leader for a moment) is run again.
func TestUncommittedAnalysisIsRetried(t *testing.T) {
	rig := newLoopRig(t, loopWorld, planEstimator{})
	rig.an.verdict = analysis.PhaseInconclusive
	rig.tick()
	rig.tick()
	rig.clock.advance(2 * time.Second)
	rig.f.setLeader(false)
	rig.tick()
	require.Zero(t, rig.rel("r").Status.Analyses)
	rig.f.setLeader(true)
	rig.tick()
	require.Equal(t, 1, rig.rel("r").Status.Analyses, "the same count is analysed again")
}
