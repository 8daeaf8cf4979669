package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// DecideRetire returns the events that stop routing the old versions
// promoted blue/green releases kept past their keepOldFor, in service
// order. It is pure: the state and the time decide.
func DecideRetire(st *state.State, now time.Time) []*state.RetireOld {
	var out []*state.RetireOld
	for _, r := range st.KeptExpired(now) {
		kept := st.ServiceStatus[r.Service()].Kept
		msg := fmt.Sprintf("old version %s of %s is no longer routable: kept %s after promotion (until %s)",
			kept.Version, r.Service(), r.BlueGreen().KeepOldFor.D(), kept.Until.UTC().Format(time.RFC3339))
		out = append(out, &state.RetireOld{On: state.OnRelease(r, msg)})
	}
	return out
}

// previewText says what a blue/green release's first step exposes.
func previewText(r *state.Release, p *config.PreviewSpec) string {
	who := "requests for " + p.Domain
	if h := p.Header; h != nil {
		who = fmt.Sprintf("requests with %s: %s", h.Name, h.Value)
	}
	return fmt.Sprintf("blue/green preview: only %s reach %s, all others stay on %s (step 1 of %d)", who, r.Spec.Spec.To, r.Status.From, len(r.Status.Plan))
}

// retireKept proposes DecideRetire's events.
func (c *Controller) retireKept(ctx context.Context, st *state.State) {
	for _, e := range DecideRetire(st, c.opts.Now()) {
		if err := c.propose(ctx, e); err == nil {
			c.log.Info("old version retired", "release", e.Release)
		}
	}
}
