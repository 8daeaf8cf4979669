package test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/xds"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/analysis/promtest"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/demo"
	"github.com/sluicehq/sluice/state"
)

// releaseEnv is a 3-node cluster, a real Prometheus scraping demo
// backends every second, and grpc-go xDS clients sending steady traffic.
type releaseEnv struct {
	t        *testing.T
	procs    []*proc
	prom     *promtest.Server
	backends map[string]*demo.Backend // "service/version"
}

func startBackends(t *testing.T, services ...string) map[string]*demo.Backend {
	t.Helper()
	out := map[string]*demo.Backend{}
	for _, svc := range services {
		for i, v := range []string{"v1", "v2"} {
			b, err := demo.StartBackend(demo.BackendConfig{Service: svc, Version: v, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
				Faults: demo.Faults{Latency: time.Millisecond}, Seed: uint64(len(out) + i + 1)})
			require.NoError(t, err)
			t.Cleanup(func() { b.Close() })
			out[svc+"/"+v] = b
		}
	}
	return out
}

func newReleaseEnv(t *testing.T, services ...string) *releaseEnv {
	return newReleaseEnvWith(t, nil, services...)
}

// newReleaseEnvWith passes extra flags to every server process.
func newReleaseEnvWith(t *testing.T, extra []string, services ...string) *releaseEnv {
	t.Helper()
	return newReleaseEnvPrepared(t, nil, extra, services...)
}

// newReleaseEnvPrepared calls prepare on each server process before it
// first starts (see startClusterWith).
func newReleaseEnvPrepared(t *testing.T, prepare func(*proc), extra []string, services ...string) *releaseEnv {
	t.Helper()
	backends := startBackends(t, services...)
	var targets []string
	for _, b := range backends {
		targets = append(targets, b.HTTPAddr())
	}
	prom := promtest.Start(t, targets...)
	procs := startClusterWith(t, 3, prepare, append([]string{"--prometheus-url", prom.URL(), "--controller-tick", "100ms"}, extra...)...)
	return &releaseEnv{t: t, procs: procs, prom: prom, backends: backends}
}

// demoSLO is the SLO of the demo backends' metrics (99%, errors are codes
// other than OK) and the start of a fast analysis block (1 s analyses, one
// 10s/3s burn rule at 10x). Callers add the baseline and limits.
const demoSLO = `  slo:
    objective: 99
    errorRatioQuery: 'sum(rate(requests_total{service="{{service}}",version="{{version}}",code!="OK"}[{{window}}])) / sum(rate(requests_total{service="{{service}}",version="{{version}}"}[{{window}}]))'
    requestsQuery: 'sum(increase(requests_total{service="{{service}}",version="{{version}}"}[{{window}}]))'
  analysis:
    interval: 1s
    burnRules: [{name: fast, longWindow: 10s, shortWindow: 3s, burnRate: 10}]
`

// releaseYAML is a service on two demo backends and a fast policy: 1s
// analyses, a 10s/3s burn rule at 10x on a 99% objective, short bakes.
func (e *releaseEnv) releaseYAML(svc string, bakes string) string {
	v1, v2 := e.backends[svc+"/v1"], e.backends[svc+"/v2"]
	return fmt.Sprintf(`apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: %[1]s}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: %[2]q, region: r1}]}
    - {name: v2, endpoints: [{address: %[3]q, region: r1}]}
---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: %[1]s}
spec:
  services: [%[1]s]
`+demoSLO+`    baseline: {window: 10s, minRequests: 10}
    inconclusiveLimit: 30
    errorLimit: 60
  steps: %[4]s
  ackTimeout: 10s
`, svc, v1.GRPCAddr(), v2.GRPCAddr(), bakes)
}

// load starts a grpc-go xDS client sending rps RPCs per second to svc
// through node p.
func (e *releaseEnv) load(svc string, p *proc, rps float64) *demo.Load {
	e.t.Helper()
	boot, err := demo.Bootstrap(demo.Node{ID: "load-" + svc, Cluster: "e2e", Region: "r1"}, p.xds)
	require.NoError(e.t, err)
	res, err := xds.NewXDSResolverWithConfigForTesting(boot)
	require.NoError(e.t, err)
	l, err := demo.NewLoad(demo.LoadConfig{Target: svc, RPS: rps, Timeout: 2 * time.Second, DialOptions: []grpc.DialOption{grpc.WithResolvers(res)}})
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Run(ctx); close(done) }()
	e.t.Cleanup(func() { cancel(); <-done; l.Close() })
	return l
}

