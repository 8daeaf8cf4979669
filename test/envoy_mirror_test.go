package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/demo"
	"github.com/sluicehq/sluice/state"
)

// mirrorSteps is a plan that shadows share percent of the requests for
// bake, then serves 50% of users.
func mirrorSteps(share int, bake string) string {
	return fmt.Sprintf("  steps: [{mirror: %d, bake: %s}, {weight: 50, bake: 3s}]\n", share, bake)
}

// requireUsersOnStable asserts that every user request counted by c was
// answered, by v1.
func requireUsersOnStable(t *testing.T, what string, c demo.Counts) {
	t.Helper()
	require.Zerof(t, c.Errors, "%s: no user request failed: %v", what, c.ByCode)
	require.Equalf(t, c.RPCs(), c.ByVersion["v1"], "%s: every user answered by stable: %v", what, c.ByVersion)
	require.NotZero(t, c.RPCs(), what)
}

// canaryRequests is the largest number of canary requests a verdict's
// measurements saw (the requests query over its windows).
func canaryRequests(t *testing.T, raw json.RawMessage) float64 {
	t.Helper()
	var v analysis.Verdict
	require.NoError(t, json.Unmarshal(raw, &v))
	best := -1.0
	for _, m := range v.Measurements {
		if m.Role == analysis.RoleCanary && (m.Quantity == analysis.QuantityRequests || m.Quantity == analysis.QuantityTotal) && m.Value != nil {
			best = max(best, *m.Value)
		}
	}
	return best
}

