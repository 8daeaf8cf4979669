package test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/demo"
	"github.com/sluicehq/sluice/state"
)

// httpSLO is demoSLO for HTTP traffic: errors are 5xx answers.
const httpSLO = `  slo:
    objective: 99
    errorRatioQuery: 'sum(rate(requests_total{service="{{service}}",version="{{version}}",protocol="http",code=~"5.."}[{{window}}])) / sum(rate(requests_total{service="{{service}}",version="{{version}}",protocol="http"}[{{window}}]))'
    requestsQuery: 'sum(increase(requests_total{service="{{service}}",version="{{version}}",protocol="http"}[{{window}}]))'
  analysis:
    interval: 1s
    burnRules: [{name: fast, longWindow: 10s, shortWindow: 3s, burnRate: 10}]
`

// envoyEnv is a releaseEnv with two real Envoys in front of it: one in
// region eu-west and an edge proxy in region edge, which serves requests
// from many regions.
type envoyEnv struct {
	*releaseEnv
	eu, edge *fleetEnvoy
	ports    map[string]int // gateway port of each service
}

func newEnvoyEnv(t *testing.T, services ...string) *envoyEnv {
	e := &envoyEnv{releaseEnv: newReleaseEnv(t, services...), ports: map[string]int{}}
	for _, s := range services {
		e.ports[s] = freePortNumber(t)
	}
	e.eu = startEnvoy(t, e.procs, envoyNode{id: "eu-1", cluster: "web", region: "eu-west", zone: "eu-west-1a", gateway: "127.0.0.2"})
	e.edge = startEnvoy(t, e.procs, envoyNode{id: "edge-1", cluster: "web", region: "edge", zone: "pop-1", gateway: "127.0.0.3"})
	return e
}

// yaml is an http service on its demo backends and its policy; policy
// holds the policy's cohorts (optional) and steps lines.
func (e *envoyEnv) yaml(svc, policy string) string {
	return e.serviceYAML(svc) + fmt.Sprintf(`---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: %[1]s}
spec:
  services: [%[1]s]
`+httpSLO+`    baseline: {window: 10s, minRequests: 10}
    inconclusiveLimit: 30
    errorLimit: 60
  ackTimeout: 10s
%[2]s`, svc, policy)
}

// serviceYAML is the http service svc on its port and demo backends, all
// traffic on v1.
func (e *envoyEnv) serviceYAML(svc string) string {
	return httpServiceYAML(svc, e.ports[svc], 100, 0, e.backends)
}

func (e *envoyEnv) apply(t *testing.T, svc, policy string) {
	t.Helper()
	_, err := e.procs[0].client().Apply(ctxT(t), svc+".yaml", []byte(e.yaml(svc, policy)))
	require.NoError(t, err)
}

// through is a request source through an Envoy to svc with headers.
func (e *envoyEnv) through(t *testing.T, px *fleetEnvoy, svc string, headers map[string]string) *demo.Load {
	return px.httpLoad(t, e.ports[svc], svc+".example.com", headers, 0)
}

// startAndApply starts a release and waits until its first step is
// applied (every proxy group ACKed it).
func (e *envoyEnv) startAndApply(t *testing.T, svc string) string {
	t.Helper()
	name := svc + "-v2"
	_, err := e.procs[1].client().StartRelease(ctxT(t), releaseSpec(name, svc, "v2"))
	require.NoError(t, err)
	e.waitRelease(e.procs[0], name, 30*time.Second, "first step applied", func(r *state.Release) bool { return r.Status.Acked })
	return name
}

func (e *envoyEnv) abort(t *testing.T, name string) {
	t.Helper()
	_, err := e.procs[0].client().ReleaseAction(ctxT(t), name, "abort", "test done")
	require.NoError(t, err)
}

// lands asserts that 20 requests with headers through px all reach want.
func (e *envoyEnv) lands(t *testing.T, px *fleetEnvoy, svc string, headers map[string]string, want string) {
	t.Helper()
	d := send(t, e.through(t, px, svc, headers), 20)
	require.Equalf(t, uint64(20), d.ByVersion[want], "%s with %v: answered by %v, failed %v", px.node.id, headers, d.ByVersion, d.ByCode)
}