// trafficDeadline bounds waitTraffic. It only bounds a failure: the wait
// ends as soon as the traffic is there. On two cores busy with -race, a
// client's first xDS fetch took over 20 s.
const trafficDeadline = time.Minute

// waitTraffic waits until the load's recent RPCs all reach version want.
func waitTraffic(t *testing.T, l *demo.Load, want string) {
	t.Helper()
	eventually(t, trafficDeadline, "all traffic on "+want, func() error {
		before := l.Counts()
		deadline := time.Now().Add(5 * time.Second)
		for l.Counts().RPCs()-before.RPCs() < 40 {
			if time.Now().After(deadline) {
				return fmt.Errorf("load stalled")
			}
			time.Sleep(20 * time.Millisecond)
		}
		d := l.Counts().Sub(before)
		if d.ByVersion[want] != d.RPCs() {
			return fmt.Errorf("recent RPCs: %v ok by version, %v errors by code", d.ByVersion, d.ByCode)
		}
		return nil
	})
}

func (e *releaseEnv) release(p *proc, name string) *state.Release {
	e.t.Helper()
	r, err := p.client().Release(context.Background(), name)
	require.NoError(e.t, err)
	return r
}

// waitRelease polls a release until cond holds.
func (e *releaseEnv) waitRelease(p *proc, name string, timeout time.Duration, what string, cond func(*state.Release) bool) *state.Release {
	e.t.Helper()
	var last *state.Release
	eventually(e.t, timeout, name+": "+what, func() error {
		r, err := p.client().Release(context.Background(), name)
		if err != nil {
			return err
		}
		last = r
		if !cond(r) {
			return fmt.Errorf("phase %s step %d weight %d holding %q", r.Status.Phase, r.Status.Step, r.Status.Weight, holdOf(r))
		}
		return nil
	})
	return last
}

func phaseIs(p state.Phase) func(*state.Release) bool {
	return func(r *state.Release) bool { return r.Status.Phase == p }
}

// requireRolledBackByAnalysis checks what an automatic rollback
// guarantees: the release's last decision is the controller's rollback,
// and it records a Failed analysis verdict. Which rule failed first (a
// burn rule or the comparison with stable) depends on how the traffic
// happened to fall, so it is not asserted here.
func requireRolledBackByAnalysis(t *testing.T, r *state.Release) state.Decision {
	t.Helper()
	require.Equal(t, state.PhaseRolledBack, r.Status.Phase, r.Status.Reason)
	require.NotEmpty(t, r.Status.Decisions)
	last := r.Status.Decisions[len(r.Status.Decisions)-1]
	require.Equal(t, state.DecisionRollback, last.Action)
	require.True(t, strings.HasPrefix(last.Actor, "controller:"), "rolled back by %s", last.Actor)
	var v analysis.Verdict
	require.NoError(t, json.Unmarshal(last.Verdict, &v), "the rollback records its verdict")
	require.Equal(t, analysis.PhaseFailed, v.Phase, v.Reason)
	return last
}

// checkDecisions asserts the record moves through every step exactly
// once, in order, each step ACKed once, and each advance (or the
// promotion) at least a bake after the ACK of the step it leaves.
func checkDecisions(t *testing.T, r *state.Release) {
	t.Helper()
	var steps []int
	acks := map[int]int{}
	for _, d := range r.Status.Decisions {
		switch d.Action {
		case state.DecisionStart, state.DecisionAdvance:
			steps = append(steps, d.Step)
		case state.DecisionAck:
			acks[d.Step]++
		}
	}
	want := make([]int, len(r.Status.Plan))
	for i := range want {
		want[i] = i
		require.Equalf(t, 1, acks[i], "step %d ACKed once", i+1)
	}
	require.Equal(t, want, steps, "each step entered exactly once, in order")
	var ack time.Time
	cur := -1
	for _, d := range r.Status.Decisions {
		switch d.Action {
		case state.DecisionStart:
			cur = 0
		case state.DecisionAck:
			ack = d.Time
		case state.DecisionAdvance, state.DecisionPromote:
			bake := r.Status.Plan[cur].Bake.D()
			require.GreaterOrEqualf(t, d.Time.Sub(ack), bake, "step %d left %s after its ACK, bake is %s", cur+1, d.Time.Sub(ack), bake)
			cur = d.Step
		}
	}
}

