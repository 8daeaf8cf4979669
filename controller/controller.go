package controller

import (
	"context"
	"log/slog"
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
	// Barrier returns once every entry committed before it has been
	// applied here, the leader.
	Barrier(ctx context.Context) error
}

// AckSource reports the proxy groups of every node.
type AckSource interface {
	Observe(ctx context.Context) (groups []GroupAck, unreachable []string)
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
	// OnDelivery, if set, sees every notification attempt and its error
	// (nil: delivered) (metrics).
	OnDelivery func(notifier string, err error)
	// Rand jitters the notifiers' backoff (default math/rand/v2).
	Rand func() float64
	// ServedEvery is how often the leader records which proxy groups
	// hold the services' config (DefaultServedEvery).
	ServedEvery time.Duration
}

// Deps are the controller's ways to observe the world.
type Deps struct {
	Acks     AckSource
	Analyzer Analyzer
	Exposure ExposureEstimator
	Health   HealthChecker
	Windows  WindowSuggester
	// Webhooks calls the policies' webhooks (HTTPWebhooks); without it
	// every webhook fails.
	Webhooks WebhookCaller
	// Notices delivers the notifiers' outboxes (HTTPNotifier); without
	// it nothing is delivered and the outboxes fill up.
	Notices NoticeSender
}

// barrierTimeout bounds one Barrier at the start of a term.
const barrierTimeout = 5 * time.Second

// Controller runs releases while its node leads.
type Controller struct {
	cluster Cluster
	deps    Deps
	opts    Options
	log     *slog.Logger

	mu       sync.Mutex
	inFlight map[string]bool // background jobs running, by key
	// analysed is, by release, the analysis started last: a pass whose
	// snapshot predates that analysis' commit sees the same step and
	// count, and starts no second one.
	analysed map[string]analysisMark
	wg       sync.WaitGroup
	// learnedAt is how many outcomes the last risk-model fit saw, and
	// learnedIndex the state index they were counted at.
	learnedAt    int
	learnedIndex uint64
	// servedAt is when the proxy groups were last observed (observeServed),
	// read and written by the loop only.
	servedAt time.Time
}

// New returns a controller; call Run.
func New(c Cluster, d Deps, opts Options) *Controller {
	if opts.Tick == 0 {
		opts.Tick = 200 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ServedEvery == 0 {
		opts.ServedEvery = DefaultServedEvery
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Actor == "" {
		opts.Actor = "controller"
	}
	return &Controller{cluster: c, deps: d, opts: opts, log: opts.Logger, inFlight: map[string]bool{}, analysed: map[string]analysisMark{}}
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
// background jobs so that no decision of this term outlives it.
func (c *Controller) runTerm(ctx context.Context, ch <-chan bool) {
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	finished := make(chan struct{})
	c.mu.Lock()
	clear(c.analysed) // a new term reads the committed state afresh
	c.mu.Unlock()
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

// lead is the loop while this node leads. The first pass runs as soon as
// the state holds everything earlier leaders committed (a Barrier), not a
// tick later: after a failover a decision that was due is made at once.
func (c *Controller) lead(ctx context.Context) {
	changes, cancel := c.cluster.Subscribe()
	defer cancel()
	if !c.barrier(ctx) {
		return
	}
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

// barrier waits until this new leader has applied every committed entry,
// retrying while it still leads; false when leadership or ctx ended first.
// Deciding on an older state would only be refused by the guards, but it
// would cost a round of refused proposals.
func (c *Controller) barrier(ctx context.Context) bool {
	for attempt := 0; ; attempt++ {
		bctx, cancel := context.WithTimeout(ctx, barrierTimeout)
		err := c.cluster.Barrier(bctx)
		cancel()
		if err == nil {
			return true
		}
		if ctx.Err() != nil || !c.cluster.IsLeader() {
			return false
		}
		c.log.Warn("barrier after election failed; retrying", "err", err, "attempt", attempt)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(c.opts.Tick):
		}
	}
}
