package controller

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// tick looks at every active train and release once. Each decision is
// pure and made here or, when it needs I/O first (an analysis, an
// estimate, a health check, a window suggestion), in one background job
// that observes, decides in pure code, and proposes.
func (c *Controller) tick(ctx context.Context) {
	st := c.cluster.State()
	c.learn(ctx, st)
	c.dispatch(ctx, st)
	for _, name := range st.TrainNames() {
		if t := st.Trains[name]; !t.Status.Phase.Terminal() {
			c.guardTrain(ctx, t, func() { c.stepTrain(ctx, st, t) })
		}
	}
	c.postRollout(ctx, st)
	c.retireKept(ctx, st)
	c.observeServed(ctx)
	if len(st.Active) == 0 {
		return
	}
	names := make([]string, 0, len(st.Active))
	for _, name := range st.Active {
		names = append(names, name)
	}
	slices.Sort(names)
	fleet := c.observeFleet(ctx, st, names)
	for _, name := range names {
		if r := st.Releases[name]; r != nil {
			c.guard(ctx, r, func() { c.stepRelease(ctx, st, r, fleet) })
		}
	}
}

// observeFleet reads the proxies' ACKs when a release waits for them.
func (c *Controller) observeFleet(ctx context.Context, st *state.State, names []string) Fleet {
	fleet := Fleet{Now: c.opts.Now()}
	for _, name := range names {
		if r := st.Releases[name]; r != nil && r.Status.Phase == state.PhaseProgressing && !r.Status.Acked {
			octx, cancel := context.WithTimeout(ctx, 2*time.Second)
			fleet.Groups, fleet.Unreachable = c.deps.Acks.Observe(octx)
			cancel()
			fleet.Now = c.opts.Now()
			break
		}
	}
	return fleet
}

func (c *Controller) stepRelease(ctx context.Context, st *state.State, r *state.Release, fleet Fleet) {
	if r.Status.Phase.Waiting() {
		c.admit(ctx, st, r, fleet.Now)
		return
	}
	if e := DecideMirrorSkip(r, st.Services[r.Service()], fleet); e != nil {
		c.propose(ctx, e)
		return
	}
	n := DecideProgress(r, fleet)
	if r.Status.Phase == state.PhaseRollingBack {
		n = DecideRollingBack(r, fleet.Now)
	}
	switch {
	case n.Event != nil:
		c.propose(ctx, n.Event)
	case n.Webhooks != "":
		c.runWebhooks(ctx, r, n.Webhooks)
	case n.Analyze:
		c.analyzeOnce(ctx, r)
	}
}

// analysisMark names one analysis of a release: the step's state index
// and the number of analyses recorded for it when it started.
type analysisMark struct {
	stepIndex uint64
	analyses  int
}

func markOf(r *state.Release) analysisMark {
	return analysisMark{stepIndex: r.Status.StepIndex, analyses: r.Status.Analyses}
}

// analyzeOnce starts the analysis of r unless one was already started for
// the same step and count (still running, or done with its result not yet
// in this pass' snapshot). The mark is dropped when no result was
// committed, so the analysis is tried again; a result refused as stale
// keeps it, since the state has moved on.
func (c *Controller) analyzeOnce(ctx context.Context, r *state.Release) {
	m := markOf(r)
	c.mu.Lock()
	if prev, ok := c.analysed[r.Name()]; ok && prev == m {
		c.mu.Unlock()
		return
	}
	c.analysed[r.Name()] = m
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		if c.analysed[r.Name()] == m {
			delete(c.analysed, r.Name())
		}
		c.mu.Unlock()
	}
	started := c.run(ctx, "analysis/"+r.Name(), func() {
		e := c.analyze(ctx, r)
		if e == nil || ctx.Err() != nil {
			forget()
			return
		}
		if err := c.propose(ctx, e); err != nil && !errors.Is(err, state.ErrConflict) {
			forget()
		}
	}, func(p panicReport) { forget(); c.proposeError(ctx, r, p) })
	if !started {
		forget()
	}
}

