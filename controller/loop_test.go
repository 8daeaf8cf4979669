package controller

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

var errNotLeader = errors.New("not the leader")

// fakeCluster applies commands with state.Apply, as the FSM does, and can
// lose leadership.
type fakeCluster struct {
	mu     sync.Mutex
	st     *state.State
	index  uint64
	leader bool
	// barrierEntered, when set, receives a value when Barrier is called;
	// Barrier then waits for barrierGate to close.
	barrierEntered chan struct{}
	barrierGate    chan struct{}
}

func newFakeCluster(t *testing.T, yaml string) *fakeCluster {
	t.Helper()
	f := &fakeCluster{st: state.New(), leader: true}
	docs, err := config.Parse("world.yaml", []byte(yaml))
	require.NoError(t, err)
	c, err := state.NewCommand(state.CmdApply, t0, "alice", state.ApplyPayload{Documents: docs})
	require.NoError(t, err)
	_, err = f.apply(c)
	require.NoError(t, err)
	return f
}

func (f *fakeCluster) State() *state.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeCluster) IsLeader() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leader
}

func (f *fakeCluster) setLeader(v bool) {
	f.mu.Lock()
	f.leader = v
	f.mu.Unlock()
}

func (f *fakeCluster) Apply(_ context.Context, cmd state.Command) (any, error) {
	if !f.IsLeader() {
		return nil, errNotLeader
	}
	return f.apply(cmd)
}

// apply applies a command whoever leads (a person's, or another leader's).
func (f *fakeCluster) apply(cmd state.Command) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index++
	next, res, err := state.Apply(f.st, f.index, cmd)
	f.st = next
	return res, err
}

