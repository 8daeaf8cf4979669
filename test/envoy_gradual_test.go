package test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/demo"
	"github.com/sluicehq/sluice/state"
)

// plateau is one weight the Envoy held for the new version, and what the
// Envoy itself sent to each version meanwhile (upstream_rq_total).
type plateau struct {
	weight uint32
	v1, v2 uint64
}

// splitWatch records, from a real Envoy's admin interface, each weight of
// svc's v2 in its route in turn, with the requests Envoy sent upstream
// to each version while the weight held.
type splitWatch struct {
	mu       sync.Mutex
	plateaus []plateau
	stop     func()
}

func watchSplit(t *testing.T, px *fleetEnvoy, svc string, port int) *splitWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &splitWatch{}
	done := make(chan struct{})
	w.stop = func() { cancel(); <-done }
	t.Cleanup(w.stop)
	route, v1, v2 := fmt.Sprintf("http_%d", port), svc+"/v1", svc+"/v2"
	go func() {
		defer close(done)
		var base map[string]uint64
		for ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			rc, ok, err := px.Admin().Route(ctx, route)
			if err != nil || !ok {
				continue
			}
			split, err := rc.Split(svc)
			if err != nil {
				continue
			}
			counts, err := px.Admin().UpstreamRequests(ctx)
			if err != nil {
				continue
			}
			w.mu.Lock()
			n := len(w.plateaus)
			if n == 0 || w.plateaus[n-1].weight != split[v2] {
				w.plateaus = append(w.plateaus, plateau{weight: split[v2]})
				base = counts
				n++
			}
			w.plateaus[n-1].v1, w.plateaus[n-1].v2 = counts[v1]-base[v1], counts[v2]-base[v2]
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *splitWatch) seen() []plateau {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]plateau(nil), w.plateaus...)
}

func (w *splitWatch) weights() []uint32 {
	var out []uint32
	for _, p := range w.seen() {
		out = append(out, p.weight)
	}
	return out
}

