package controller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// mirrorRelease is testRelease with a mirror step first.
func mirrorRelease(onFailure config.MirrorFailure, phase state.Phase, step int) *state.Release {
	r := testRelease(phase, step)
	spec := config.PolicyDefaults(&config.ReleasePolicySpec{
		Services:        []string{"svc"},
		OnMirrorFailure: onFailure,
		Steps:           []config.StepSpec{{Mirror: 20, Bake: config.Duration(30 * time.Second)}, {Weight: 50, Bake: config.Duration(30 * time.Second)}},
	})
	spec.Analysis.FailureLimit = 1
	spec.AckTimeout = config.Duration(10 * time.Second)
	r.Status.PolicySpec, r.Status.Plan = spec, spec.Steps
	if step >= 0 {
		r.Status.Weight = spec.Steps[step].Weight
	}
	return r
}

func grpcService() *config.Service {
	return &config.Service{Metadata: config.Metadata{Name: "svc"}, Spec: config.ServiceSpec{Protocol: config.ProtocolGRPC}}
}

func TestDecideMirrorSkip(t *testing.T) {
	r := mirrorRelease("", state.PhaseProgressing, 0)
	fleet := Fleet{Now: t0, Groups: []GroupAck{
		{Node: "n1", Group: "web/eu/", Streams: 3},
		{Node: "n1", Group: "grpc/eu/", Streams: 2, Proxyless: 2},
		{Node: "n2", Group: "grpc/eu/", Streams: 4, Proxyless: 3},
		{Node: "n2", Group: "mixed/us/", Streams: 4, Proxyless: 1},
	}}
	e, ok := DecideMirrorSkip(r, grpcService(), fleet).(*state.SkipMirror)
	require.True(t, ok)
	require.Equal(t, []state.MirrorSkip{
		{Step: 0, Group: "grpc/eu/", Reason: state.MirrorSkipProxyless, Streams: 5},
		{Step: 0, Group: "mixed/us/", Reason: state.MirrorSkipProxyless, Streams: 1},
	}, e.Skips)
	require.Equal(t, uint64(40), e.Expect.StepIndex)
	require.Equal(t, "step 1 mirrors 20% to v2 through Envoy only: proxyless gRPC clients (grpc-go) do not mirror requests, "+
		"so in group(s) grpc/eu/, mixed/us/ (6 proxyless stream(s)) every request goes to v1", e.Message)

	// Recorded groups are not recorded again.
	r.Status.MirrorSkips = e.Skips
	require.Nil(t, DecideMirrorSkip(r, grpcService(), fleet))

	// Nothing to record: an http service, no proxyless stream, a step
	// that does not mirror, an ACKed step.
	http := grpcService()
	http.Spec.Protocol = config.ProtocolHTTP
	fresh := mirrorRelease("", state.PhaseProgressing, 0)
	require.Nil(t, DecideMirrorSkip(fresh, http, fleet), "proxyless clients cannot reach an http service")
	require.Nil(t, DecideMirrorSkip(fresh, grpcService(), Fleet{Now: t0, Groups: fleet.Groups[:1]}))
	require.Nil(t, DecideMirrorSkip(mirrorRelease("", state.PhaseProgressing, 1), grpcService(), fleet))
	require.Nil(t, DecideMirrorSkip(acked(mirrorRelease("", state.PhaseProgressing, 0), t0), grpcService(), fleet))
	require.Nil(t, DecideMirrorSkip(fresh, nil, fleet))
}

func TestMirrorFailure(t *testing.T) {
	failed := analysis.Verdict{Phase: analysis.PhaseFailed, Reason: "burn rule fast fired"}
	bake := t0.Add(30 * time.Second)

	// Rollback (the default): a failed mirror step rolls back like any.
	e := after(acked(mirrorRelease("", state.PhaseProgressing, 0), bake), failed, t0.Add(6*time.Second))
	require.IsType(t, &state.Rollback{}, e)

	// Hold: the release pauses at its mirror step, with the verdict.
	r := acked(mirrorRelease(config.MirrorFailureHold, state.PhaseProgressing, 0), bake)
	e = after(r, failed, t0.Add(6*time.Second))
	h, ok := e.(*state.HoldMirror)
	require.True(t, ok, "got %T", e)
	require.Contains(t, h.Message, "held at mirror step 1 (20% shadowed to v2, no user served by it)")
	require.Contains(t, h.Message, "onMirrorFailure: hold")
	require.NotEmpty(t, h.Verdict)
	require.Equal(t, 1, h.Counters.Failures)
	require.NotNil(t, h.Expect.Analyses, "the result of one analysis, once")

	// Hold applies to mirror steps only: a failed weight step rolls back.
	e = after(acked(mirrorRelease(config.MirrorFailureHold, state.PhaseProgressing, 1), bake), failed, t0.Add(6*time.Second))
	require.IsType(t, &state.Rollback{}, e)

	// A passing mirror step advances to the first weight step.
	ok2 := analysis.Verdict{Phase: analysis.PhaseSuccessful, Reason: "within budget"}
	r = acked(mirrorRelease(config.MirrorFailureHold, state.PhaseProgressing, 0), bake)
	r.Status.Baked = config.Duration(30 * time.Second)
	est := state.Exposure{Step: 1, Share: 50, Source: state.ExposurePlan}
	e = AfterAnalysis(r, AnalysisInput{Verdict: ok2, Now: bake, Next: &est})
	require.IsType(t, &state.AdvanceStep{}, e)
}

func TestMirrorExposure(t *testing.T) {
	r := mirrorRelease("", state.PhasePending, -1)
	r.Status.PolicySpec.Exposure = &config.ExposureSpec{MaxTrafficShare: 1, MaxTenants: 1, MaxRegions: 1}
	e := EstimateExposure(r, 0, Traffic{}, Traffic{})
	require.Equal(t, state.Exposure{Step: 0, Share: 0, Tenants: 0, Regions: 0, Source: state.ExposurePlan,
		Detail: "mirror: 20% of requests copied to the new version, no user served by it"}, e)
	require.Empty(t, CheckBudget(r.Status.PolicySpec.Exposure, &e), "a mirror step is within any exposure budget")
	require.Equal(t, 50.0, EstimateExposure(r, 1, Traffic{}, Traffic{}).Share)
}