func releaseSpec(name, service, to string) config.Release {
	return config.Release{Metadata: config.Metadata{Name: name}, Spec: config.ReleaseSpec{Service: service, To: to}}
}

// TestProgressiveReleases runs releases end to end on the real parts:
// a healthy one is promoted, a failing one rolls back by itself,
// Prometheus going away holds a release, and a leader failover in the
// middle of one neither repeats nor skips a step.
// requireBakedAfterOutage checks that the time without analysis data did
// not count as bake: after the last analysis error of step 1, at least one
// successful analysis is recorded before the advance (a wall-clock bake,
// long over, would advance on the first one), and the advance says how
// much it baked with data.
func requireBakedAfterOutage(t *testing.T, r *state.Release) {
	t.Helper()
	lastErr, baking := -1, 0
	for i, d := range r.Status.Decisions {
		if d.Step != 0 || d.Action != state.DecisionAnalysis {
			continue
		}
		var v analysis.Verdict
		require.NoError(t, json.Unmarshal(d.Verdict, &v))
		switch v.Phase {
		case analysis.PhaseError:
			lastErr, baking = i, 0
		case analysis.PhaseSuccessful:
			baking++
		}
	}
	require.NotEqual(t, -1, lastErr, "analysis errors are recorded while Prometheus is down")
	require.GreaterOrEqual(t, baking, 1, "the step baked again with data after the outage before it advanced")
	for _, d := range r.Status.Decisions {
		if d.Action == state.DecisionAdvance && d.Step == 1 {
			require.Regexp(t, `step 1 baked [0-9.]+s of 4s with data`, d.Message)
			return
		}
	}
	t.Fatal("no advance out of step 1 recorded")
}