// TestEnvoyMirror runs mirror steps end to end through real Envoys: the
// new version receives copies of live requests and is judged by its own
// metrics on them by real Prometheus, while every user is answered by
// stable; a canary that fails under the mirror rolls back (or, per
// policy, holds) without a single user request failing.
func TestEnvoyMirror(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus, server and Envoy processes")
	}
	e := newEnvoyEnv(t, "mirrored", "shadowfail", "shadowhold", "sampled")
	eventually(t, 30*time.Second, "prometheus scrapes the backends", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return e.prom.WaitForSeries(ctx, `requests_total{service="shadowhold",protocol="http"}`)
	})

	t.Run("mirror step shadows to the new version, users stay on stable, then promoted", func(t *testing.T) {
		v1, v2 := e.backends["mirrored/v1"], e.backends["mirrored/v2"]
		e.apply(t, "mirrored", mirrorSteps(50, "10s"))
		l := e.eu.httpLoad(t, e.ports["mirrored"], "mirrored.example.com", nil, 40)
		waitTraffic(t, l, "v1")
		name := e.startAndApply(t, "mirrored")
		users := l.Counts()
		before := v2.Mirrored()

		// Users: every answer from stable, none failed.
		probe := e.through(t, e.eu, "mirrored", nil)
		d := send(t, probe, 400)
		requireUsersOnStable(t, "during the mirror step", d)
		// The new version got copies, and nothing else; stable got none.
		var got demo.MirrorCount
		eventually(t, 20*time.Second, "the copies reached v2", func() error {
			got = v2.Mirrored()
			if got.HTTP-before.HTTP < 100 {
				return fmt.Errorf("v2 received %d copies", got.HTTP-before.HTTP)
			}
			return nil
		})
		t.Logf("v2 received %d copies during the mirror step; their Hosts: %q", got.HTTP-before.HTTP, got.Hosts)
		require.Equal(t, []string{"mirrored.example.com" + demo.ShadowSuffix}, got.Hosts, "Envoy appends -shadow to the Host of a copy")
		// With a port in the Host, Envoy 1.40 puts the suffix before it.
		hostPort := fmt.Sprintf("mirrored.example.com:%d", e.ports["mirrored"])
		requireUsersOnStable(t, "with a port in the Host", send(t, e.eu.httpLoad(t, e.ports["mirrored"], hostPort, nil, 0), 50))
		eventually(t, 20*time.Second, "a copy of a request with a port in its Host", func() error {
			if hosts := v2.Mirrored().Hosts; !slices.Contains(hosts, fmt.Sprintf("mirrored.example.com%s:%d", demo.ShadowSuffix, e.ports["mirrored"])) {
				return fmt.Errorf("copies' Hosts %q", hosts)
			}
			return nil
		})
		require.Equal(t, before.Direct, got.Direct, "the new version serves no user during the mirror step")
		require.Zero(t, v1.Mirrored().HTTP, "stable receives no copies")

		// The background load so far ran while the mirror step was in
		// force, if the release is still at it now.
		during := l.Counts().Sub(users)
		if cur := e.release(e.procs[0], name); cur.Status.Step == 0 {
			requireUsersOnStable(t, "background load during the mirror step", during)
		} else {
			t.Logf("the release left its mirror step before the background load was read; not checked")
		}

		r := e.waitRelease(e.procs[0], name, 90*time.Second, "promoted", phaseIs(state.PhasePromoted))
		checkDecisions(t, r)
		// The mirror step ended on an analysis that saw the copies as the
		// canary's own requests.
		var leftMirror *state.Decision
		for i, dec := range r.Status.Decisions {
			if dec.Action == state.DecisionAdvance && dec.Step == 1 {
				leftMirror = &r.Status.Decisions[i]
			}
		}
		require.NotNil(t, leftMirror, "the release advanced from its mirror step")
		for _, dec := range r.Status.Decisions {
			if dec.Action == state.DecisionAck && dec.Step == 0 {
				require.Zero(t, dec.Weight, "the mirror step serves no user from v2")
			}
		}
		require.Greater(t, canaryRequests(t, leftMirror.Verdict), 10.0, "the analysis counted the mirrored requests as v2's")
	})

	t.Run("the runtime fraction sets the share copied", func(t *testing.T) {
		// No other traffic: every copy Envoy makes is of these requests.
		v2 := e.backends["sampled/v2"]
		e.apply(t, "sampled", mirrorSteps(30, "10m"))
		allReach(t, e.through(t, e.eu, "sampled", nil), "v1", 30*time.Second)
		name := e.startAndApply(t, "sampled")
		before, err := e.eu.Admin().UpstreamRequests(ctxT(t))
		require.NoError(t, err)
		copies := v2.Mirrored().HTTP
		const n = 1000
		requireUsersOnStable(t, "sampled", send(t, e.through(t, e.eu, "sampled", nil), n))
		var got uint64
		eventually(t, 20*time.Second, "the backend received every copy Envoy sent", func() error {
			after, err := e.eu.Admin().UpstreamRequests(context.Background())
			if err != nil {
				return err
			}
			sent := after["sampled/v2"] - before["sampled/v2"]
			got = v2.Mirrored().HTTP - copies
			if sent == 0 || got != sent {
				return fmt.Errorf("Envoy sent %d copies, the backend has %d", sent, got)
			}
			return nil
		})
		checkShare(t, int(got), n, 0.3)
		e.abort(t, name)
	})

	t.Run("a canary failing under the mirror rolls back and no user request fails", func(t *testing.T) {
		require.NoError(t, e.backends["shadowfail/v2"].SetFaults(demo.Faults{ErrorRatio: 0.5, Latency: time.Millisecond}))
		e.apply(t, "shadowfail", mirrorSteps(100, "60s"))
		l := e.eu.httpLoad(t, e.ports["shadowfail"], "shadowfail.example.com", nil, 40)
		waitTraffic(t, l, "v1")
		users := l.Counts()
		_, err := e.procs[1].client().StartRelease(ctxT(t), releaseSpec("shadowfail-v2", "shadowfail", "v2"))
		require.NoError(t, err)
		r := e.waitRelease(e.procs[0], "shadowfail-v2", 60*time.Second, "ended", func(r *state.Release) bool { return r.Status.Phase.Terminal() })
		requireRolledBackByAnalysis(t, r)
		require.Equal(t, 0, r.Status.Step, "rolled back at the mirror step")
		require.NotZero(t, e.backends["shadowfail/v2"].Mirrored().HTTP)
		require.Zero(t, e.backends["shadowfail/v2"].Mirrored().Direct, "no user ever met v2")
		requireUsersOnStable(t, "users during the release", l.Counts().Sub(users))
	})

	t.Run("with onMirrorFailure: hold a failing mirror step pauses for a person", func(t *testing.T) {
		v2 := e.backends["shadowhold/v2"]
		require.NoError(t, v2.SetFaults(demo.Faults{ErrorRatio: 0.5, Latency: time.Millisecond}))
		e.apply(t, "shadowhold", "  onMirrorFailure: hold\n"+mirrorSteps(100, "60s"))
		l := e.eu.httpLoad(t, e.ports["shadowhold"], "shadowhold.example.com", nil, 40)
		waitTraffic(t, l, "v1")
		users := l.Counts()
		_, err := e.procs[1].client().StartRelease(ctxT(t), releaseSpec("shadowhold-v2", "shadowhold", "v2"))
		require.NoError(t, err)
		r := e.waitRelease(e.procs[0], "shadowhold-v2", 60*time.Second, "held at its mirror step", func(r *state.Release) bool {
			return r.HeldFor(state.HoldMirrorFailed)
		})
		require.Equal(t, state.PhasePaused, r.Status.Phase)
		require.Equal(t, 0, r.Status.Step)
		last := r.Status.Decisions[len(r.Status.Decisions)-1]
		require.Equal(t, state.DecisionHold, last.Action)
		require.True(t, strings.HasPrefix(last.Actor, "controller:"), last.Actor)
		require.Contains(t, last.Message, "onMirrorFailure: hold")
		var v analysis.Verdict
		require.NoError(t, json.Unmarshal(last.Verdict, &v))
		require.Equal(t, analysis.PhaseFailed, v.Phase, v.Reason)

		// Paused, the mirror goes on and users stay on stable.
		before := v2.Mirrored()
		requireUsersOnStable(t, "while held", send(t, e.through(t, e.eu, "shadowhold", nil), 100))
		eventually(t, 20*time.Second, "copies go on while held", func() error {
			if n := v2.Mirrored().HTTP - before.HTTP; n < 50 {
				return fmt.Errorf("%d copies", n)
			}
			return nil
		})
		require.Equal(t, state.PhasePaused, e.release(e.procs[0], "shadowhold-v2").Status.Phase, "it does not move by itself")

		_, err = e.procs[0].client().ReleaseAction(ctxT(t), "shadowhold-v2", "rollback", "canary fails under the mirror")
		require.NoError(t, err)
		e.waitRelease(e.procs[0], "shadowhold-v2", 30*time.Second, "rolled back", phaseIs(state.PhaseRolledBack))
		require.Zero(t, v2.Mirrored().Direct, "no user ever met v2")
		requireUsersOnStable(t, "users during the release", l.Counts().Sub(users))
	})
}

