package test

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/demo"
	"github.com/sluicehq/sluice/state"
)

// trainYAML defines services x-a, x-b, x-c (c depends on b, b on a) on
// demo backends, one fast policy for the three, and a train of them whose
// members must pass a health query before they get traffic.
func (e *releaseEnv) trainYAML(prefix, bake string) string {
	var b strings.Builder
	deps := map[string]string{"a": "", "b": prefix + "-a", "c": prefix + "-b"}
	for _, m := range []string{"a", "b", "c"} {
		svc := prefix + "-" + m
		fmt.Fprintf(&b, `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: %s}
spec:
  protocol: grpc
  dependsOn: [%s]
  versions:
    - {name: v1, endpoints: [{address: %q}]}
    - {name: v2, endpoints: [{address: %q}]}
---
`, svc, deps[m], e.backends[svc+"/v1"].GRPCAddr(), e.backends[svc+"/v2"].GRPCAddr())
	}
	fmt.Fprintf(&b, `apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: %[1]s}
spec:
  services: [%[1]s-a, %[1]s-b, %[1]s-c]
`+demoSLO+`    baseline: {window: 10s, minRequests: 10}
  steps: [{weight: 50, bake: %[2]s}]
  ackTimeout: 10s
`, prefix, bake)
	return b.String()
}

func trainDoc(prefix string) string {
	hc := `healthCheck: {query: 'count(requests_total{service="{{service}}",version="{{version}}"})', retries: 5, interval: 1s, timeout: 2s}`
	// Members are listed out of order on purpose: the order comes from
	// dependsOn.
	return fmt.Sprintf(`apiVersion: sluice.dev/v1alpha1
kind: ReleaseTrain
metadata: {name: %[1]s}
spec:
  members:
    - {service: %[1]s-c, to: v2, %[2]s}
    - {service: %[1]s-a, to: v2, %[2]s}
    - {service: %[1]s-b, to: v2, %[2]s}
`, prefix, hc)
}

func (e *releaseEnv) waitTrain(p *proc, name string, timeout time.Duration, what string, cond func(*api.TrainView) bool) *api.TrainView {
	e.t.Helper()
	var last *api.TrainView
	eventually(e.t, timeout, "train "+name+": "+what, func() error {
		t, err := p.client().Train(context.Background(), name)
		if err != nil {
			return err
		}
		last = t
		if !cond(t) {
			var ms []string
			for _, m := range t.Status.Members {
				r := t.Releases[m.Name]
				ms = append(ms, fmt.Sprintf("%s=%s/step %d", m.Name, r.Status.Phase, r.Status.Step))
			}
			return fmt.Errorf("train %s; %s; reason %q", t.Status.Phase, strings.Join(ms, " "), t.Status.Reason)
		}
		return nil
	})
	return last
}

// decisionTime returns when a release first took an action.
func decisionTime(r *state.Release, a state.DecisionKind) time.Time {
	for _, d := range r.Status.Decisions {
		if d.Action == a {
			return d.Time
		}
	}
	return time.Time{}
}

// checkTrainOrder asserts each member started only after the member it
// depends on was promoted.
func checkTrainOrder(t *testing.T, tv *api.TrainView, prefix string) {
	t.Helper()
	a, b, c := tv.Releases[prefix+"-a"], tv.Releases[prefix+"-b"], tv.Releases[prefix+"-c"]
	require.False(t, decisionTime(b, state.DecisionClear).Before(a.Status.EndedAt), "b cleared before a was promoted")
	require.False(t, decisionTime(c, state.DecisionClear).Before(b.Status.EndedAt), "c cleared before b was promoted")
	for _, r := range []*state.Release{a, b, c} {
		checkDecisions(t, r)
	}
}