// analyze runs one analysis: the verdict, and the next step's exposure
// when the verdict would advance into it, then the whole decision.
func (c *Controller) analyze(ctx context.Context, r *state.Release) state.ReleaseEvent {
	v := c.deps.Analyzer.Analyze(ctx, r, c.opts.Now())
	if ctx.Err() != nil {
		return nil
	}
	c.log.Debug("analysis", "release", r.Name(), "phase", v.Phase, "reason", v.Reason)
	if c.opts.OnVerdict != nil {
		c.opts.OnVerdict(v)
	}
	if r.Status.Phase == state.PhaseRollingBack {
		return AfterRollbackAnalysis(r, v)
	}
	now := c.opts.Now()
	in := AnalysisInput{Verdict: v, Now: now}
	if step, ok := AdvanceDue(r, v, now); ok {
		e := c.deps.Exposure.Estimate(ctx, r, step, now)
		in.Next = &e
	}
	st := c.cluster.State()
	in.Lockstep = LockstepHold(st.Trains[r.Status.Train], st, r)
	if in.Lockstep == "" && PromoteDue(r, v, now) && webhooksPending(r, config.WebhookConfirmPromotion) {
		in.Confirm = c.callWebhooks(ctx, r, config.WebhookConfirmPromotion)
		if ctx.Err() != nil {
			return nil
		}
	}
	return AfterAnalysis(r, in)
}

// admit moves a release that has not started: it waits for gate
// overrides, is scheduled into its window, or starts (through the
// exposure and risk gates).
func (c *Controller) admit(ctx context.Context, st *state.State, r *state.Release, now time.Time) {
	iw := inWindowFor(r)
	a := DecideAdmission(r, now, iw)
	switch {
	case a.Event != nil:
		c.propose(ctx, a.Event)
	case a.Start != nil && webhooksPending(r, config.WebhookPreRollout):
		// The first step takes traffic only once the pre-rollout
		// webhooks passed.
		if webhooksDue(r, config.WebhookPreRollout, now) {
			c.runWebhooks(ctx, r, config.WebhookPreRollout)
		}
	case a.Start != nil:
		c.background(ctx, r, "admit/"+r.Name(), func() state.ReleaseEvent {
			return GateStart(r, a.Start, c.deps.Exposure.Estimate(ctx, r, 0, now))
		})
	case a.Suggest:
		c.background(ctx, r, "window/"+r.Name(), func() state.ReleaseEvent {
			risk := 0.5
			if as := r.Status.Assessment; as != nil {
				risk = as.Probability
			}
			d := ExpectedDuration(r)
			s, err := c.deps.Windows.Suggest(ctx, st, r.Service(), risk, d, now)
			if ctx.Err() != nil {
				return nil
			}
			_, why := iw(now, d)
			return ScheduleFrom(r, now, why, s, err)
		})
	}
}

func (c *Controller) stepTrain(ctx context.Context, st *state.State, t *state.Train) {
	n := DecideTrain(t, st, c.opts.Now())
	switch {
	case n.Event != nil:
		c.propose(ctx, n.Event)
	case n.Check != "":
		c.checkHealth(ctx, st, t, n.Check)
	}
}

// checkHealth runs one health check attempt of a train member in the
// background and records it.
func (c *Controller) checkHealth(ctx context.Context, st *state.State, t *state.Train, member string) {
	m, _ := t.Member(member)
	prev := m.Health
	c.run(ctx, "train/"+t.Name()+"/"+member, func() {
		ok, detail := c.deps.Health.Check(ctx, st, t, member)
		if ctx.Err() != nil {
			return
		}
		h := state.HealthStatus{Passed: ok, Attempts: prev.Attempts + 1, At: c.opts.Now()}
		msg := fmt.Sprintf("health check attempt %d passed: %s", h.Attempts, detail)
		if !ok {
			h.LastError = detail
			msg = fmt.Sprintf("health check attempt %d failed: %s", h.Attempts, detail)
		}
		c.propose(ctx, &state.RecordHealth{OnMember: onMember(t, member, msg), Health: h})
	}, func(p panicReport) { c.proposeTrainError(ctx, t, p) })
}

// background runs decide as the one background job of its key (at most
// one per key at a time) and proposes the event it returns, if any. A
// panic is recovered and recorded on the release.
func (c *Controller) background(ctx context.Context, r *state.Release, key string, decide func() state.ReleaseEvent) {
	c.run(ctx, key, func() {
		if e := decide(); e != nil && ctx.Err() == nil {
			c.propose(ctx, e)
		}
	}, func(p panicReport) { c.proposeError(ctx, r, p) })
}