// upstreamDelta sends n requests and returns how many Envoy itself
// counted per cluster meanwhile (cluster.<name>.upstream_rq_total).
func upstreamDelta(t *testing.T, px *fleetEnvoy, l *demo.Load, n int) map[string]uint64 {
	t.Helper()
	before, err := px.Admin().UpstreamRequests(ctxT(t))
	require.NoError(t, err)
	d := send(t, l, n)
	require.Zero(t, d.Errors, "failures: %v", d.ByCode)
	out := map[string]uint64{}
	eventually(t, 20*time.Second, "Envoy counted the requests", func() error {
		after, err := px.Admin().UpstreamRequests(context.Background())
		if err != nil {
			return err
		}
		var total uint64
		for c, v := range after {
			out[c] = v - before[c]
			total += out[c]
		}
		if total < uint64(n) {
			return fmt.Errorf("counted %d of %d", total, n)
		}
		return nil
	})
	return out
}

// TestEnvoyReleases runs releases of HTTP services end to end through
// real Envoys, with real Prometheus judging the backends' own metrics.
func TestEnvoyReleases(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus, server and Envoy processes")
	}
	e := newEnvoyEnv(t, "healthy", "broken", "headered", "tenanted", "regional", "sticky", "guarded", "bound")
	eventually(t, 30*time.Second, "prometheus scrapes the backends", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return e.prom.WaitForSeries(ctx, `requests_total{service="broken",protocol="http"}`)
	})

	t.Run("healthy release promoted", func(t *testing.T) {
		e.apply(t, "healthy", "  steps: [{weight: 20, bake: 3s}, {weight: 60, bake: 3s}]\n")
		l := e.eu.httpLoad(t, e.ports["healthy"], "healthy.example.com", nil, 100)
		waitTraffic(t, l, "v1")
		_, err := e.procs[2].client().StartRelease(ctxT(t), releaseSpec("healthy-v2", "healthy", "v2"))
		require.NoError(t, err)
		r := e.waitRelease(e.procs[0], "healthy-v2", 90*time.Second, "promoted", phaseIs(state.PhasePromoted))
		checkDecisions(t, r)
		waitTraffic(t, l, "v2")
		d := upstreamDelta(t, e.eu, e.through(t, e.eu, "healthy", nil), 200)
		require.Zero(t, d["healthy/v1"], "Envoy sends nothing to v1 after promotion: %v", d)
		require.GreaterOrEqual(t, d["healthy/v2"], uint64(200), "%v", d)
	})

	t.Run("bad canary rolled back by itself", func(t *testing.T) {
		require.NoError(t, e.backends["broken/v2"].SetFaults(demo.Faults{ErrorRatio: 0.3, Latency: time.Millisecond}))
		e.apply(t, "broken", "  steps: [{weight: 20, bake: 30s}, {weight: 60, bake: 30s}]\n")
		l := e.eu.httpLoad(t, e.ports["broken"], "broken.example.com", nil, 100)
		waitTraffic(t, l, "v1")
		_, err := e.procs[1].client().StartRelease(ctxT(t), releaseSpec("broken-v2", "broken", "v2"))
		require.NoError(t, err)
		r := e.waitRelease(e.procs[0], "broken-v2", 60*time.Second, "ended", func(r *state.Release) bool { return r.Status.Phase.Terminal() })
		requireRolledBackByAnalysis(t, r)
		require.Equal(t, 0, r.Status.Step, "rolled back in the first step")
		waitTraffic(t, l, "v1")
		// Envoy's own upstream counters: traffic is back on stable.
		d := upstreamDelta(t, e.eu, e.through(t, e.eu, "broken", nil), 200)
		require.Zero(t, d["broken/v2"], "Envoy sends nothing to the rolled-back canary: %v", d)
		require.GreaterOrEqual(t, d["broken/v1"], uint64(200), "%v", d)
	})

	t.Run("header cohorts with every matcher", func(t *testing.T) {
		e.apply(t, "headered", `  cohorts:
    stages:
      - name: testers
        headers:
          - {name: x-user, exact: alice}
          - {name: x-group, prefix: "qa-"}
          - {name: x-mail, suffix: "@corp.example"}
          - {name: x-team, regex: "^(sre|platform)$"}
          - {name: x-debug, present: true}
          - {name: x-env, exact: prod, invert: true}
  steps: [{cohort: testers, bake: 10m}, {weight: 50}]
`)
		prod := func(kv ...string) map[string]string {
			h := map[string]string{"x-env": "prod"}
			for i := 0; i+1 < len(kv); i += 2 {
				h[kv[i]] = kv[i+1]
			}
			return h
		}
		allReach(t, e.through(t, e.eu, "headered", prod()), "v1", 30*time.Second)
		name := e.startAndApply(t, "headered")
		allReach(t, e.through(t, e.eu, "headered", prod("x-user", "alice")), "v2", 20*time.Second)
		for _, c := range []struct {
			headers map[string]string
			want    string
		}{
			{prod(), "v1"},
			{prod("x-user", "alice"), "v2"}, {prod("x-user", "alicex"), "v1"},
			{prod("x-group", "qa-7"), "v2"}, {prod("x-group", "xqa-7"), "v1"},
			{prod("x-mail", "bob@corp.example"), "v2"}, {prod("x-mail", "bob@corp.example.org"), "v1"},
			{prod("x-team", "sre"), "v2"}, {prod("x-team", "sres"), "v1"},
			{prod("x-debug", "1"), "v2"},
			{map[string]string{"x-env": "staging"}, "v2"},
			// An absent header matches no matcher, inverted or not (as
			// in grpc-go): a request without x-env is not in the cohort.
			{nil, "v1"},
		} {
			e.lands(t, e.eu, "headered", c.headers, c.want)
		}
		e.abort(t, name)
		allReach(t, e.through(t, e.eu, "headered", prod("x-user", "alice")), "v1", 20*time.Second)
	})

	t.Run("tenant cohort", func(t *testing.T) {
		e.apply(t, "tenanted", "  cohorts: {stages: [{name: beta, tenants: [beta]}]}\n  steps: [{cohort: beta, bake: 10m}, {weight: 50}]\n")
		allReach(t, e.through(t, e.eu, "tenanted", nil), "v1", 30*time.Second)
		name := e.startAndApply(t, "tenanted")
		beta := map[string]string{config.DefaultTenantHeader: "beta"}
		allReach(t, e.through(t, e.eu, "tenanted", beta), "v2", 20*time.Second)
		e.lands(t, e.eu, "tenanted", map[string]string{config.DefaultTenantHeader: "acme"}, "v1")
		e.lands(t, e.eu, "tenanted", nil, "v1")
		e.lands(t, e.edge, "tenanted", beta, "v2")
		e.abort(t, name)
	})

	t.Run("region cohort with a region header at the edge", func(t *testing.T) {
		e.apply(t, "regional", "  cohorts: {regionHeader: x-region, stages: [{name: eu, regions: [eu-west]}]}\n  steps: [{cohort: eu, bake: 10m}, {weight: 50}]\n")
		allReach(t, e.through(t, e.eu, "regional", nil), "v1", 30*time.Second)
		name := e.startAndApply(t, "regional")
		// The proxy in the region sends it all; the edge proxy only the
		// requests whose region header names the stage's region.
		allReach(t, e.through(t, e.eu, "regional", nil), "v2", 20*time.Second)
		e.lands(t, e.edge, "regional", map[string]string{"x-region": "eu-west"}, "v2")
		e.lands(t, e.edge, "regional", map[string]string{"x-region": "us-east"}, "v1")
		e.lands(t, e.edge, "regional", nil, "v1")
		e.abort(t, name)
	})

	t.Run("sticky percentage", func(t *testing.T) {
		e.apply(t, "sticky", "  cohorts: {stickyHeader: x-user-id, stages: [{name: thirty, percent: 30}]}\n  steps: [{cohort: thirty, bake: 10m}, {weight: 60}]\n")
		allReach(t, e.through(t, e.eu, "sticky", nil), "v1", 30*time.Second)
		name := e.startAndApply(t, "sticky")
		// One key always lands on one version.
		for _, key := range []string{"u-1", "u-2", "u-3", "u-4", "u-5"} {
			d := send(t, e.through(t, e.eu, "sticky", map[string]string{"x-user-id": key}), 200)
			require.Zero(t, d.Errors, "%v", d.ByCode)
			require.Lenf(t, d.ByVersion, 1, "key %s answered by %v", key, d.ByVersion)
		}
		// Keys spread in proportion to the weight.
		const keys = 1000
		onV2 := 0
		for i := 0; i < keys; i++ {
			v, err := e.through(t, e.eu, "sticky", map[string]string{"x-user-id": fmt.Sprintf("user-%d", i)}).Call(context.Background())
			require.NoError(t, err)
			if v == "v2" {
				onV2++
			}
		}
		checkShare(t, onV2, keys, 0.3)
		e.abort(t, name)
	})

	t.Run("a regex Envoy would reject is refused at apply", func(t *testing.T) {
		_, err := e.procs[0].client().Apply(ctxT(t), "guarded.yaml", []byte(e.yaml("guarded",
			"  cohorts: {stages: [{name: t, headers: [{name: x-user, regex: \"^[a-z]{200}$\"}]}]}\n  steps: [{cohort: t, bake: 10m}, {weight: 50}]\n")))
		require.ErrorIs(t, err, config.ErrInvalid)
		require.ErrorContains(t, err, "guarded.yaml:")
		require.ErrorContains(t, err, "spec.cohorts.stages[0].headers[0].regex")
		require.ErrorContains(t, err, "RE2 program size about 202, Envoy's limit is 100")
		_, err = e.procs[0].client().Get(ctxT(t), "services", "guarded")
		require.Error(t, err, "nothing of the file was applied")
	})

	// Last: a NACK holds every release until it is resolved.
	t.Run("a real NACK holds the release and Envoy keeps the last good config", func(t *testing.T) {
		testNACK(t, e)
	})
}

