package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/state"
)

// Cluster is what the controller needs from the Raft node.
type Cluster interface {
	State() *state.State
	IsLeader() bool
	Apply(ctx context.Context, cmd state.Command) (any, error)
	LeaderChanges() (<-chan bool, func())
	Subscribe() (<-chan struct{}, func())
}

// AckSource reports the proxy groups of every node.
type AckSource interface {
	Observe(ctx context.Context) (groups []GroupAck, unreachable []string)
}

// Analyzer judges a release's new version at a point in time.
type Analyzer interface {
	Analyze(ctx context.Context, r *state.Release, now time.Time) analysis.Verdict
}

// holdingForBudget reports whether a release waits for an approval of
// the exposure budget that has not come yet.
func holdingForBudget(r *state.Release) bool {
	return r.HeldForStepApproval() && r.Status.Exposure != nil && !r.Approved(r.Status.Exposure.Step)
}

// Options tune the controller.
type Options struct {
	// Tick is how often releases are looked at (default 200ms).
	Tick time.Duration
	// Now is the leader's clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// Actor is recorded with the controller's decisions.
	Actor string
	// OnVerdict, if set, sees every verdict (metrics).
	OnVerdict func(analysis.Verdict)
}

// Controller runs releases while its node leads.
type Controller struct {
	cluster   Cluster
	acks      AckSource
	analyzer  Analyzer
	estimator ExposureEstimator
	health    HealthChecker
	windows   WindowSuggester
	opts      Options
	log       *slog.Logger

	mu       sync.Mutex
	inFlight map[string]bool // releases with an analysis running
	// learnedAt is how many outcomes the last risk-model fit saw, and
	// learnedIndex the state index they were counted at.
	learnedAt    int
	learnedIndex uint64
	wg           sync.WaitGroup
}

// Deps are the controller's ways to observe the world.
type Deps struct {
	Acks     AckSource
	Analyzer Analyzer
	Exposure ExposureEstimator
	Health   HealthChecker
	Windows  WindowSuggester
}

// New returns a controller; call Run.
func New(c Cluster, d Deps, opts Options) *Controller {
	if opts.Tick == 0 {
		opts.Tick = 200 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Actor == "" {
		opts.Actor = "controller"
	}
	return &Controller{cluster: c, acks: d.Acks, analyzer: d.Analyzer, estimator: d.Exposure, health: d.Health, windows: d.Windows,
		opts: opts, log: opts.Logger, inFlight: map[string]bool{}}
}

// Run starts and stops the release loop with leadership until ctx ends.
// Leadership notifications are not trusted alone: the state is re-checked
// every second and on every tick.
func (c *Controller) Run(ctx context.Context) {
	ch, cancel := c.cluster.LeaderChanges()
	defer cancel()
	for {
		if !c.cluster.IsLeader() {
			select {
			case <-ctx.Done():
				return
			case <-ch:
			case <-time.After(time.Second):
			}
			continue
		}
		c.runTerm(ctx, ch)
		if ctx.Err() != nil {
			return
		}
	}
}

// runTerm leads until leadership is lost or ctx ends, then waits for
// in-flight analyses so that no decision of this term outlives it.
func (c *Controller) runTerm(ctx context.Context, ch <-chan bool) {
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	finished := make(chan struct{})
	c.log.Info("leading: release controller started")
	go func() {
		c.lead(lctx)
		close(finished)
	}()
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case leader := <-ch:
			running = leader
		case <-finished:
			running = false
		}
	}
	stop()
	<-finished
	c.wg.Wait()
	c.log.Info("release controller stopped")
}

// lead is the loop while this node leads.
func (c *Controller) lead(ctx context.Context) {
	changes, cancel := c.cluster.Subscribe()
	defer cancel()
	t := time.NewTicker(c.opts.Tick)
	defer t.Stop()
	for {
		if !c.cluster.IsLeader() {
			return
		}
		c.tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-changes:
		}
	}
}

// tick looks at every active train and release once.
func (c *Controller) tick(ctx context.Context) {
	st := c.cluster.State()
	c.learn(ctx, st)
	for _, name := range st.TrainNames() {
		t := st.Trains[name]
		if t.Status.Phase.Terminal() {
			continue
		}
		n := DecideTrain(t, st, c.opts.Now())
		switch {
		case n.Update != nil:
			c.proposeTrain(ctx, n.Update)
		case n.Check != "":
			c.checkHealth(ctx, st, t, n.Check)
		}
	}
	if len(st.Active) == 0 {
		return
	}
	names := make([]string, 0, len(st.Active))
	needAcks := false
	for _, name := range st.Active {
		names = append(names, name)
		if r := st.Releases[name]; r != nil && r.Status.Phase == state.PhaseProgressing && !r.Status.Acked {
			needAcks = true
		}
	}
	obs := Observation{Now: c.opts.Now()}
	if needAcks {
		octx, cancel := context.WithTimeout(ctx, 2*time.Second)
		obs.Groups, obs.Unreachable = c.acks.Observe(octx)
		cancel()
		obs.Now = c.opts.Now()
	}
	slices.Sort(names)
	for _, name := range names {
		r := st.Releases[name]
		if r == nil {
			continue
		}
		if r.Status.Phase.Waiting() {
			c.admit(ctx, st, r, obs.Now)
			continue
		}
		n := Decide(r, obs)
		switch {
		case n.Update != nil:
			c.propose(ctx, n.Update)
		case n.Analyze:
			c.analyze(ctx, r)
		}
	}
}