// run starts fn in the background unless a job with the same key still
// runs, and says whether it did; a panic in fn goes to onPanic.
func (c *Controller) run(ctx context.Context, key string, fn func(), onPanic func(panicReport)) (started bool) {
	c.mu.Lock()
	if c.inFlight[key] {
		c.mu.Unlock()
		return false
	}
	c.inFlight[key] = true
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() {
			c.mu.Lock()
			delete(c.inFlight, key)
			c.mu.Unlock()
		}()
		if p, ok := catch(fn); !ok {
			onPanic(p)
		}
	}()
	return true
}

// panicReport is a recovered panic: its value and the stack.
type panicReport struct {
	value any
	stack []byte
}

// catch runs fn, recovering a panic.
func catch(fn func()) (p panicReport, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			p, ok = panicReport{value: v, stack: debug.Stack()}, false
		}
	}()
	fn()
	return panicReport{}, true
}

// guard makes one release's decision; a panic is recovered and recorded
// as an Error decision on the release, and the loop goes on.
func (c *Controller) guard(ctx context.Context, r *state.Release, decide func()) {
	if p, ok := catch(decide); !ok {
		c.proposeError(ctx, r, p)
	}
}

func (c *Controller) guardTrain(ctx context.Context, t *state.Train, decide func()) {
	if p, ok := catch(decide); !ok {
		c.proposeTrainError(ctx, t, p)
	}
}

// proposeError records a recovered panic on the release (once per
// message: a panic that repeats every tick is recorded once) and logs it
// with the stack.
func (c *Controller) proposeError(ctx context.Context, r *state.Release, p panicReport) {
	msg := fmt.Sprintf("controller error (recovered): %v; the release holds until the cause is fixed, or a person pauses, rolls back or aborts it", p.value)
	e := errorEvent(r, msg)
	if e == nil {
		return
	}
	c.log.Error("decision panicked", "release", r.Name(), "panic", fmt.Sprint(p.value), "stack", string(p.stack))
	c.propose(ctx, e)
}

func (c *Controller) proposeTrainError(ctx context.Context, t *state.Train, p panicReport) {
	c.log.Error("train decision panicked", "train", t.Name(), "panic", fmt.Sprint(p.value), "stack", string(p.stack))
	c.propose(ctx, &state.RecordTrainError{OnTrain: state.OnTrainNow(t, fmt.Sprintf("controller error (recovered): %v", p.value))})
}

// propose stamps and applies one event, and returns why it was not
// applied; an event made stale by another decision (state.ErrConflict) is
// dropped quietly.
func (c *Controller) propose(ctx context.Context, e state.Event) error {
	cmd, err := state.EventCommand(e, c.opts.Now(), c.opts.Actor)
	if err != nil {
		c.log.Error("encode decision", "type", e.Type(), "err", err)
		return err
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.cluster.Apply(actx, cmd); err != nil {
		if errors.Is(err, state.ErrConflict) {
			c.log.Debug("stale decision dropped", "type", e.Type(), "err", err)
			return err
		}
		c.log.Warn("decision not applied", "type", e.Type(), "err", err)
		return err
	}
	note := ""
	if n, ok := e.(interface{ Note() string }); ok {
		note = n.Note()
	}
	c.log.Info("decision", "type", e.Type(), "message", note)
	return nil
}

// learn refits the risk model when new outcomes arrived.
func (c *Controller) learn(ctx context.Context, st *state.State) {
	if st.Index == c.learnedIndex {
		return // nothing changed since the last look
	}
	c.learnedIndex = st.Index
	n := len(RiskSamples(st))
	if n == c.learnedAt {
		return
	}
	m := NextRiskModel(st)
	if m == nil {
		c.learnedAt = n
		return
	}
	cmd, err := state.NewCommand(state.CmdRiskModel, c.opts.Now(), c.opts.Actor, m.Stored())
	if err != nil {
		return
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.cluster.Apply(actx, cmd); err != nil {
		// Not counted as learned: a refit refused because a model was
		// installed meanwhile (ErrConflict) is redone from the new base
		// on the next state change.
		c.log.Warn("risk model not updated", "err", err)
		return
	}
	c.learnedAt = n
	c.log.Info("risk model updated from this cluster's outcomes", "version", m.Version, "samples", m.Samples, "failures", m.Failures)
}
