package controller

import (
	"context"
	"slices"
	"time"

	"github.com/sluicehq/sluice/state"
)

// DefaultServedEvery is how often the leader looks at which proxy groups
// hold the services' config (Options.ServedEvery).
const DefaultServedEvery = 10 * time.Second

// servedRefresh is how old a group's record may grow before an
// observation that sees it again refreshes it: well inside
// state.ServedGroupAge, so a group that stays connected never ages out.
const servedRefresh = state.ServedGroupAge / 4

// ServedObservation is what the leader records of the groups it observed
// while the state was st: a group with a stream on a live node that holds
// st.Index or newer, and rejects nothing, holds the config of every
// service of st. A service is observed when one of those groups is not
// recorded for it or was recorded more than servedRefresh before now; nil
// when no service is (nothing to record, no command).
func ServedObservation(st *state.State, groups []GroupAck, now time.Time) *state.ObserveGroups {
	var holding []string
	for _, g := range groups {
		if g.Streams > 0 && g.AckedIndex >= st.Index && len(g.NACKs) == 0 && len(g.Group) <= state.MaxGroupKey && !slices.Contains(holding, g.Group) {
			holding = append(holding, g.Group)
		}
	}
	if len(holding) == 0 {
		return nil
	}
	slices.Sort(holding)
	if len(holding) > state.MaxServedGroups {
		holding = holding[:state.MaxServedGroups]
	}
	obs := &state.ObserveGroups{Groups: holding}
	for _, name := range st.ServiceNames() {
		if slices.ContainsFunc(holding, func(g string) bool { return now.Sub(st.ServedAt(name, g)) >= servedRefresh }) {
			obs.Services = append(obs.Services, state.ServiceSeen{Service: name, Seen: st.LastServed(name)})
		}
	}
	if len(obs.Services) == 0 {
		return nil
	}
	return obs
}

// observeServed looks at the fleet every Options.ServedEvery, in the
// background, and records which groups hold the services' config, so the
// first step of a release knows whom to wait for even right after a
// leader change.
func (c *Controller) observeServed(ctx context.Context) {
	now := c.opts.Now()
	if !c.servedAt.IsZero() && now.Sub(c.servedAt) < c.opts.ServedEvery {
		return
	}
	c.servedAt = now
	c.run(ctx, "served", func() {
		st := c.cluster.State()
		octx, cancel := context.WithTimeout(ctx, 2*time.Second)
		groups, _ := c.deps.Acks.Observe(octx)
		cancel()
		if e := ServedObservation(st, groups, c.opts.Now()); e != nil && ctx.Err() == nil {
			c.propose(ctx, e)
		}
	}, func(p panicReport) {
		c.log.Error("observing proxy groups panicked", "panic", p.value, "stack", string(p.stack))
	})
}