// analyze runs one analysis in the background (at most one per release)
// and proposes what follows from it.
func (c *Controller) analyze(ctx context.Context, r *state.Release) {
	c.mu.Lock()
	if c.inFlight[r.Name()] {
		c.mu.Unlock()
		return
	}
	c.inFlight[r.Name()] = true
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() {
			c.mu.Lock()
			delete(c.inFlight, r.Name())
			c.mu.Unlock()
		}()
		now := c.opts.Now()
		v := c.analyzer.Analyze(ctx, r, now)
		if ctx.Err() != nil {
			return
		}
		raw, err := json.Marshal(v)
		if err != nil {
			c.log.Error("encode verdict", "release", r.Name(), "err", err)
			return
		}
		c.log.Debug("analysis", "release", r.Name(), "phase", v.Phase, "reason", v.Reason)
		if c.opts.OnVerdict != nil {
			c.opts.OnVerdict(v)
		}
		u := AfterAnalysis(r, v, raw, c.opts.Now())
		if u.Action == state.ActAdvance || u.Action == state.ActPromote {
			st := c.cluster.State()
			if hold := LockstepHold(st.Trains[r.Status.Train], st, r); hold != "" {
				u.Action, u.Holding, u.Message = state.ActAnalysis, hold, hold
			}
		}
		if u.Action == state.ActAdvance {
			if u = gateStep(r, u, c.estimator.Estimate(ctx, r, r.Status.Step+1, c.opts.Now())); u == nil {
				return
			}
		}
		c.propose(ctx, u)
	}()
}

// propose stamps and applies one release decision.
func (c *Controller) propose(ctx context.Context, u *state.ReleaseUpdate) {
	c.apply(ctx, state.CmdReleaseUpdate, u, "release", u.Name, u.Action, u.Message)
}

// proposeTrain stamps and applies one train decision.
func (c *Controller) proposeTrain(ctx context.Context, u *state.TrainUpdate) {
	c.apply(ctx, state.CmdTrainUpdate, u, "train", u.Name, u.Action, u.Member+" "+u.Message)
}

// apply stamps one decision into a command and applies it; a decision
// made stale by another one is dropped quietly.
func (c *Controller) apply(ctx context.Context, t state.Type, payload any, kind, name string, act state.Action, msg string) {
	cmd, err := state.NewCommand(t, c.opts.Now(), c.opts.Actor, payload)
	if err != nil {
		c.log.Error("encode decision", kind, name, "err", err)
		return
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.cluster.Apply(actx, cmd); err != nil {
		if errors.Is(err, state.ErrConflict) {
			c.log.Debug("stale decision dropped", kind, name, "action", act, "err", err)
			return
		}
		c.log.Warn("decision not applied", kind, name, "action", act, "err", err)
		return
	}
	c.log.Info("decision", kind, name, "action", act, "message", msg)
}

// checkHealth runs one health check attempt of a train member in the
// background and records it.
func (c *Controller) checkHealth(ctx context.Context, st *state.State, t *state.Train, member string) {
	key := "train/" + t.Name() + "/" + member
	c.mu.Lock()
	if c.inFlight[key] {
		c.mu.Unlock()
		return
	}
	c.inFlight[key] = true
	c.mu.Unlock()
	m, _ := t.Member(member)
	prev := m.Health
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() {
			c.mu.Lock()
			delete(c.inFlight, key)
			c.mu.Unlock()
		}()
		ok, detail := c.health.Check(ctx, st, t, member)
		if ctx.Err() != nil {
			return
		}
		h := state.HealthStatus{Passed: ok, Attempts: prev.Attempts + 1, At: c.opts.Now()}
		msg := fmt.Sprintf("health check attempt %d passed: %s", h.Attempts, detail)
		if !ok {
			h.LastError = detail
			msg = fmt.Sprintf("health check attempt %d failed: %s", h.Attempts, detail)
		}
		u := trainUpdate(t, state.TrainHealth, member, msg)
		u.Health = &h
		c.proposeTrain(ctx, u)
	}()
}

// admit moves a release that has not started: it waits for gate
// overrides, is scheduled into its window, or starts (through the
// exposure and risk gates).
func (c *Controller) admit(ctx context.Context, st *state.State, r *state.Release, now time.Time) {
	if holdingForBudget(r) {
		return
	}
	iw := inWindowFor(r)
	a := DecideAdmission(r, now, iw)
	switch {
	case a.Update != nil && a.Update.Action == state.ActStart:
		if u := gateStep(r, a.Update, c.estimator.Estimate(ctx, r, 0, now)); u != nil {
			c.propose(ctx, u)
		}
	case a.Update != nil:
		c.propose(ctx, a.Update)
	case a.Suggest:
		key := "window/" + r.Name()
		c.mu.Lock()
		if c.inFlight[key] {
			c.mu.Unlock()
			return
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
			risk := 0.5
			if as := r.Status.Assessment; as != nil {
				risk = as.Probability
			}
			d := ExpectedDuration(r)
			s, err := c.windows.Suggest(ctx, st, r.Service(), risk, d, now)
			if ctx.Err() != nil {
				return
			}
			_, why := iw(now, d)
			c.propose(ctx, ScheduleFrom(r, now, why, s, err))
		}()
	}
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
	c.learnedAt = n
	m := NextRiskModel(st)
	if m == nil {
		return
	}
	cmd, err := state.NewCommand(state.CmdRiskModel, c.opts.Now(), c.opts.Actor, m)
	if err != nil {
		return
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.cluster.Apply(actx, cmd); err != nil {
		c.log.Warn("risk model not updated", "err", err)
		return
	}
	c.log.Info("risk model updated from this cluster's outcomes", "version", m.Version, "samples", m.Samples, "failures", m.Failures)
}