// testNACK makes a real Envoy reject config that no control plane can
// check: a gateway port another process holds on the proxy's host. Envoy
// NACKs the listener with its own message; the NACK shows in the API and
// the metrics, a release started meanwhile holds, and Envoy keeps serving
// what it had. Removing the offending service clears it.
func testNACK(t *testing.T, e *envoyEnv) {
	e.apply(t, "guarded", "  steps: [{weight: 20, bake: 10m}, {weight: 50}]\n")
	allReach(t, e.through(t, e.eu, "guarded", nil), "v1", 30*time.Second)

	// Something else listens on the eu proxy's address at the port the
	// next service asks for.
	squatter, err := net.Listen("tcp", "127.0.0.2:0")
	require.NoError(t, err)
	t.Cleanup(func() { squatter.Close() })
	busy := squatter.Addr().(*net.TCPAddr).Port
	e.ports["bound"] = busy
	_, err = e.procs[0].client().Apply(ctxT(t), "bound.yaml", []byte(e.serviceYAML("bound")))
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.procs[0].client().Delete(context.Background(), "services", "bound") })

	listener := fmt.Sprintf("http_%d", busy)
	var nack string
	eventually(t, 30*time.Second, "the eu proxy's NACK in /v1/xds/status", func() error {
		for _, p := range e.eu.connectedTo(e.procs) {
			st, err := p.client().XDSStatus(context.Background())
			if err != nil {
				return err
			}
			for _, g := range st.Groups {
				if g.Key == e.eu.node.group() && len(g.NACKs) > 0 {
					nack = g.NACKs[0].Message
					return nil
				}
			}
		}
		return fmt.Errorf("no NACK yet")
	})
	t.Logf("Envoy's NACK: %s", nack)
	require.Contains(t, nack, listener)
	require.Contains(t, nack, "Address already in use", "Envoy's own error text")
	eventually(t, 20*time.Second, "the NACK in the metrics", func() error {
		for _, p := range e.eu.connectedTo(e.procs) {
			body, err := metricsText(p)
			if err != nil {
				return err
			}
			want := fmt.Sprintf(`sluice_xds_nacks_total{group=%q,type="Listener"}`, e.eu.node.group())
			if strings.Contains(body, want) {
				return nil
			}
		}
		return fmt.Errorf("no sluice_xds_nacks_total for the group")
	})

	// Envoy kept its last good config: the listener it could not bind has
	// an error state, the others still serve.
	ls, err := e.eu.Admin().Listeners(ctxT(t))
	require.NoError(t, err)
	require.Contains(t, ls[listener].Error, "Address already in use")
	require.Empty(t, ls[listener].ActiveVersion)
	e.lands(t, e.eu, "guarded", nil, "v1")

	// A release started now holds on the NACK, with Envoy's message, and
	// does not start its bake.
	_, err = e.procs[1].client().StartRelease(ctxT(t), releaseSpec("guarded-v2", "guarded", "v2"))
	require.NoError(t, err)
	r := e.waitRelease(e.procs[0], "guarded-v2", 30*time.Second, "held on the NACK", func(r *state.Release) bool {
		return r.HeldFor(state.HoldRejected) && strings.Contains(holdOf(r), "Address already in use")
	})
	require.False(t, r.Status.Acked, "the step never counts as applied")
	require.Equal(t, state.PhaseProgressing, r.Status.Phase)
	require.Equal(t, 0, r.Status.Step)

	// Removing the service Envoy cannot serve clears the NACK and the
	// release goes on.
	require.NoError(t, e.procs[0].client().Delete(ctxT(t), "services", "bound"))
	e.waitRelease(e.procs[0], "guarded-v2", 30*time.Second, "step applied once the NACK is gone", func(r *state.Release) bool { return r.Status.Acked })
	e.abort(t, "guarded-v2")
}

// metricsText is a node's /metrics page, read with the harness's token
// (the page is closed without one).
func metricsText(p *proc) (string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+p.api+"/metrics", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics on %s: %s: %.200s", p.id, resp.Status, b)
	}
	return string(b), nil
}