// TestReleaseTrains runs trains a -> b -> c end to end: a healthy train
// completes in order; with errors in b's new version, b and then a roll
// back, c never starts and every client ends on the old versions; a
// leader killed mid-train leaves it to finish correctly.
func TestReleaseTrains(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and server processes")
	}
	var services []string
	for _, p := range []string{"ok", "bad", "fo"} {
		for _, m := range []string{"a", "b", "c"} {
			services = append(services, p+"-"+m)
		}
	}
	e := newReleaseEnv(t, services...)
	leader, followers := splitLeader(t, e.procs)
	eventually(t, 30*time.Second, "prometheus scrapes the backends", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return e.prom.WaitForSeries(ctx, `requests_total{service="fo-c"}`)
	})
	loads := func(prefix string, p *proc) map[string]*demo.Load {
		out := map[string]*demo.Load{}
		for _, m := range []string{"a", "b", "c"} {
			out[m] = e.load(prefix+"-"+m, p, 50)
		}
		for _, l := range out {
			waitTraffic(t, l, "v1")
		}
		return out
	}

	t.Run("healthy train completes in order", func(t *testing.T) {
		_, err := leader.client().Apply(ctxT(t), "ok.yaml", []byte(e.trainYAML("ok", "3s")))
		require.NoError(t, err)
		ls := loads("ok", followers[0])
		_, err = followers[1].client().Apply(ctxT(t), "train.yaml", []byte(trainDoc("ok")))
		require.NoError(t, err)
		tv := e.waitTrain(leader, "ok", 120*time.Second, "promoted", func(t *api.TrainView) bool { return t.Status.Phase.Terminal() })
		require.Equal(t, state.TrainPromoted, tv.Status.Phase, tv.Status.Reason)
		require.Equal(t, [][]string{{"ok-a"}, {"ok-b"}, {"ok-c"}}, tv.Status.Levels)
		checkTrainOrder(t, tv, "ok")
		for _, m := range tv.Status.Members {
			require.True(t, m.Health.Passed, m.Name)
		}
		for _, l := range ls {
			waitTraffic(t, l, "v2")
		}
	})

	t.Run("a failing member rolls the train back", func(t *testing.T) {
		require.NoError(t, e.backends["bad-b/v2"].SetFaults(demo.Faults{ErrorRatio: 0.3, Latency: time.Millisecond}))
		_, err := leader.client().Apply(ctxT(t), "bad.yaml", []byte(e.trainYAML("bad", "3s")))
		require.NoError(t, err)
		ls := loads("bad", followers[1])
		_, err = leader.client().Apply(ctxT(t), "train.yaml", []byte(trainDoc("bad")))
		require.NoError(t, err)
		tv := e.waitTrain(leader, "bad", 120*time.Second, "ended", func(t *api.TrainView) bool { return t.Status.Phase.Terminal() })
		require.Equal(t, state.TrainRolledBack, tv.Status.Phase)
		require.Equal(t, "bad-b", tv.Status.FailedMember)
		requireRolledBackByAnalysis(t, tv.Releases["bad-b"])
		require.Equal(t, []string{"bad-c", "bad-a"}, tv.Status.RollbackOrder, "c cancelled, then a rolled back")
		require.Equal(t, state.PhaseRolledBack, tv.Releases["bad-b"].Status.Phase)
		require.Equal(t, state.PhaseRolledBack, tv.Releases["bad-a"].Status.Phase)
		require.Equal(t, state.PhaseAborted, tv.Releases["bad-c"].Status.Phase)
		require.Equal(t, -1, tv.Releases["bad-c"].Status.Step, "c never started")
		require.True(t, tv.Releases["bad-a"].Status.EndedAt.After(tv.Releases["bad-b"].Status.EndedAt), "b first, then a")
		for _, l := range ls {
			waitTraffic(t, l, "v1")
		}
	})

	t.Run("leader failover mid-train", func(t *testing.T) {
		_, err := leader.client().Apply(ctxT(t), "fo.yaml", []byte(e.trainYAML("fo", "6s")))
		require.NoError(t, err)
		ls := loads("fo", followers[0])
		_, err = leader.client().Apply(ctxT(t), "train.yaml", []byte(trainDoc("fo")))
		require.NoError(t, err)
		e.waitTrain(leader, "fo", 90*time.Second, "b moving traffic", func(t *api.TrainView) bool {
			return t.Releases["fo-b"].Status.Phase == state.PhaseProgressing
		})
		leader.stop(syscall.SIGKILL)
		newLeader := leaderOf(t, followers)
		tv := e.waitTrain(newLeader, "fo", 120*time.Second, "ended", func(t *api.TrainView) bool { return t.Status.Phase.Terminal() })
		require.Equal(t, state.TrainPromoted, tv.Status.Phase, tv.Status.Reason)
		checkTrainOrder(t, tv, "fo")
		for _, l := range ls {
			waitTraffic(t, l, "v2")
		}
	})
}