// TestProxylessMirrorSkipped: grpc-go's xDS client does not mirror. A
// mirror step of a grpc service its real client uses records the client's
// proxy group as skipped, with the reason, before the step is ACKed; the
// client's requests all go to stable and the new version gets no copy
// from it. With no Envoy mirroring, the new version has no requests to be
// judged on: the analysis is Inconclusive and the release holds.
func TestProxylessMirrorSkipped(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and server processes")
	}
	e := newReleaseEnv(t, "proxyless")
	_, err := e.procs[0].client().Apply(ctxT(t), "proxyless.yaml", []byte(e.releaseYAML("proxyless", "[{mirror: 50, bake: 10s}, {weight: 50, bake: 3s}]")))
	require.NoError(t, err)
	l := e.load("proxyless", e.procs[2], 30)
	waitTraffic(t, l, "v1")
	v2 := e.backends["proxyless/v2"]
	users := l.Counts()

	_, err = e.procs[1].client().StartRelease(ctxT(t), releaseSpec("proxyless-v2", "proxyless", "v2"))
	require.NoError(t, err)
	r := e.waitRelease(e.procs[0], "proxyless-v2", 30*time.Second, "mirror step applied", func(r *state.Release) bool { return r.Status.Acked })
	group := "e2e/r1/" // demo.Node{Cluster: "e2e", Region: "r1"} of e.load
	require.Equal(t, []state.MirrorSkip{{Step: 0, Group: group, Reason: state.MirrorSkipProxyless, Streams: 1}}, r.Status.MirrorSkips)
	var skip *state.Decision
	for i, d := range r.Status.Decisions {
		if d.Action == state.DecisionMirrorSkip {
			require.Nil(t, skip, "recorded once")
			skip = &r.Status.Decisions[i]
		}
	}
	require.NotNil(t, skip)
	require.Contains(t, skip.Message, "proxyless gRPC clients (grpc-go) do not mirror requests")
	require.Contains(t, skip.Message, group)

	// Stable only, no copies; the analysis has nothing to judge v2 on.
	r = e.waitRelease(e.procs[0], "proxyless-v2", 30*time.Second, "held on an inconclusive analysis", func(r *state.Release) bool {
		return r.HeldFor(state.HoldAnalysis) && r.Status.Counters.Inconclusive >= 2
	})
	require.Equal(t, 0, r.Status.Step, "never leaves the mirror step on no data")
	require.Equal(t, demo.MirrorCount{}, v2.Mirrored(), "grpc-go sent v2 neither copies nor requests")
	d := l.Counts().Sub(users)
	require.Zero(t, d.Errors, "%v", d.ByCode)
	require.Equal(t, d.RPCs(), d.ByVersion["v1"], "%v", d.ByVersion)

	// People see it in `sluice release status` and `history`.
	status, err := exec.Command(sluiceBin, "--server", e.procs[1].api, "--token", e.procs[1].token, "release", "status", "proxyless-v2").CombinedOutput()
	require.NoError(t, err, "%s", status)
	require.Contains(t, string(status), "[mirror 50%/10s]")
	require.Contains(t, string(status), "50% of requests copied to v2 by Envoy")
	require.Contains(t, string(status), "step 1, group "+group+" (proxyless, 1 stream(s)): proxyless gRPC clients do not mirror")
	history, err := exec.Command(sluiceBin, "--server", e.procs[1].api, "--token", e.procs[1].token, "release", "history", "proxyless-v2").CombinedOutput()
	require.NoError(t, err, "%s", history)
	require.Contains(t, string(history), "mirror-skip")
	_, err = e.procs[0].client().ReleaseAction(ctxT(t), "proxyless-v2", "abort", "test done")
	require.NoError(t, err)
}
