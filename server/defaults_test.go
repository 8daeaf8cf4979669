package server_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/config"
)

const defaultsDocs = `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: a}
spec:
  protocol: http
  port: 8080
  versions:
    - {name: v1, endpoints: [{address: "10.0.0.1:80"}]}
    - {name: v2, endpoints: [{address: "10.0.0.2:80"}]}
---
apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: b}
spec:
  protocol: http
  port: 8080
  versions:
    - {name: v1, endpoints: [{address: "10.0.1.1:80"}]}
    - {name: v2, endpoints: [{address: "10.0.1.2:80"}]}
---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: p}
spec:
  services: [a, b]
  slo:
    objective: 99.9
    errorRatioQuery: 'sum(rate(errors{version="{{version}}"}[{{window}}]))'
    requestsQuery: 'sum(increase(requests{version="{{version}}"}[{{window}}]))'
`

// TestProposalsCarryTodaysDefaults: releases created through the API, by
// a Release document and by the compact start request, get today's policy
// defaults, so the leader stamped CurrentDefaults on what it proposed (an
// unstamped entry would get generation 1's baseline.minDelta of 1%).
func TestProposalsCarryTodaysDefaults(t *testing.T) {
	n := startNode(t)
	c := api.NewClient(n.APIAddr())
	ctx := context.Background()
	_, err := c.Apply(ctx, "docs.yaml", []byte(defaultsDocs))
	require.NoError(t, err)
	_, err = c.Apply(ctx, "r.yaml", []byte("apiVersion: sluice.dev/v1alpha1\nkind: Release\nmetadata: {name: ra}\nspec: {service: a, to: v2}\n"))
	require.NoError(t, err)
	_, err = c.StartRelease(ctx, releaseOf("b", "v2"))
	require.NoError(t, err)

	st := n.Raft().State()
	require.Len(t, st.Releases, 2)
	for name, r := range st.Releases {
		require.Equal(t, config.DefaultBaselineMinDelta, r.Status.PolicySpec.Analysis.Baseline.MinDelta, "release %s", name)
	}
	require.NotEqual(t, 0.01, config.DefaultBaselineMinDelta, "the test needs today's default to differ from generation 1's")
}