func TestProgressiveReleases(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and server processes")
	}
	e := newReleaseEnv(t, "healthy", "faulty", "promdown", "failover")
	eventually(t, 30*time.Second, "prometheus scrapes the backends", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return e.prom.WaitForSeries(ctx, `requests_total{service="healthy"}`)
	})
	leader, followers := splitLeader(t, e.procs)

	t.Run("healthy release is promoted", func(t *testing.T) {
		_, err := followers[0].client().Apply(ctxT(t), "healthy.yaml", []byte(e.releaseYAML("healthy", "[{weight: 20, bake: 3s}, {weight: 60, bake: 3s}]")))
		require.NoError(t, err)
		l := e.load("healthy", followers[0], 100)
		waitTraffic(t, l, "v1")
		_, err = followers[1].client().Apply(ctxT(t), "r.yaml", []byte("apiVersion: sluice.dev/v1alpha1\nkind: Release\nmetadata: {name: healthy-v2}\nspec: {service: healthy, to: v2}\n"))
		require.NoError(t, err)
		r := e.waitRelease(leader, "healthy-v2", 90*time.Second, "promoted", phaseIs(state.PhasePromoted))
		checkDecisions(t, r)
		waitTraffic(t, l, "v2")
		t.Logf("promoted in %s", r.Status.EndedAt.Sub(r.Status.CreatedAt))
	})

	t.Run("failing release rolls back by itself", func(t *testing.T) {
		require.NoError(t, e.backends["faulty/v2"].SetFaults(demo.Faults{ErrorRatio: 0.2, Latency: time.Millisecond}))
		_, err := leader.client().Apply(ctxT(t), "faulty.yaml", []byte(e.releaseYAML("faulty", "[{weight: 20, bake: 30s}, {weight: 60, bake: 30s}]")))
		require.NoError(t, err)
		l := e.load("faulty", followers[1], 100)
		waitTraffic(t, l, "v1")
		_, err = followers[0].client().StartRelease(ctxT(t), releaseSpec("faulty-v2", "faulty", "v2"))
		require.NoError(t, err)
		r := e.waitRelease(leader, "faulty-v2", 60*time.Second, "rolled back", func(r *state.Release) bool { return r.Status.Phase.Terminal() })
		require.Equal(t, state.PhaseRolledBack, r.Status.Phase, "reason: %s", r.Status.Reason)
		require.Equal(t, 0, r.Status.Step, "rolled back in the first step, never advanced")
		last := requireRolledBackByAnalysis(t, r)
		require.Contains(t, string(last.Verdict), "requests_total", "the recorded verdict carries the queries")
		waitTraffic(t, l, "v1")
		t.Logf("rolled back %s after start: %s", r.Status.EndedAt.Sub(r.Status.StartedAt), r.Status.Reason)
	})

	t.Run("prometheus down holds the release", func(t *testing.T) {
		_, err := leader.client().Apply(ctxT(t), "promdown.yaml", []byte(e.releaseYAML("promdown", "[{weight: 20, bake: 4s}, {weight: 60, bake: 2s}]")))
		require.NoError(t, err)
		l := e.load("promdown", followers[0], 100)
		waitTraffic(t, l, "v1")
		_, err = leader.client().StartRelease(ctxT(t), releaseSpec("promdown-v2", "promdown", "v2"))
		require.NoError(t, err)
		e.waitRelease(leader, "promdown-v2", 30*time.Second, "step 1 acked", func(r *state.Release) bool {
			return r.Status.Phase == state.PhaseProgressing && r.Status.Step == 0 && r.Status.Acked
		})
		e.prom.Stop()
		// Well past the bake, with errors piling up: still step 1.
		r := e.waitRelease(leader, "promdown-v2", 30*time.Second, "several analysis errors", func(r *state.Release) bool {
			return r.Status.Counters.Errors >= 6
		})
		require.Equal(t, state.PhaseProgressing, r.Status.Phase)
		require.Equal(t, 0, r.Status.Step, "never advances without analysis")
		require.True(t, time.Now().After(r.Status.BakeUntil), "the bake is over, yet it holds")
		require.Contains(t, holdOf(r), "held:")
		require.NoError(t, e.prom.Restart())
		r = e.waitRelease(leader, "promdown-v2", 90*time.Second, "promoted after Prometheus returns", phaseIs(state.PhasePromoted))
		checkDecisions(t, r)
		requireBakedAfterOutage(t, r)
		waitTraffic(t, l, "v2")
	})

	t.Run("leader failover mid-release", func(t *testing.T) {
		_, err := leader.client().Apply(ctxT(t), "failover.yaml", []byte(e.releaseYAML("failover", "[{weight: 20, bake: 5s}, {weight: 50, bake: 5s}, {weight: 80, bake: 3s}]")))
		require.NoError(t, err)
		l := e.load("failover", followers[1], 100)
		waitTraffic(t, l, "v1")
		_, err = leader.client().StartRelease(ctxT(t), releaseSpec("failover-v2", "failover", "v2"))
		require.NoError(t, err)
		e.waitRelease(leader, "failover-v2", 60*time.Second, "step 2 baking", func(r *state.Release) bool {
			return r.Status.Step == 1 && r.Status.Acked
		})
		// Under load leadership may have moved already: kill whoever
		// leads now.
		leader, followers = splitLeader(t, e.procs)
		leader.stop(syscall.SIGKILL)
		newLeader := leaderOf(t, followers)
		r := e.waitRelease(newLeader, "failover-v2", 90*time.Second, "promoted after failover", phaseIs(state.PhasePromoted))
		checkDecisions(t, r)
		actors := map[string]bool{}
		for _, d := range r.Status.Decisions {
			if strings.HasPrefix(d.Actor, "controller:") {
				actors[d.Actor] = true
			}
		}
		require.GreaterOrEqual(t, len(actors), 2, "decisions by both leaders: %v", actors)
		waitTraffic(t, l, "v2")
	})
}
