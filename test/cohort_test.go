package test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/xds"

	"github.com/sluicehq/sluice/demo"
	"github.com/sluicehq/sluice/state"
)

// cohortYAML is a grpc service on demo backends and a policy with the
// given cohorts, steps and exposure budget.
func (e *releaseEnv) cohortYAML(svc, cohorts, steps, exposure string) string {
	v1, v2 := e.backends[svc+"/v1"], e.backends[svc+"/v2"]
	return fmt.Sprintf(`apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: %[1]s}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: %[2]q, region: eu-west}]}
    - {name: v2, endpoints: [{address: %[3]q, region: eu-west}]}
---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: %[1]s}
spec:
  services: [%[1]s]
`+demoSLO+`    baseline: {window: 10s, minRequests: 10}
  cohorts: %[4]s
  steps: %[5]s
  exposure: %[6]s
  ackTimeout: 10s
`, svc, v1.GRPCAddr(), v2.GRPCAddr(), cohorts, steps, exposure)
}

// clientLoad is a grpc-go xDS client at a locality with request headers.
func (e *releaseEnv) clientLoad(svc string, p *proc, id, region string, headers map[string]string, rps float64) *demo.Load {
	e.t.Helper()
	boot, err := demo.Bootstrap(demo.Node{ID: id, Cluster: "e2e", Region: region, Zone: region + "-1"}, p.xds)
	require.NoError(e.t, err)
	res, err := xds.NewXDSResolverWithConfigForTesting(boot)
	require.NoError(e.t, err)
	l, err := demo.NewLoad(demo.LoadConfig{Target: svc, RPS: rps, Headers: headers, DialOptions: []grpc.DialOption{grpc.WithResolvers(res)}})
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Run(ctx); close(done) }()
	e.t.Cleanup(func() { cancel(); <-done; l.Close() })
	return l
}

// neverReaches sends n RPCs' worth of time and asserts none reached v.
func neverReaches(t *testing.T, l *demo.Load, v string, n uint64) {
	t.Helper()
	before := l.Counts()
	eventually(t, 30*time.Second, fmt.Sprintf("%d RPCs observed", n), func() error {
		if got := l.Counts().RPCs() - before.RPCs(); got < n {
			return fmt.Errorf("%d RPCs so far", got)
		}
		return nil
	})
	d := l.Counts().Sub(before)
	require.Zerof(t, d.ByVersion[v], "%d of %d RPCs reached %s: %v", d.ByVersion[v], d.RPCs(), v, d.ByVersion)
	require.Zero(t, d.Errors, "errors: %v", d.ByCode)
}

