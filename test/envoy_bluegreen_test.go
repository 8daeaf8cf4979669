package test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/demo"
	"github.com/sluicehq/sluice/state"
)

// previewHeader is the default preview route of a blue/green policy.
var previewHeader = map[string]string{config.DefaultPreviewHeader: config.DefaultPreviewValue}

// lastVerdict is the phase of a release's latest analysis ("" before one).
func lastVerdict(r *state.Release) analysis.Phase {
	var v analysis.Verdict
	if json.Unmarshal(r.Status.LastVerdict, &v) != nil {
		return ""
	}
	return v.Phase
}

func decided(r *state.Release, kind state.DecisionKind) (state.Decision, bool) {
	for _, d := range r.Status.Decisions {
		if d.Action == kind {
			return d, true
		}
	}
	return state.Decision{}, false
}

// TestEnvoyBlueGreen runs blue/green releases of HTTP services through a
// real Envoy, judged by real Prometheus on the backends' own metrics.
func TestEnvoyBlueGreen(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus, server and Envoy processes")
	}
	svcs := []string{"blue", "green", "preview"}
	e := &envoyEnv{releaseEnv: newReleaseEnv(t, svcs...), ports: map[string]int{}}
	for _, s := range svcs {
		e.ports[s] = freePortNumber(t)
	}
	e.eu = startEnvoy(t, e.procs, envoyNode{id: "eu-1", cluster: "web", region: "eu-west", zone: "eu-west-1a", gateway: "127.0.0.2"})
	eventually(t, 30*time.Second, "prometheus scrapes the backends", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return e.prom.WaitForSeries(ctx, `requests_total{service="blue",protocol="http"}`)
	})

	t.Run("preview, switch, old version kept then retired", func(t *testing.T) {
		e.apply(t, "blue", "  strategy: {blueGreen: {previewBake: 10s, postSwitchBake: 5s, keepOldFor: 20s}}\n")
		plain := e.eu.httpLoad(t, e.ports["blue"], "blue.example.com", nil, 50)
		waitTraffic(t, plain, "v1")
		name := e.startAndApply(t, "blue")

		// No preview traffic yet: the analysis of the new version is
		// Inconclusive and the release holds at the preview, while every
		// plain request stays on v1.
		r := e.waitRelease(e.procs[0], name, 30*time.Second, "inconclusive preview", func(r *state.Release) bool {
			return r.HeldFor(state.HoldAnalysis) && lastVerdict(r) == analysis.PhaseInconclusive
		})
		require.Equal(t, config.BlueGreenPreviewStep, r.Status.Step)
		require.Contains(t, holdOf(r), "inconclusive")
		d := upstreamDelta(t, e.eu, e.through(t, e.eu, "blue", nil), 100)
		require.Zero(t, d["blue/v2"], "plain requests reach only v1 during the preview: %v", d)
		e.lands(t, e.eu, "blue", previewHeader, "v2")
		e.lands(t, e.eu, "blue", map[string]string{config.DefaultPreviewHeader: "false"}, "v1")

		// Preview traffic: judged on it, then switched 0 -> 100 at once.
		e.eu.httpLoad(t, e.ports["blue"], "blue.example.com", previewHeader, 20)
		r = e.waitRelease(e.procs[0], name, 90*time.Second, "switched", func(r *state.Release) bool {
			return r.Status.Step == config.BlueGreenSwitchStep && r.Status.Acked || r.Status.Phase.Terminal()
		})
		require.Equal(t, uint32(100), r.Status.Weight, r.Status.Reason)
		allReach(t, e.through(t, e.eu, "blue", nil), "v2", 20*time.Second)
		e.lands(t, e.eu, "blue", previewHeader, "v1")

		// Promoted after the post-switch window: the old version stays
		// reachable through the preview route for keepOldFor.
		r = e.waitRelease(e.procs[0], name, 60*time.Second, "promoted", func(r *state.Release) bool { return r.Status.Phase.Terminal() })
		require.Equal(t, state.PhasePromoted, r.Status.Phase, r.Status.Reason)
		checkDecisions(t, r)
		promoted, _ := decided(r, state.DecisionPromote)
		e.lands(t, e.eu, "blue", nil, "v2")
		e.lands(t, e.eu, "blue", previewHeader, "v1")

		// Then it is retired: the preview header leads to v2 like any
		// request.
		r = e.waitRelease(e.procs[0], name, 60*time.Second, "old version retired", func(r *state.Release) bool {
			_, ok := decided(r, state.DecisionRetireOld)
			return ok
		})
		retired, _ := decided(r, state.DecisionRetireOld)
		require.GreaterOrEqual(t, retired.Time.Sub(promoted.Time), 20*time.Second, "kept for keepOldFor")
		require.Contains(t, retired.Message, "old version v1 of blue is no longer routable")
		allReach(t, e.through(t, e.eu, "blue", previewHeader), "v2", 20*time.Second)
	})

	t.Run("a new version failing after the switch is switched back", func(t *testing.T) {
		e.apply(t, "green", "  strategy: {blueGreen: {previewBake: 3s, postSwitchBake: 10m}}\n")
		plain := e.eu.httpLoad(t, e.ports["green"], "green.example.com", nil, 50)
		e.eu.httpLoad(t, e.ports["green"], "green.example.com", previewHeader, 20)
		waitTraffic(t, plain, "v1")
		name := e.startAndApply(t, "green")
		e.waitRelease(e.procs[0], name, 90*time.Second, "switched", func(r *state.Release) bool {
			return r.Status.Step == config.BlueGreenSwitchStep && r.Status.Acked || r.Status.Phase.Terminal()
		})
		waitTraffic(t, plain, "v2")

		require.NoError(t, e.backends["green/v2"].SetFaults(demo.Faults{ErrorRatio: 0.5, Latency: time.Millisecond}))
		r := e.waitRelease(e.procs[0], name, 60*time.Second, "ended", func(r *state.Release) bool { return r.Status.Phase.Terminal() })
		last := requireRolledBackByAnalysis(t, r)
		require.Equal(t, config.BlueGreenSwitchStep, last.Step, "switched back from the switch")
		require.Equal(t, uint32(0), last.Weight)
		waitTraffic(t, plain, "v1")
		d := upstreamDelta(t, e.eu, e.through(t, e.eu, "green", nil), 100)
		require.Zero(t, d["green/v2"], "plain traffic is back on v1: %v", d)
		// A switched-back release keeps nothing behind the preview route.
		e.lands(t, e.eu, "green", previewHeader, "v1")
	})

	t.Run("a preview domain", func(t *testing.T) {
		e.apply(t, "preview", "  strategy: {blueGreen: {preview: {domain: next.preview.example.com}, previewBake: 10m}}\n")
		allReach(t, e.through(t, e.eu, "preview", nil), "v1", 30*time.Second)
		name := e.startAndApply(t, "preview")
		next := e.eu.httpLoad(t, e.ports["preview"], "next.preview.example.com", nil, 0)
		allReach(t, next, "v2", 20*time.Second)
		e.lands(t, e.eu, "preview", nil, "v1")
		e.lands(t, e.eu, "preview", previewHeader, "v1")
		e.abort(t, name)
		eventually(t, 20*time.Second, "the preview domain is gone", func() error {
			d := send(t, next, 10)
			if d.ByVersion["v2"] > 0 || d.Errors < 10 {
				return fmt.Errorf("answered by %v, failed %v", d.ByVersion, d.ByCode)
			}
			return nil
		})
	})
}
