package test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis/promtest"
	"github.com/sluicehq/sluice/state"
)

// serverDefaultRaft undoes the harness's Raft timeouts (flags given later
// win; zero means the server's defaults), so a cluster runs exactly what
// `sluice server` runs without flags.
var serverDefaultRaft = []string{"--raft-heartbeat-timeout", "0s", "--raft-election-timeout", "0s", "--raft-leader-lease-timeout", "0s"}

// failoverPolicy analyses every 100 ms (the shortest interval) against a
// Prometheus that has no series for the service, so the leader records an
// Inconclusive analysis as a decision about ten times a second for as long
// as the benchmark runs: whenever the leader dies, a decision is due
// within 100 ms, and the first one in the release history made by another
// node is the new leader's first decision.
const failoverPolicy = `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: %[1]s}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: "127.0.0.1:1", region: r1}]}
    - {name: v2, endpoints: [{address: "127.0.0.1:2", region: r1}]}
---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: %[1]s}
spec:
  services: [%[1]s]
  slo:
    objective: 99
    errorRatioQuery: 'sum(rate(requests_total{service="{{service}}",version="{{version}}",code!="OK"}[{{window}}])) / sum(rate(requests_total{service="{{service}}",version="{{version}}"}[{{window}}]))'
    requestsQuery: 'sum(increase(requests_total{service="{{service}}",version="{{version}}"}[{{window}}]))'
  analysis:
    interval: 100ms
    burnRules: [{name: fast, longWindow: 10s, shortWindow: 3s, burnRate: 10}]
    inconclusiveLimit: 10000
    errorLimit: 10000
  steps: [{weight: 10, bake: 1h}]
`

// BenchmarkFailover kills the leader of a 3-node cluster of `sluice
// server` processes (server-default Raft timeouts, real Prometheus) while
// a release is being analysed, b.N times per variant, and measures from
// the signal to the first decision the new leader records in the release
// history (the decision's own timestamp, taken by the new leader's clock
// on the same host). After each kill the old leader is restarted and
// caught up before the next one. Run it with
//
//	make bench-failover    (go test -run '^$' -bench Failover -benchtime 20x ./test/)
//
// kill9 is `kill -9`: the others notice the silence (heartbeat timeout)
// and elect. sigterm is a graceful stop: the leader hands leadership over
// before it exits. ns/op is the wall time of a whole iteration (kill,
// failover, restart, catch-up) and means nothing here; the metrics are
// p50/p95/p99/max over the iterations of the run.
func BenchmarkFailover(b *testing.B) {
	prom := promtest.Start(b, "127.0.0.1:1")
	procs := startCluster(b, 3, append([]string{"--prometheus-url", prom.URL(), "--controller-tick", "100ms"}, serverDefaultRaft...)...)
	for _, v := range []struct {
		name string
		sig  syscall.Signal
	}{{"kill9", syscall.SIGKILL}, {"sigterm", syscall.SIGTERM}} {
		b.Run(v.name, func(b *testing.B) {
			rel := startAnalysedRelease(b, procs, fmt.Sprintf("fo-%s-%d", v.name, b.N))
			var got []time.Duration
			var split failoverSplit
			for range b.N {
				got = append(got, failOnce(b, procs, rel, v.sig, &split))
			}
			reportFailover(b, "signal to first decision", got)
			b.Logf("split of %d: signal to leadership, from the new leader's log: %s", len(split.elected), summary(split.elected))
			b.Logf("split of %d: leadership to first decision: %s", len(split.decided), summary(split.decided))
			b.Logf("of %d: first decision after it was due (the later of the signal and the analysis the old leader scheduled): %s", len(split.late), summary(split.late))
		})
	}
}

// startAnalysedRelease applies failoverPolicy for a new service and starts
// its release, and returns the release's name once it is being analysed.
func startAnalysedRelease(b *testing.B, procs []*proc, svc string) string {
	b.Helper()
	leader := leaderOf(b, procs)
	_, err := leader.client().Apply(ctxT(b), svc+".yaml", []byte(fmt.Sprintf(failoverPolicy, svc)))
	require.NoError(b, err)
	rel := svc + "-v2"
	_, err = leader.client().StartRelease(ctxT(b), releaseSpec(rel, svc, "v2"))
	require.NoError(b, err)
	eventually(b, 30*time.Second, rel+" analysed", func() error {
		r, err := leaderOf(b, procs).client().Release(context.Background(), rel)
		if err != nil {
			return err
		}
		if r.Status.Counters.Inconclusive < 3 {
			return fmt.Errorf("phase %s, %d inconclusive analyses", r.Status.Phase, r.Status.Counters.Inconclusive)
		}
		return nil
	})
	return rel
}