func (f *fakeCluster) LeaderChanges() (<-chan bool, func()) { return make(chan bool), func() {} }
func (f *fakeCluster) Subscribe() (<-chan struct{}, func()) { return make(chan struct{}), func() {} }
func (f *fakeCluster) Barrier(ctx context.Context) error {
	if f.barrierEntered != nil {
		f.barrierEntered <- struct{}{}
		select {
		case <-f.barrierGate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if !f.IsLeader() {
		return errNotLeader
	}
	return nil
}

// fakeClock is the leader's clock, moved by the test.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// allAcked is a fleet whose one proxy group holds every state index.
type allAcked struct{ f *fakeCluster }

func (a allAcked) Observe(context.Context) ([]GroupAck, []string) {
	return []GroupAck{{Node: "n1", Group: "g", AckedIndex: a.f.State().Index, Streams: 1}}, nil
}

// fakeAnalyzer returns verdict; when gate is set it waits for it first
// (and says so on started).
type fakeAnalyzer struct {
	verdict analysis.Phase
	started chan struct{}
	gate    chan struct{}
	panics  bool
}

func (a *fakeAnalyzer) Analyze(context.Context, *state.Release, time.Time) analysis.Verdict {
	if a.panics {
		panic("analyzer exploded")
	}
	if a.gate != nil {
		a.started <- struct{}{}
		<-a.gate
	}
	return analysis.Verdict{Phase: a.verdict, Reason: "fake " + string(a.verdict)}
}

// planEstimator estimates from the plan alone; it panics for releases
// of service panicFor.
type planEstimator struct{ panicFor string }

func (e planEstimator) Estimate(_ context.Context, r *state.Release, step int, _ time.Time) state.Exposure {
	if r.Service() == e.panicFor {
		panic("estimator exploded")
	}
	return EstimateExposure(r, step, Traffic{}, Traffic{})
}

const loopWorld = `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: svc}
spec:
  protocol: grpc
  versions: [{name: v1, endpoints: [{address: "10.0.0.1:80"}]}, {name: v2, endpoints: [{address: "10.0.0.2:80"}]}]
---
apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: other}
spec:
  protocol: grpc
  versions: [{name: v1, endpoints: [{address: "10.0.1.1:80"}]}, {name: v2, endpoints: [{address: "10.0.1.2:80"}]}]
---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: p}
spec:
  services: [svc, other]
  slo: {objective: 99, errorRatioQuery: 'e{version="{{version}}"}', requestsQuery: 'r{version="{{version}}"}'}
  analysis: {interval: 1s}
  steps: [{weight: 10, bake: 10s}, {weight: 50, bake: 10s}]
---
apiVersion: sluice.dev/v1alpha1
kind: Release
metadata: {name: r}
spec: {service: svc, to: v2}
`

type loopRig struct {
	t       *testing.T
	f       *fakeCluster
	clock   *fakeClock
	an      *fakeAnalyzer
	c       *Controller
	logs    *bytes.Buffer
	logMu   sync.Mutex
	cancel  context.CancelFunc
	context context.Context
}

func newLoopRig(t *testing.T, world string, est planEstimator) *loopRig {
	rig := &loopRig{t: t, f: newFakeCluster(t, world), clock: &fakeClock{now: t0}, an: &fakeAnalyzer{verdict: analysis.PhaseSuccessful}, logs: &bytes.Buffer{}}
	logger := slog.New(slog.NewTextHandler(lockedWriter{rig}, nil))
	rig.c = New(rig.f, Deps{Acks: allAcked{rig.f}, Analyzer: rig.an, Exposure: est}, Options{Now: rig.clock.Now, Logger: logger, Actor: "controller:test"})
	rig.context, rig.cancel = context.WithCancel(context.Background())
	t.Cleanup(func() { rig.cancel(); rig.c.wg.Wait() })
	return rig
}

type lockedWriter struct{ r *loopRig }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.r.logMu.Lock()
	defer w.r.logMu.Unlock()
	return w.r.logs.Write(p)
}

func (r *loopRig) log() string {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	return r.logs.String()
}

// tick runs one controller step and waits for its background jobs.
func (r *loopRig) tick() {
	r.c.tick(r.context)
	r.c.wg.Wait()
}

// bakeFor runs n analyses one second apart (loopWorld analyses every
// second): n seconds of bake with data.
func (r *loopRig) bakeFor(n int) {
	for range n {
		r.clock.advance(time.Second)
		r.tick()
	}
}

func (r *loopRig) rel(name string) *state.Release { return r.f.State().Releases[name] }

func kinds(r *state.Release) []state.DecisionKind {
	var out []state.DecisionKind
	for _, d := range r.Status.Decisions {
		out = append(out, d.Action)
	}
	return out
}

func TestTickDrivesAReleaseToPromotion(t *testing.T) {
	rig := newLoopRig(t, loopWorld, planEstimator{})
	rig.tick()
	require.Equal(t, state.PhaseProgressing, rig.rel("r").Status.Phase, "admitted and started, with its estimate")
	require.Equal(t, 10.0, rig.rel("r").Status.Exposure.Share)
	rig.tick()
	require.True(t, rig.rel("r").Status.Acked)
	for i := 1; i < 10; i++ {
		rig.clock.advance(time.Second)
		rig.tick()
		require.Equal(t, 0, rig.rel("r").Status.Step, "successful while baking: recorded, no move")
	}
	require.Equal(t, config.Duration(9*time.Second), rig.rel("r").Status.Baked, "every analysis with data covered its second")
	rig.clock.advance(time.Second)
	rig.tick()
	require.Equal(t, 1, rig.rel("r").Status.Step, "baked: advanced")
	require.Equal(t, 50.0, rig.rel("r").Status.Exposure.Share, "the next step's estimate was made before the decision")
	rig.tick()
	for i := 0; i < 10; i++ {
		rig.clock.advance(time.Second)
		rig.tick()
	}
	r := rig.rel("r")
	require.Equal(t, state.PhasePromoted, r.Status.Phase)
	want := []state.DecisionKind{state.DecisionCreate, state.DecisionStart, state.DecisionAck}
	for range 2 {
		for range 9 {
			want = append(want, state.DecisionAnalysis)
		}
		want = append(want, state.DecisionAdvance, state.DecisionAck)
	}
	want = append(want[:len(want)-2], state.DecisionPromote)
	require.Equal(t, want, kinds(r))
	require.Equal(t, "controller:test", r.Status.Decisions[len(want)-1].Actor)
}

// TestBakeSkipsTimeWithoutData: while Prometheus is down the bake does
// not count, so the step does not advance on the first analysis after
// the outage.
func TestBakeSkipsTimeWithoutData(t *testing.T) {
	rig := newLoopRig(t, loopWorld, planEstimator{})
	rig.tick()
	rig.tick()
	require.True(t, rig.rel("r").Status.Acked)
	for range 3 {
		rig.clock.advance(time.Second)
		rig.tick()
	}
	rig.an.verdict = analysis.PhaseError
	rig.clock.advance(time.Second)
	rig.tick() // one error: held, not yet at the error limit
	rig.an.verdict = analysis.PhaseSuccessful
	rig.clock.advance(30 * time.Second)
	rig.tick()
	r := rig.rel("r")
	require.Equal(t, 0, r.Status.Step, "30s without data are not baked")
	require.Equal(t, config.Duration(4500*time.Millisecond), r.Status.Baked, "3s, then at most 1.5 intervals for the analysis after the outage")
	last := r.Status.Decisions[len(r.Status.Decisions)-1]
	require.Contains(t, last.Message, "baked 4.5s of 10s with data")
	for range 5 {
		rig.clock.advance(time.Second)
		rig.tick()
	}
	require.Equal(t, 0, rig.rel("r").Status.Step, "9.5s baked with data")
	rig.clock.advance(time.Second)
	rig.tick()
	require.Equal(t, 1, rig.rel("r").Status.Step, "advanced once 10s were baked with data")
}

// TestFirstPassAfterBarrier: a new term decides nothing before the
// Barrier returns, and makes its first pass right after it, not a tick
// later (the tick here is an hour).
func TestFirstPassAfterBarrier(t *testing.T) {
	rig := newLoopRig(t, loopWorld, planEstimator{})
	rig.c.opts.Tick = time.Hour
	rig.f.barrierEntered, rig.f.barrierGate = make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() { rig.c.lead(rig.context); close(done) }()
	<-rig.f.barrierEntered
	require.Equal(t, state.PhasePending, rig.rel("r").Status.Phase, "nothing decided while the Barrier waits")
	close(rig.f.barrierGate)
	require.Eventually(t, func() bool { return rig.rel("r").Status.Phase == state.PhaseProgressing }, 10*time.Second, 5*time.Millisecond,
		"the first pass admits and starts the release without waiting for a tick")
	rig.cancel()
	<-done
}

// TestLeadershipChangeBetweenDecideAndApply: an analysis is running when
// a person pauses the release; the controller's decision, made against
// the release as it was, changes nothing, whether the node lost
// leadership meanwhile (the proposal is refused) or not (the guard
// refuses it as stale).
func TestLeadershipChangeBetweenDecideAndApply(t *testing.T) {
	for _, lose := range []bool{true, false} {
		rig := newLoopRig(t, loopWorld, planEstimator{})
		rig.tick()
		rig.tick()
		rig.clock.advance(11 * time.Second)
		rig.an.started, rig.an.gate = make(chan struct{}), make(chan struct{})
		rig.c.tick(rig.context)
		<-rig.an.started // the analysis of step 1 is under way
		r := rig.rel("r")
		pause, err := state.EventCommand(&state.Pause{On: state.OnRelease(r, "pause by alice")}, rig.clock.Now(), "alice")
		require.NoError(t, err)
		_, err = rig.f.apply(pause)
		require.NoError(t, err)
		if lose {
			rig.f.setLeader(false)
		}
		close(rig.an.gate)
		rig.c.wg.Wait()
		r = rig.rel("r")
		require.Equal(t, state.PhasePaused, r.Status.Phase, "lose=%v", lose)
		require.Equal(t, 0, r.Status.Step, "the stale advance did not apply (lose=%v)", lose)
		require.Equal(t, state.DecisionPause, r.Status.Decisions[len(r.Status.Decisions)-1].Action, "nothing recorded after the pause")
	}
}

// TestPanicInDecisionIsRecorded: a panicking decision is recovered,
// recorded once as an Error decision on its release (the stack goes to
// the log), and the controller goes on with the other releases.
func TestPanicInDecisionIsRecorded(t *testing.T) {
	rig := newLoopRig(t, loopWorld, planEstimator{panicFor: "svc"})
	rig.tick()
	r := rig.rel("r")
	require.Equal(t, state.PhasePending, r.Status.Phase)
	require.True(t, r.HeldFor(state.HoldError))
	require.Contains(t, r.Status.Hold.Message, "estimator exploded")
	require.Equal(t, state.DecisionError, r.Status.Decisions[len(r.Status.Decisions)-1].Action)
	require.Contains(t, rig.log(), "decision panicked")
	require.Contains(t, rig.log(), "goroutine", "the stack is logged")

	// The same panic again is not recorded again.
	n := len(rig.rel("r").Status.Decisions)
	rig.tick()
	require.Len(t, rig.rel("r").Status.Decisions, n)

	// Another release still runs.
	other := "apiVersion: sluice.dev/v1alpha1\nkind: Release\nmetadata: {name: o}\nspec: {service: other, to: v2}\n"
	docs, err := config.Parse("o.yaml", []byte(other))
	require.NoError(t, err)
	c, err := state.NewCommand(state.CmdApply, t0, "alice", state.ApplyPayload{Documents: docs})
	require.NoError(t, err)
	_, err = rig.f.apply(c)
	require.NoError(t, err)
	rig.tick()
	require.Equal(t, state.PhaseProgressing, rig.rel("o").Status.Phase)

	// A panic while analysing is recorded the same way.
	rig.an.panics = true
	rig.tick()
	rig.clock.advance(2 * time.Second)
	rig.tick()
	require.Contains(t, rig.rel("o").Status.Hold.Message, "analyzer exploded")
}

// TestMissingStepIsNotACKed is the controller side of the train
// regression: a release Progressing at step -1 (what format 1's train
// resume left behind) is neither ACKed nor analysed; the controller
// records why, once, and does not crash.
func TestMissingStepIsNotACKed(t *testing.T) {
	rig := newLoopRig(t, loopWorld, planEstimator{})
	r := rig.rel("r").Status
	require.Equal(t, -1, r.Step)
	broken := *rig.rel("r")
	broken.Status.Phase = state.PhaseProgressing
	rig.f.mu.Lock()
	rig.f.st.Releases["r"] = &broken
	rig.f.mu.Unlock()

	rig.tick()
	got := rig.rel("r")
	require.False(t, got.Status.Acked)
	require.True(t, got.HeldFor(state.HoldError))
	require.Contains(t, got.Status.Hold.Message, "step 0 of 2, which does not exist")
	n := len(got.Status.Decisions)
	rig.tick()
	require.Len(t, rig.rel("r").Status.Decisions, n, "recorded once")

	// A Successful verdict on it is an error event, not a panic.
	e := AfterAnalysis(&broken, AnalysisInput{Verdict: analysis.Verdict{Phase: analysis.PhaseSuccessful}, Now: t0.Add(time.Hour)})
	require.Equal(t, state.CmdReleaseError, e.Type())
}
