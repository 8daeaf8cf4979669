package controller

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// NoticeSender delivers one notice to one notifier (HTTPNotifier); an
// error means it was not delivered and is tried again.
type NoticeSender interface {
	Send(ctx context.Context, n *config.Notifier, notice state.Notice) error
}

// Backoff is the wait before a notifier's next attempt: exponential from
// Initial, capped at Max, with "equal jitter" (half the wait is fixed, the
// other half random) so that receivers that failed together are not
// retried together.
type Backoff struct {
	Initial, Max time.Duration
	// Rand returns a number in [0, 1) (default math/rand/v2).
	Rand func() float64
}

// Delay is the wait after the failures-th failure in a row (1, 2, ...).
func (b Backoff) Delay(failures int) time.Duration {
	d := b.Initial
	for i := 1; i < failures && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	r := b.Rand
	if r == nil {
		r = rand.Float64
	}
	half := d / 2
	return half + time.Duration(r()*float64(d-half))
}

// dispatch starts, for every notifier with notices pending, its delivery
// job (one per notifier, so each delivers in order). Jobs end with the
// term: the next leader delivers what is still pending, from the same
// replicated outbox.
func (c *Controller) dispatch(ctx context.Context, st *state.State) {
	if c.deps.Notices == nil {
		return
	}
	for _, name := range st.NotifierNames() {
		if box := st.Outboxes[name]; box == nil || len(box.Pending) == 0 {
			continue
		}
		c.run(ctx, "notify/"+name, func() { c.deliver(ctx, name) }, func(p panicReport) {
			c.log.Error("notification delivery panicked", "notifier", name, "panic", fmt.Sprint(p.value), "stack", string(p.stack))
		})
	}
}

// deliver sends a notifier's pending notices in order until its outbox is
// empty, retrying each with backoff, and acknowledges each one delivered
// with a command. A notice delivered whose ack is lost (the leader died
// between the two) is delivered again by the next leader: at least once.
func (c *Controller) deliver(ctx context.Context, name string) {
	failures := 0
	for ctx.Err() == nil && c.cluster.IsLeader() {
		st := c.cluster.State()
		n, box := st.Notifiers[name], st.Outboxes[name]
		if n == nil || box == nil || len(box.Pending) == 0 {
			return
		}
		notice := box.Pending[0]
		actx, cancel := context.WithTimeout(ctx, n.Spec.AttemptTimeout())
		err := c.deps.Notices.Send(actx, n, notice)
		cancel()
		if c.opts.OnDelivery != nil {
			c.opts.OnDelivery(name, err)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			initial, maxWait := n.Spec.Backoff()
			wait := Backoff{Initial: initial, Max: maxWait, Rand: c.opts.Rand}.Delay(failures)
			c.log.Warn("notification not delivered; retrying", "notifier", name, "id", notice.ID, "event", notice.Event,
				"attempt", failures, "retry_in", wait, "err", err)
			if !c.sleep(ctx, wait) {
				return
			}
			continue
		}
		failures = 0
		if !c.ack(ctx, name, notice) {
			return
		}
	}
}

// ack proposes that notice was delivered; false when it could not be
// applied (the job ends; a later tick or leader tries again).
func (c *Controller) ack(ctx context.Context, name string, notice state.Notice) bool {
	cmd, err := state.NewCommand(state.CmdNotifyAck, c.opts.Now(), c.opts.Actor, state.AckNotice{Notifier: name, ID: notice.ID})
	if err != nil {
		c.log.Error("encode notification ack", "notifier", name, "id", notice.ID, "err", err)
		return false
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.cluster.Apply(actx, cmd); err != nil {
		c.log.Warn("notification delivered but not acknowledged; it will be delivered again", "notifier", name, "id", notice.ID, "err", err)
		return false
	}
	c.log.Info("notification delivered", "notifier", name, "id", notice.ID, "event", notice.Event)
	return true
}

// sleep waits d or until ctx ends (false).
func (c *Controller) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