// TestEnvoyGradualRollback fails releases at 50% under a gradual
// rollback policy, through a real Envoy with real Prometheus judging the
// backends' own metrics: the canary's share at the Envoy goes down in
// steps no larger than the policy's maximum, each held for its bake; a
// burn that worsens meanwhile sends all traffic back at once.
func TestEnvoyGradualRollback(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus, server and Envoy processes")
	}
	e := newEnvoyEnv(t, "stepped", "worsening", "forced")
	loads := map[string]*demo.Load{}
	for _, svc := range []string{"stepped", "worsening", "forced"} {
		loads[svc] = e.eu.httpLoad(t, e.ports[svc], svc+".example.com", nil, 100)
	}
	e.apply(t, "stepped", "  steps: [{weight: 50, bake: 10m}, {weight: 100}]\n"+
		"  rollback: {mode: gradual, steps: 3, bake: 6s, maxStepPercent: 15, worsenFactor: 3}\n")
	e.apply(t, "worsening", "  steps: [{weight: 50, bake: 10m}, {weight: 100}]\n"+
		"  rollback: {mode: gradual, steps: 3, bake: 30s, worsenFactor: 3}\n")
	e.apply(t, "forced", "  steps: [{weight: 50, bake: 10m}, {weight: 100}]\n"+
		"  rollback: {mode: gradual, steps: 3, bake: 1m, worsenFactor: 3}\n")
	for _, svc := range []string{"stepped", "worsening", "forced"} {
		waitTraffic(t, loads[svc], "v1")
	}
	eventually(t, 30*time.Second, "prometheus scrapes the backends", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return e.prom.WaitForSeries(ctx, `requests_total{service="worsening",protocol="http"}`)
	})

	t.Run("steps back no larger than maxStepPercent", func(t *testing.T) {
		w := watchSplit(t, e.eu, "stepped", e.ports["stepped"])
		name := e.startAndApply(t, "stepped")
		eventually(t, 20*time.Second, "the Envoy holds 50% on v2", func() error {
			if ws := w.weights(); len(ws) == 0 || ws[len(ws)-1] != 50 {
				return fmt.Errorf("weights seen %v", ws)
			}
			return nil
		})
		time.Sleep(3 * time.Second) // a plateau long enough to measure the 50%
		require.NoError(t, e.backends["stepped/v2"].SetFaults(demo.Faults{ErrorRatio: 0.2, Latency: time.Millisecond}))
		r := e.waitRelease(e.procs[0], name, 90*time.Second, "rolled back", func(r *state.Release) bool { return r.Status.Phase.Terminal() })
		require.Equal(t, state.PhaseRolledBack, r.Status.Phase, r.Status.Reason)
		rb := r.Status.Rollback
		require.NotNil(t, rb, "rolled back gradually")
		require.Nil(t, rb.Instant, "the burn did not worsen: %+v", rb.Instant)
		require.Equal(t, []uint32{38, 25, 13, 0}, rb.Weights, "4 steps: 3 would move 17 points, more than 15")
		eventually(t, 20*time.Second, "the Envoy routes nothing to v2", func() error {
			if ws := w.weights(); ws[len(ws)-1] != 0 {
				return fmt.Errorf("weights seen %v", ws)
			}
			return nil
		})
		w.stop()
		seen := w.seen()
		t.Logf("plateaus at the Envoy: %+v", seen)
		if seen[0].weight == 0 {
			seen = seen[1:] // the Envoy was watched before the release's step reached it
		}
		var ws []uint32
		for _, p := range seen {
			ws = append(ws, p.weight)
		}
		require.Equal(t, []uint32{50, 38, 25, 13, 0}, ws, "the Envoy held the release's step and every step back, in order")
		for i := 1; i < len(seen); i++ {
			require.LessOrEqual(t, seen[i-1].weight-seen[i].weight, uint32(15), "step %d", i)
		}
		// What the Envoy sent each version while a step held: the share
		// follows the step's weight.
		for _, p := range seen[:len(seen)-1] {
			n := p.v1 + p.v2
			require.Greater(t, n, uint64(150), "plateau %d%% carried traffic: %+v", p.weight, p)
			checkShare(t, int(p.v2), int(n), float64(p.weight)/100)
		}
		checkGradualDecisions(t, r)
		d := upstreamDelta(t, e.eu, e.through(t, e.eu, "stepped", nil), 200)
		require.Zero(t, d["stepped/v2"], "Envoy sends nothing to the rolled-back canary: %v", d)
	})

	t.Run("a worse burn switches to instant", func(t *testing.T) {
		w := watchSplit(t, e.eu, "worsening", e.ports["worsening"])
		name := e.startAndApply(t, "worsening")
		require.NoError(t, e.backends["worsening/v2"].SetFaults(demo.Faults{ErrorRatio: 0.12, Latency: time.Millisecond}))
		e.waitRelease(e.procs[0], name, 60*time.Second, "rolling back gradually", func(r *state.Release) bool {
			return r.Status.Phase == state.PhaseRollingBack || r.Status.Phase.Terminal()
		})
		require.NoError(t, e.backends["worsening/v2"].SetFaults(demo.Faults{ErrorRatio: 1, Latency: time.Millisecond}))
		r := e.waitRelease(e.procs[0], name, 60*time.Second, "rolled back", func(r *state.Release) bool { return r.Status.Phase.Terminal() })
		require.Equal(t, state.PhaseRolledBack, r.Status.Phase, r.Status.Reason)
		rb := r.Status.Rollback
		require.NotNil(t, rb, "it started gradually")
		require.NotNil(t, rb.Instant, "switched to instant: %s", r.Status.Reason)
		t.Logf("trigger %+v, bar %.1f, instant at %+v", rb.Trigger, rb.Bar, rb.Instant)
		require.Greater(t, rb.Instant.Burn, rb.Bar)
		require.Less(t, rb.Step, len(rb.Weights)-1, "ended before its last step back")
		last := r.Status.Decisions[len(r.Status.Decisions)-1]
		require.Equal(t, state.DecisionRollback, last.Action)
		require.Contains(t, last.Message, "burn worsened during the gradual rollback")
		require.NotEmpty(t, last.Verdict, "recorded with the verdict it was decided on")
		allReach(t, e.through(t, e.eu, "worsening", nil), "v1", 20*time.Second)
		eventually(t, 20*time.Second, "the Envoy routes nothing to v2", func() error {
			if ws := w.weights(); ws[len(ws)-1] != 0 {
				return fmt.Errorf("weights seen %v", ws)
			}
			return nil
		})
		ws := w.weights()
		t.Logf("weights at the Envoy: %v", ws)
		require.Equal(t, rb.Weights[rb.Step], ws[len(ws)-2], "from the step in force straight to 0")
		require.Greater(t, ws[len(ws)-2], rb.Weights[rb.Step+1], "a jump larger than a step back")
	})
	t.Run("a person forces instant", func(t *testing.T) {
		name := e.startAndApply(t, "forced")
		require.NoError(t, e.backends["forced/v2"].SetFaults(demo.Faults{ErrorRatio: 0.2, Latency: time.Millisecond}))
		e.waitRelease(e.procs[0], name, 60*time.Second, "rolling back gradually", func(r *state.Release) bool {
			return r.Status.Phase == state.PhaseRollingBack
		})
		_, err := e.procs[2].client().ReleaseAction(ctxT(t), name, "rollback", "stable is scaled up: all of it now")
		require.NoError(t, err)
		r := e.waitRelease(e.procs[0], name, 20*time.Second, "rolled back", func(r *state.Release) bool { return r.Status.Phase.Terminal() })
		require.Equal(t, state.PhaseRolledBack, r.Status.Phase)
		last := r.Status.Decisions[len(r.Status.Decisions)-1]
		require.Equal(t, state.DecisionRollback, last.Action)
		require.False(t, strings.HasPrefix(last.Actor, "controller"), "rolled back by %s", last.Actor)
		require.Equal(t, 0, r.Status.Rollback.Step, "a minute's bake: still at its first step back")
		allReach(t, e.through(t, e.eu, "forced", nil), "v1", 20*time.Second)
	})
}

// checkGradualDecisions: the rollback's start and each step back are
// recorded with the analysis they were decided on, in order.
func checkGradualDecisions(t *testing.T, r *state.Release) {
	t.Helper()
	var weights []uint32
	for _, d := range r.Status.Decisions {
		switch d.Action {
		case state.DecisionRollbackGradual, state.DecisionRollbackStep:
			weights = append(weights, d.Weight)
			require.NotEmpty(t, d.Verdict, "%s at %d%% carries its verdict", d.Action, d.Weight)
		}
	}
	require.Equal(t, r.Status.Rollback.Weights, weights)
}