// TestCohorts runs cohort stages end to end with grpc-go's xDS client:
// tenant and region stages route only their cohort to the new version, a
// failing canary in a cohort stage rolls back and every cohort route
// disappears, and the exposure budget holds a step until approved.
func TestCohorts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and server processes")
	}
	e := newReleaseEnv(t, "tenanted", "regional", "cohortfail", "budget", "measured", "headered")
	leader, followers := splitLeader(t, e.procs)
	other := followers[0]
	eventually(t, 30*time.Second, "prometheus scrapes the backends", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return e.prom.WaitForSeries(ctx, `requests_total{service="cohortfail"}`)
	})

	t.Run("tenant stage", func(t *testing.T) {
		_, err := leader.client().Apply(ctxT(t), "t.yaml", []byte(e.cohortYAML("tenanted",
			"{stages: [{name: beta, tenants: [beta]}]}", "[{cohort: beta, bake: 10m}, {weight: 50}]", "{}")))
		require.NoError(t, err)
		beta := e.clientLoad("tenanted", other, "beta-1", "eu-west", map[string]string{"x-tenant-id": "beta"}, 50)
		acme := e.clientLoad("tenanted", leader, "acme-1", "eu-west", map[string]string{"x-tenant-id": "acme"}, 50)
		anon := e.clientLoad("tenanted", other, "anon-1", "us-east", nil, 50)
		waitTraffic(t, beta, "v1")
		_, err = leader.client().StartRelease(ctxT(t), releaseSpec("tenanted-v2", "tenanted", "v2"))
		require.NoError(t, err)
		e.waitRelease(leader, "tenanted-v2", 30*time.Second, "tenant stage applied", func(r *state.Release) bool { return r.Status.Acked })
		waitTraffic(t, beta, "v2")
		neverReaches(t, acme, "v2", 200)
		neverReaches(t, anon, "v2", 200)
		_, err = leader.client().ReleaseAction(ctxT(t), "tenanted-v2", "abort", "test done")
		require.NoError(t, err)
		waitTraffic(t, beta, "v1")
	})

	t.Run("region stage", func(t *testing.T) {
		_, err := leader.client().Apply(ctxT(t), "r.yaml", []byte(e.cohortYAML("regional",
			"{stages: [{name: eu, regions: [eu-west]}]}", "[{cohort: eu, bake: 10m}, {weight: 50}]", "{}")))
		require.NoError(t, err)
		eu := e.clientLoad("regional", other, "eu-1", "eu-west", nil, 50)
		us := e.clientLoad("regional", other, "us-1", "us-east", nil, 50)
		waitTraffic(t, eu, "v1")
		_, err = leader.client().StartRelease(ctxT(t), releaseSpec("regional-v2", "regional", "v2"))
		require.NoError(t, err)
		e.waitRelease(leader, "regional-v2", 30*time.Second, "region stage applied", func(r *state.Release) bool { return r.Status.Acked })
		waitTraffic(t, eu, "v2")
		neverReaches(t, us, "v2", 300)
		r, err := leader.client().ReleaseAction(ctxT(t), "regional-v2", "abort", "test done")
		require.NoError(t, err)
		require.Equal(t, state.PhaseAborted, r.Status.Phase)
		waitTraffic(t, eu, "v1")
	})

	t.Run("header stage: prefix, regex and present matchers", func(t *testing.T) {
		_, err := leader.client().Apply(ctxT(t), "h.yaml", []byte(e.cohortYAML("headered",
			`{stages: [{name: testers, headers: [{name: x-user, prefix: "qa-"}, {name: x-team, regex: "^(sre|platform)$"}, {name: x-debug, present: true}]}]}`,
			"[{cohort: testers, bake: 10m}, {weight: 50}]", "{}")))
		require.NoError(t, err)
		cohort := map[string]map[string]string{
			"qa-user":  {"x-user": "qa-17"},
			"sre-team": {"x-team": "sre"},
			"debugger": {"x-debug": "1"},
		}
		others := map[string]map[string]string{
			"customer":   {"x-user": "cust-17"},
			"dev-team":   {"x-team": "sres"},
			"no-headers": nil,
		}
		in, out := map[string]*demo.Load{}, map[string]*demo.Load{}
		for id, h := range cohort {
			in[id] = e.clientLoad("headered", other, "h-"+id, "eu-west", h, 30)
		}
		for id, h := range others {
			out[id] = e.clientLoad("headered", leader, "h-"+id, "eu-west", h, 30)
		}
		for _, l := range in {
			waitTraffic(t, l, "v1")
		}
		_, err = leader.client().StartRelease(ctxT(t), releaseSpec("headered-v2", "headered", "v2"))
		require.NoError(t, err)
		e.waitRelease(leader, "headered-v2", 30*time.Second, "header stage applied", func(r *state.Release) bool { return r.Status.Acked })
		for id, l := range in {
			t.Logf("cohort client %s", id)
			waitTraffic(t, l, "v2")
		}
		for _, l := range out {
			neverReaches(t, l, "v2", 90)
		}
		_, err = leader.client().ReleaseAction(ctxT(t), "headered-v2", "abort", "test done")
		require.NoError(t, err)
	})

	t.Run("failing canary in a cohort stage rolls back everywhere", func(t *testing.T) {
		require.NoError(t, e.backends["cohortfail/v2"].SetFaults(demo.Faults{ErrorRatio: 0.3, Latency: time.Millisecond}))
		_, err := leader.client().Apply(ctxT(t), "f.yaml", []byte(e.cohortYAML("cohortfail",
			"{stages: [{name: beta-eu, tenants: [beta], regions: [eu-west]}]}", "[{cohort: beta-eu, bake: 10m}, {weight: 50}]", "{}")))
		require.NoError(t, err)
		beta := e.clientLoad("cohortfail", other, "fbeta-1", "eu-west", map[string]string{"x-tenant-id": "beta"}, 60)
		us := e.clientLoad("cohortfail", leader, "fus-1", "us-east", map[string]string{"x-tenant-id": "beta"}, 20)
		waitTraffic(t, beta, "v1")
		waitTraffic(t, us, "v1")
		_, err = leader.client().StartRelease(ctxT(t), releaseSpec("cohortfail-v2", "cohortfail", "v2"))
		require.NoError(t, err)
		r := e.waitRelease(leader, "cohortfail-v2", 60*time.Second, "rolled back", func(r *state.Release) bool { return r.Status.Phase.Terminal() })
		requireRolledBackByAnalysis(t, r)
		waitTraffic(t, beta, "v1")
		// No group on any node is served a cohort route any more.
		for _, p := range []*proc{leader, other} {
			eventually(t, 10*time.Second, p.id+" serves no cohort route", func() error {
				st, err := p.client().XDSStatus(context.Background())
				if err != nil {
					return err
				}
				if len(st.Groups) == 0 {
					return fmt.Errorf("no groups on %s", p.id)
				}
				for _, g := range st.Groups {
					cfg, err := p.client().XDSConfig(context.Background(), g.Key)
					if err != nil {
						return err
					}
					for _, rc := range cfg.Resources["type.googleapis.com/envoy.config.route.v3.RouteConfiguration"] {
						if strings.Contains(string(rc), "cohort-") {
							return fmt.Errorf("group %s still has a cohort route: %s", g.Key, rc)
						}
					}
				}
				return nil
			})
		}
	})

	t.Run("exposure estimated from Prometheus traffic by tenant", func(t *testing.T) {
		_, err := leader.client().Apply(ctxT(t), "m.yaml", []byte(e.cohortYAML("measured",
			"{stages: [{name: beta, tenants: [beta]}]}", "[{cohort: beta, bake: 2s}, {weight: 50, bake: 2s}]",
			"{maxTrafficShare: 10, window: 1m}")))
		require.NoError(t, err)
		beta := e.clientLoad("measured", other, "m-beta", "eu-west", map[string]string{"x-tenant-id": "beta"}, 25)
		e.clientLoad("measured", other, "m-acme", "eu-west", map[string]string{"x-tenant-id": "acme"}, 75)
		waitTraffic(t, beta, "v1")
		// Wait until Prometheus has both tenants' traffic over the window.
		eventually(t, 60*time.Second, "traffic by tenant in Prometheus", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			for _, tenant := range []string{"beta", "acme"} {
				if err := e.prom.WaitForSeries(ctx, `sum by (tenant) (rate(requests_total{service="measured",tenant="`+tenant+`"}[1m])) > 0`); err != nil {
					return err
				}
			}
			return nil
		})
		_, err = leader.client().StartRelease(ctxT(t), releaseSpec("measured-v2", "measured", "v2"))
		require.NoError(t, err)
		r := e.waitRelease(leader, "measured-v2", 60*time.Second, "held: beta's measured share exceeds the budget", func(r *state.Release) bool {
			return r.HeldFor(state.HoldExposureBudget)
		})
		ex := r.Status.Exposure
		require.Equal(t, state.ExposurePrometheus, ex.Source, ex.Detail)
		require.Equal(t, 0, ex.Step)
		require.InDelta(t, 25, ex.Share, 10, "beta sends about a quarter of the traffic: %s", ex.Detail)
		require.Equal(t, state.PhasePending, r.Status.Phase, "the first step never started")
		_, err = leader.client().Approve(ctxT(t), "measured-v2", 1, "beta is an internal tenant")
		require.NoError(t, err)
		e.waitRelease(leader, "measured-v2", 30*time.Second, "started after approval", func(r *state.Release) bool {
			return r.Status.Phase == state.PhaseProgressing
		})
		waitTraffic(t, beta, "v2")
		_, err = leader.client().ReleaseAction(ctxT(t), "measured-v2", "abort", "test done")
		require.NoError(t, err)
	})

	t.Run("exposure budget holds a step until approved", func(t *testing.T) {
		_, err := leader.client().Apply(ctxT(t), "b.yaml", []byte(e.cohortYAML("budget",
			"{stages: [{name: beta, tenants: [beta], expectedShare: 2}]}", "[{cohort: beta, bake: 2s}, {weight: 10, bake: 2s}, {weight: 50, bake: 2s}]",
			"{maxTrafficShare: 20}")))
		require.NoError(t, err)
		l := e.clientLoad("budget", other, "budget-1", "eu-west", map[string]string{"x-tenant-id": "beta"}, 60)
		e.clientLoad("budget", other, "budget-2", "eu-west", nil, 60)
		waitTraffic(t, l, "v1")
		_, err = leader.client().StartRelease(ctxT(t), releaseSpec("budget-v2", "budget", "v2"))
		require.NoError(t, err)
		r := e.waitRelease(leader, "budget-v2", 60*time.Second, "held by the exposure budget", func(r *state.Release) bool {
			return r.HeldFor(state.HoldExposureBudget)
		})
		require.Equal(t, 1, r.Status.Step, "steps 1 (beta, ~2%) and 2 (10%) are within budget")
		require.Equal(t, "exposure budget: step 3 would exceed it: ~50% of traffic > budget 20%; a person must approve: sluice release approve budget-v2", holdOf(r))
		require.Equal(t, 2, r.Status.Exposure.Step)
		require.Equal(t, 50.0, r.Status.Exposure.Share)
		require.True(t, r.Status.Limited, "started with a tenant cohort")
		// Still held after more analyses: it never advances on its own.
		r = e.waitRelease(leader, "budget-v2", 30*time.Second, "more successful analyses while held", func(r *state.Release) bool {
			return r.Status.Counters.Successes >= 5
		})
		require.Equal(t, 1, r.Status.Step)
		a, err := other.client().Approve(ctxT(t), "budget-v2", 0, "change window agreed")
		require.NoError(t, err)
		require.Equal(t, 2, a.Status.Approvals[0].Step)
		require.Equal(t, "e2e", a.Status.Approvals[0].Actor)
		e.waitRelease(leader, "budget-v2", 60*time.Second, "promoted after approval", phaseIs(state.PhasePromoted))
	})
}
