package xds

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// discoveredState is testdata/discovery/in.yaml with v2's DNS name
// observed (one endpoint unhealthy) and v3's file not observed yet.
func discoveredState(t *testing.T) *state.State {
	t.Helper()
	st := loadState(t, filepath.Join("testdata", "discovery", "in.yaml"))
	obs := &state.ObserveEndpoints{Service: "greeter", Version: "v2", Source: "dns:greeter-v2.internal:8080", Endpoints: []state.ObservedEndpoint{
		{Address: "10.0.1.2:8080", Health: state.Healthy},
		{Address: "10.0.1.1:8080", Health: state.Unhealthy},
		{Address: "10.0.2.1:8080", Region: "eu", Health: state.Healthy},
	}}
	cmd, err := state.EventCommand(obs, time.Date(2030, 1, 2, 3, 4, 6, 0, time.UTC), "discovery")
	require.NoError(t, err)
	st, _, err = state.Apply(st, 2, cmd)
	require.NoError(t, err)
	return st
}

func TestTranslateDiscoveredGolden(t *testing.T) {
	got, err := Translate(discoveredState(t), Group{})
	require.NoError(t, err)
	out := filepath.Join("testdata", "discovery", "out.yaml")
	if *update {
		b, err := marshalGolden(got)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(out, b, 0o644))
	}
	data, err := os.ReadFile(out)
	require.NoError(t, err, "missing golden file: run go test ./xds -run TestTranslateDiscoveredGolden -update")
	want, err := unmarshalGolden(data)
	require.NoError(t, err)
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("Translate differs from %s (-want +got):\n%s", out, diff)
	}
}

func TestTranslateDiscoveredEndpoints(t *testing.T) {
	st := discoveredState(t)
	res, err := Translate(st, Group{})
	require.NoError(t, err)

	t.Run("discovered endpoints carry their health", func(t *testing.T) {
		cla := find[*endpointv3.ClusterLoadAssignment](t, res.Endpoints, "greeter/v2")
		health := map[string]corev3.HealthStatus{}
		for _, lle := range cla.GetEndpoints() {
			for _, lb := range lle.GetLbEndpoints() {
				health[lb.GetEndpoint().GetAddress().GetSocketAddress().GetAddress()] = lb.GetHealthStatus()
			}
		}
		require.Equal(t, map[string]corev3.HealthStatus{
			"10.0.1.1": corev3.HealthStatus_UNHEALTHY, "10.0.1.2": corev3.HealthStatus_HEALTHY, "10.0.2.1": corev3.HealthStatus_HEALTHY,
		}, health, "an unhealthy endpoint is sent, marked, not dropped")
	})
	t.Run("listed endpoints have no health status", func(t *testing.T) {
		cla := find[*endpointv3.ClusterLoadAssignment](t, res.Endpoints, "greeter/v1")
		require.Equal(t, corev3.HealthStatus_UNKNOWN, cla.GetEndpoints()[0].GetLbEndpoints()[0].GetHealthStatus())
	})
	t.Run("a source not observed yet has no endpoints", func(t *testing.T) {
		cla := find[*endpointv3.ClusterLoadAssignment](t, res.Endpoints, "greeter/v3")
		require.Empty(t, cla.GetEndpoints())
	})
	t.Run("a set recorded for another source is not used", func(t *testing.T) {
		changed := loadState(t, filepath.Join("testdata", "discovery", "in.yaml"))
		changed.Endpoints = map[string]*state.EndpointSet{"greeter/v2": st.Endpoints["greeter/v2"]}
		svc := *changed.Services["greeter"]
		svc.Spec.Versions = append([]config.Version(nil), svc.Spec.Versions...)
		d := *svc.Spec.Versions[1].Discovery
		dns := *d.DNS
		dns.Name = "greeter-v2b.internal"
		d.DNS = &dns
		svc.Spec.Versions[1].Discovery = &d
		changed.Services = map[string]*config.Service{"greeter": &svc}
		res, err := Translate(changed, Group{})
		require.NoError(t, err)
		require.Empty(t, find[*endpointv3.ClusterLoadAssignment](t, res.Endpoints, "greeter/v2").GetEndpoints())
	})
}