// failOnce stops the leader with sig, returns the time from the signal to
// the new leader's first decision on rel, then restarts the old leader and
// waits until the cluster is whole again.
func failOnce(b *testing.B, procs []*proc, rel string, sig syscall.Signal, split *failoverSplit) time.Duration {
	b.Helper()
	leader, followers := splitLeader(b, procs)
	marks := map[*proc]int{}
	for _, p := range followers {
		marks[p] = p.logs.len()
	}
	start := time.Now()
	leader.stop(sig)
	var first state.Decision
	eventually(b, 30*time.Second, "a decision by a new leader", func() error {
		for _, p := range followers {
			r, err := p.client().Release(context.Background(), rel)
			if err != nil {
				continue
			}
			if d, ok := firstDecisionAfter(r, start, "controller:"+leader.id); ok {
				first = d
				return nil
			}
		}
		return fmt.Errorf("no decision by another controller since %s", start.Format(time.RFC3339Nano))
	})
	took := first.Time.Sub(start)
	split.late = append(split.late, first.Time.Sub(dueAfter(first, start, rel, followers)))
	for _, p := range followers {
		if "controller:"+p.id == first.Actor {
			if at, ok := electedAt(p.logs.since(marks[p])); ok {
				split.elected = append(split.elected, at.Sub(start))
				split.decided = append(split.decided, first.Time.Sub(at))
			}
		}
	}
	b.StopTimer()
	leader.start()
	waitReady(b, leader)
	waitMembers(b, procs, 3)
	eventually(b, 30*time.Second, leader.id+" caught up", func() error {
		r, err := leader.client().Release(context.Background(), rel)
		if err != nil {
			return err
		}
		if _, ok := firstDecisionAfter(r, first.Time, ""); !ok {
			return fmt.Errorf("%s has no decision after %s yet", leader.id, first.Time.Format(time.RFC3339Nano))
		}
		return nil
	})
	b.StartTimer()
	return took
}

// firstDecisionAfter is the first controller decision on r after t by an
// actor other than not.
func firstDecisionAfter(r *state.Release, t time.Time, not string) (state.Decision, bool) {
	for _, d := range r.Status.Decisions {
		if d.Time.After(t) && strings.HasPrefix(d.Actor, "controller:") && d.Actor != not {
			return d, true
		}
	}
	return state.Decision{}, false
}

// failoverSplit divides each failover at the moment the new leader logged
// its leadership: detection and election before, the controller's first
// pass (Barrier, analysis, proposal, commit) after.
type failoverSplit struct {
	elected, decided, late []time.Duration
}

// failoverInterval is failoverPolicy's analysis interval.
const failoverInterval = 100 * time.Millisecond

// dueAfter is when the decision first was due: one analysis interval
// after the decision before it, or start if that was earlier.
func dueAfter(first state.Decision, start time.Time, rel string, procs []*proc) time.Time {
	for _, p := range procs {
		r, err := p.client().Release(context.Background(), rel)
		if err != nil {
			continue
		}
		for i, d := range r.Status.Decisions {
			if d.Seq == first.Seq && i > 0 {
				if due := r.Status.Decisions[i-1].Time.Add(failoverInterval); due.After(start) {
					return due
				}
				return start
			}
		}
	}
	return start
}

// electedAt is the time of the "leadership changed ... leader=true" line
// in a node's text log.
func electedAt(lines []string) (time.Time, bool) {
	for _, l := range lines {
		if !strings.Contains(l, `msg="leadership changed"`) || !strings.Contains(l, "leader=true") {
			continue
		}
		ts, _, _ := strings.Cut(strings.TrimPrefix(l, "time="), " ")
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// percentile is the p-quantile of sorted s (nearest rank; with 20 samples
// p99 is the maximum).
func percentile(s []time.Duration, p float64) time.Duration {
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func summary(got []time.Duration) string {
	if len(got) == 0 {
		return "no samples"
	}
	s := slices.Clone(got)
	slices.Sort(s)
	return fmt.Sprintf("p50 %s p95 %s p99 %s max %s", percentile(s, 0.5), percentile(s, 0.95), percentile(s, 0.99), s[len(s)-1])
}

// reportFailover reports the percentiles of got and logs every sample.
func reportFailover(b *testing.B, what string, got []time.Duration) {
	s := slices.Clone(got)
	slices.Sort(s)
	b.ReportMetric(percentile(s, 0.50).Seconds(), "p50-s")
	b.ReportMetric(percentile(s, 0.95).Seconds(), "p95-s")
	b.ReportMetric(percentile(s, 0.99).Seconds(), "p99-s")
	b.ReportMetric(s[len(s)-1].Seconds(), "max-s")
	b.Logf("%d failovers, %s: %s; samples %v", len(s), what, summary(got), got)
}
