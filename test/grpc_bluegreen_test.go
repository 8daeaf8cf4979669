package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// TestGRPCBlueGreen runs a blue/green release of a grpc service with
// grpc-go's xDS client: the preview header is request metadata, matched by
// the client itself.
func TestGRPCBlueGreen(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and server processes")
	}
	e := newReleaseEnv(t, "bg")
	leader, followers := splitLeader(t, e.procs)
	v1, v2 := e.backends["bg/v1"], e.backends["bg/v2"]
	_, err := leader.client().Apply(ctxT(t), "bg.yaml", []byte(fmt.Sprintf(`apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: bg}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: %q, region: eu-west}]}
    - {name: v2, endpoints: [{address: %q, region: eu-west}]}
---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: bg}
spec:
  services: [bg]
`+demoSLO+`    baseline: {window: 10s, minRequests: 10}
    inconclusiveLimit: 30
  strategy: {blueGreen: {previewBake: 20s, postSwitchBake: 5s, keepOldFor: 20s}}
  ackTimeout: 10s
`, v1.GRPCAddr(), v2.GRPCAddr())))
	require.NoError(t, err)
	preview := e.clientLoad("bg", followers[0], "bg-preview", "eu-west", previewHeader, 30)
	plain := e.clientLoad("bg", leader, "bg-plain", "eu-west", nil, 50)
	waitTraffic(t, preview, "v1")
	waitTraffic(t, plain, "v1")

	_, err = leader.client().StartRelease(ctxT(t), releaseSpec("bg-v2", "bg", "v2"))
	require.NoError(t, err)
	e.waitRelease(leader, "bg-v2", 30*time.Second, "preview applied", func(r *state.Release) bool { return r.Status.Acked })
	waitTraffic(t, preview, "v2")
	neverReaches(t, plain, "v2", 100)
	require.Equal(t, config.BlueGreenPreviewStep, e.release(leader, "bg-v2").Status.Step, "still previewing: the plain client was checked during the preview")

	e.waitRelease(leader, "bg-v2", 90*time.Second, "switched", func(r *state.Release) bool {
		return r.Status.Step == config.BlueGreenSwitchStep || r.Status.Phase.Terminal()
	})
	waitTraffic(t, plain, "v2")
	waitTraffic(t, preview, "v1")
	r := e.waitRelease(leader, "bg-v2", 60*time.Second, "ended", func(r *state.Release) bool { return r.Status.Phase.Terminal() })
	require.Equal(t, state.PhasePromoted, r.Status.Phase, r.Status.Reason)
	waitTraffic(t, preview, "v1")
	_, retired := decided(e.release(leader, "bg-v2"), state.DecisionRetireOld)
	require.False(t, retired, "the old version was checked while kept")
	e.waitRelease(leader, "bg-v2", 60*time.Second, "old version retired", func(r *state.Release) bool {
		_, ok := decided(r, state.DecisionRetireOld)
		return ok
	})
	waitTraffic(t, preview, "v2")
	waitTraffic(t, plain, "v2")
}
