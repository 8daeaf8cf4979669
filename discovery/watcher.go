package discovery

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// maxFailureMessage bounds the failure message proposed (the state
// machine would cut a longer one, and the comparison must see the same).
const maxFailureMessage = 400

// retryAfterRefusal is the pause after a refused or failed proposal.
const retryAfterRefusal = 200 * time.Millisecond

// lookResult is what one look at a source found: the endpoints (with the
// health the source says), or why none were found, and when to look
// again.
type lookResult struct {
	found   []state.ObservedEndpoint
	failure *state.SourceFailure
	again   time.Duration
}

// source is a version's discovery source, looked at once per call.
type source interface {
	look(ctx context.Context) lookResult
}

// target is one version with a discovery source.
type target struct {
	service, version string
	spec             *config.Discovery
}

func (t target) key() string { return state.EndpointKey(t.service, t.version) }

// watcher keeps one version's recorded endpoints in step with its source
// and their health checks, while this node leads.
type watcher struct {
	t   target
	src source
	l   *Loop
	log *slog.Logger

	found   []state.ObservedEndpoint // the last good set, sorted
	failure *state.SourceFailure     // the last look's failure, if it failed
	health  map[string]*tracker      // by address, with a health check
}

func (l *Loop) newWatcher(t target) *watcher {
	w := &watcher{t: t, l: l, health: map[string]*tracker{},
		log: l.log.With("service", t.service, "version", t.version, "source", t.spec.Source())}
	switch {
	case t.spec.DNS != nil:
		r := l.opts.Resolver
		if r == nil {
			r = noResolver{}
		}
		w.src = &dnsSource{spec: t.spec.DNS, resolver: r}
	default:
		w.src = &fileSource{spec: t.spec.File}
	}
	return w
}

// run looks at the source when it is due, probes the endpoints when due
// (at once for endpoints not probed yet), and proposes what changed.
func (w *watcher) run(ctx context.Context) {
	hc := w.t.spec.HealthCheck
	var nextLook, nextProbe time.Time
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := w.l.opts.Now()
		if !now.Before(nextLook) {
			r := w.src.look(ctx)
			w.take(r)
			nextLook = now.Add(r.again)
			if w.unprobed() {
				nextProbe = now
			}
		}
		if hc != nil && !now.Before(nextProbe) {
			w.probe(ctx, hc)
			nextProbe = w.l.opts.Now().Add(hc.Probing().Interval)
		}
		if ctx.Err() != nil {
			return
		}
		wait := nextLook.Sub(w.l.opts.Now())
		if hc != nil {
			wait = min(wait, nextProbe.Sub(w.l.opts.Now()))
		}
		if !w.sync(ctx) {
			wait = min(wait, retryAfterRefusal)
		}
		timer.Reset(max(wait, 0))
	}
}

// take keeps what a look found.
func (w *watcher) take(r lookResult) {
	if f := r.failure; f != nil {
		msg := f.Message
		if len(msg) > maxFailureMessage {
			msg = msg[:maxFailureMessage] + "..."
		}
		if w.failure == nil || w.failure.Message != msg {
			w.log.Warn("discovery source failed; keeping the last good set", "kind", f.Kind, "err", msg, "endpoints", len(w.found))
		}
		w.failure = &state.SourceFailure{Kind: f.Kind, Message: msg}
		return
	}
	w.failure = nil
	w.found = slices.Clone(r.found)
	slices.SortFunc(w.found, func(a, b state.ObservedEndpoint) int { return cmp.Compare(a.Address, b.Address) })
	for addr := range w.health {
		if !slices.ContainsFunc(w.found, func(e state.ObservedEndpoint) bool { return e.Address == addr }) {
			delete(w.health, addr)
		}
	}
}

// unprobed reports whether an endpoint found has not been probed yet.
func (w *watcher) unprobed() bool {
	if w.t.spec.HealthCheck == nil {
		return false
	}
	for _, e := range w.found {
		if _, ok := w.health[e.Address]; !ok {
			return true
		}
	}
	return false
}

// probe probes every endpoint found once and counts the results.
func (w *watcher) probe(ctx context.Context, hc *config.EndpointHealthCheck) {
	addrs := make([]string, len(w.found))
	for i, e := range w.found {
		addrs[i] = e.Address
	}
	results := probeAll(ctx, w.l.opts.Prober, hc, addrs)
	if ctx.Err() != nil {
		return
	}
	p := hc.Probing()
	for _, addr := range addrs {
		t := w.health[addr]
		if t == nil {
			t = &tracker{}
			w.health[addr] = t
		}
		err := results[addr]
		detail := "passed"
		if err != nil {
			detail = err.Error()
		}
		if t.observe(err == nil, detail, p) {
			w.log.Info("endpoint health changed", "address", addr, "healthy", t.healthy, "detail", detail)
		}
	}
}

// current is the set to record: the last good set, each endpoint
// unhealthy when its source or its health check says so.
func (w *watcher) current() []state.ObservedEndpoint {
	out := slices.Clone(w.found)
	for i := range out {
		if t, ok := w.health[out[i].Address]; ok && t.known && !t.healthy {
			out[i].Health = state.Unhealthy
		}
	}
	return out
}

// sync proposes the observation when it differs from the recorded set;
// false when a proposal was refused or failed (to be tried again soon).
func (w *watcher) sync(ctx context.Context) bool {
	obs := w.observation(w.l.cluster.State())
	if obs == nil {
		return true
	}
	err := w.l.propose(ctx, obs)
	switch {
	case err == nil:
		return true
	case ctx.Err() != nil:
		return false // the term ended
	case errors.Is(err, state.ErrConflict):
		w.log.Debug("observation refused as stale", "err", err)
	default:
		w.log.Warn("observation not recorded", "err", err)
	}
	return false
}

// observation is the command that brings st in step with what was found,
// or nil when st already holds it.
func (w *watcher) observation(st *state.State) *state.ObserveEndpoints {
	src := w.t.spec.Source()
	obs := &state.ObserveEndpoints{Service: w.t.service, Version: w.t.version, Source: src}
	set := st.Endpoints[w.t.key()]
	if set != nil && set.Source != src {
		set = nil
	}
	if set != nil {
		obs.Previous = set.Index
	}
	if w.failure != nil {
		obs.Failure = w.failure
		if set != nil && set.Failure != nil && *set.Failure == *w.failure {
			return nil
		}
		return obs
	}
	obs.Endpoints = w.current()
	if set != nil && set.Failure == nil && slices.Equal(set.Endpoints, obs.Endpoints) {
		return nil
	}
	return obs
}
