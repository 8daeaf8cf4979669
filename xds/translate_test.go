package xds

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/out")

// loadState parses a config file and applies its documents to an empty
// state, as the API would.
func loadState(t testing.TB, path string) *state.State {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	docs, err := config.Parse(path, data)
	require.NoError(t, err, "parse %s", path)
	cmd, err := state.NewCommand(state.CmdApply, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), "test",
		state.ApplyPayload{Documents: docs})
	require.NoError(t, err)
	st, _, err := state.Apply(state.New(), 1, cmd)
	require.NoError(t, err, "apply %s", path)
	return st
}

// golden is the file format of testdata/out: one list per type, each
// resource in protojson (proto field names).
type golden struct {
	Listeners []any `yaml:"listeners"`
	Routes    []any `yaml:"routes"`
	Clusters  []any `yaml:"clusters"`
	Endpoints []any `yaml:"endpoints"`
}

func marshalGolden(r *Resources) ([]byte, error) {
	conv := func(rs []types.Resource) ([]any, error) {
		out := make([]any, 0, len(rs))
		for _, res := range rs {
			js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(res)
			if err != nil {
				return nil, fmt.Errorf("marshal %s: %w", resourceName(res), err)
			}
			var v any
			if err := json.Unmarshal(js, &v); err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	var g golden
	var err error
	for _, p := range []struct {
		dst *[]any
		src []types.Resource
	}{{&g.Listeners, r.Listeners}, {&g.Routes, r.Routes}, {&g.Clusters, r.Clusters}, {&g.Endpoints, r.Endpoints}} {
		if *p.dst, err = conv(p.src); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(g); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func unmarshalGolden(data []byte) (*Resources, error) {
	var g golden
	if err := yaml.Unmarshal(data, &g); err != nil {
		return nil, err
	}
	conv := func(items []any, newMsg func() types.Resource) ([]types.Resource, error) {
		out := make([]types.Resource, 0, len(items))
		for i, item := range items {
			js, err := json.Marshal(item)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			m := newMsg()
			if err := protojson.Unmarshal(js, m); err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			out = append(out, m)
		}
		return out, nil
	}
	var r Resources
	var err error
	if r.Listeners, err = conv(g.Listeners, func() types.Resource { return &listenerv3.Listener{} }); err != nil {
		return nil, fmt.Errorf("listeners: %w", err)
	}
	if r.Routes, err = conv(g.Routes, func() types.Resource { return &routev3.RouteConfiguration{} }); err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	if r.Clusters, err = conv(g.Clusters, func() types.Resource { return &clusterv3.Cluster{} }); err != nil {
		return nil, fmt.Errorf("clusters: %w", err)
	}
	if r.Endpoints, err = conv(g.Endpoints, func() types.Resource { return &endpointv3.ClusterLoadAssignment{} }); err != nil {
		return nil, fmt.Errorf("endpoints: %w", err)
	}
	return &r, nil
}

func TestTranslateGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "in", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, inputs)
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			st := loadState(t, in)
			got, err := Translate(st, Group{})
			require.NoError(t, err)
			out := filepath.Join("testdata", "out", name+".yaml")
			if *update {
				b, err := marshalGolden(got)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(out, b, 0o644))
			}
			data, err := os.ReadFile(out)
			require.NoError(t, err, "missing golden file: run go test ./xds -run TestTranslateGolden -update")
			want, err := unmarshalGolden(data)
			require.NoError(t, err, "read golden %s", out)
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("Translate(%s) differs from %s (-want +got):\n%s", in, out, diff)
			}
		})
	}
}

// The golden files pin the whole output; these assertions pin the rules a
// careless -update could otherwise lose.
func TestTranslateRules(t *testing.T) {
	httpRes, err := Translate(loadState(t, filepath.Join("testdata", "in", "http.yaml")), Group{})
	require.NoError(t, err)
	grpcRes, err := Translate(loadState(t, filepath.Join("testdata", "in", "grpc.yaml")), Group{})
	require.NoError(t, err)

	t.Run("services on one port share a listener and route configuration", func(t *testing.T) {
		require.Equal(t, []string{"http_80", "http_8080"}, names(httpRes.Listeners))
		require.Equal(t, []string{"http_80", "http_8080"}, names(httpRes.Routes))
		rc := find[*routev3.RouteConfiguration](t, httpRes.Routes, "http_80")
		require.Len(t, rc.GetVirtualHosts(), 2)
		require.Equal(t, "api", rc.GetVirtualHosts()[0].GetName())
		require.Equal(t, []string{"api", "api:80"}, rc.GetVirtualHosts()[0].GetDomains())
		require.Equal(t, []string{"web.example.com", "www.example.com", "web.example.com:80", "www.example.com:80"},
			rc.GetVirtualHosts()[1].GetDomains())
		l := find[*listenerv3.Listener](t, httpRes.Listeners, "http_80")
		require.Equal(t, uint32(80), l.GetAddress().GetSocketAddress().GetPortValue())
		hcm := unpackHCM(t, l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().GetValue())
		require.Equal(t, "http_80", hcm.GetRds().GetRouteConfigName())
		require.NotNil(t, hcm.GetRds().GetConfigSource().GetAds())
	})

	t.Run("80/20 split", func(t *testing.T) {
		rc := find[*routev3.RouteConfiguration](t, httpRes.Routes, "http_80")
		wc := rc.GetVirtualHosts()[1].GetRoutes()[0].GetRoute().GetWeightedClusters()
		require.Equal(t, map[string]uint32{"web/v1": 80, "web/v2": 20}, weightsOf(wc))
		require.Nil(t, wc.GetTotalWeight(), "total_weight is deprecated")
	})

	t.Run("zero-weight version has a cluster but no weighted entry", func(t *testing.T) {
		rc := find[*routev3.RouteConfiguration](t, httpRes.Routes, "http_8080")
		wc := rc.GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetWeightedClusters()
		require.Equal(t, map[string]uint32{"admin/v1": 100}, weightsOf(wc))
		find[*clusterv3.Cluster](t, httpRes.Clusters, "admin/v2")
		find[*endpointv3.ClusterLoadAssignment](t, httpRes.Endpoints, "admin/v2")
	})

	t.Run("localities sorted, every locality weighted by its endpoint count", func(t *testing.T) {
		cla := find[*endpointv3.ClusterLoadAssignment](t, httpRes.Endpoints, "web/v1")
		var got []string
		for _, lle := range cla.GetEndpoints() {
			require.NotNil(t, lle.GetLocality())
			require.Equal(t, uint32(len(lle.GetLbEndpoints())), lle.GetLoadBalancingWeight().GetValue())
			for _, lb := range lle.GetLbEndpoints() {
				require.Nil(t, lb.GetLoadBalancingWeight())
			}
			got = append(got, fmt.Sprintf("%s/%s=%d", lle.GetLocality().GetRegion(), lle.GetLocality().GetZone(),
				len(lle.GetLbEndpoints())))
		}
		require.Equal(t, []string{"/=1", "eu-west/eu-west-1a=2", "eu-west/eu-west-1b=1", "us-east/us-east-1a=1"}, got)
	})

	t.Run("grpc targets each get an api listener sharing one route configuration", func(t *testing.T) {
		want := []string{"echo", "greeter", "greeter.example.com", "greeter.example.com:50051", "greeter:50051", "http_50051"}
		require.Equal(t, want, names(grpcRes.Listeners), "a grpc service with a port is also on that port's gateway listener (for Envoy)")
		for _, res := range grpcRes.Listeners {
			l := res.(*listenerv3.Listener)
			if l.GetName() == "http_50051" {
				require.NotEmpty(t, l.GetFilterChains())
				continue
			}
			require.Empty(t, l.GetFilterChains())
			hcm := unpackHCM(t, l.GetApiListener().GetApiListener().GetValue())
			require.Equal(t, "grpc_"+strings.Split(strings.Split(l.GetName(), ":")[0], ".")[0],
				hcm.GetRds().GetRouteConfigName())
			require.Zero(t, hcm.GetXffNumTrustedHops())
		}
		rc := find[*routev3.RouteConfiguration](t, grpcRes.Routes, "grpc_greeter")
		require.Len(t, rc.GetVirtualHosts(), 1)
		require.ElementsMatch(t, want[1:len(want)-1], rc.GetVirtualHosts()[0].GetDomains())
		route := rc.GetVirtualHosts()[0].GetRoutes()[0]
		require.Equal(t, "", route.GetMatch().GetPrefix())
		require.IsType(t, &routev3.RouteMatch_Prefix{}, route.GetMatch().GetPathSpecifier())
	})

	t.Run("grpc clusters speak HTTP/2 upstream, http clusters do not", func(t *testing.T) {
		g := find[*clusterv3.Cluster](t, grpcRes.Clusters, "greeter/v1")
		require.Contains(t, g.GetTypedExtensionProtocolOptions(), httpProtocolOptionsKey)
		h := find[*clusterv3.Cluster](t, httpRes.Clusters, "web/v1")
		require.Empty(t, h.GetTypedExtensionProtocolOptions())
		require.Equal(t, clusterv3.Cluster_EDS, h.GetType())
		require.NotNil(t, h.GetEdsClusterConfig().GetEdsConfig().GetAds())
	})

	t.Run("ByType", func(t *testing.T) {
		bt := grpcRes.ByType()
		require.Len(t, bt, 4)
		require.Len(t, bt[resource.ListenerType], len(grpcRes.Listeners))
		require.Len(t, bt[resource.EndpointType], len(grpcRes.Endpoints))
	})
}

func TestTranslateEmpty(t *testing.T) {
	for _, st := range []*state.State{nil, state.New()} {
		r, err := Translate(st, Group{})
		require.NoError(t, err)
		require.Empty(t, r.Listeners)
		require.Empty(t, r.Routes)
		require.Empty(t, r.Clusters)
		require.Empty(t, r.Endpoints)
	}
}

func TestTranslateRejectsBadInput(t *testing.T) {
	cases := map[string]struct {
		mutate func(*config.Service)
		want   string
	}{
		"address without port": {
			mutate: func(s *config.Service) { s.Spec.Versions[0].Endpoints[0].Address = "10.0.0.1" },
			want:   `Service "svc": version "v1": endpoint 0: address "10.0.0.1" is not host:port`,
		},
		"port out of range": {
			mutate: func(s *config.Service) { s.Spec.Versions[0].Endpoints[0].Address = "10.0.0.1:70000" },
			want:   `port must be 1-65535`,
		},
		"all weights zero": {
			mutate: func(s *config.Service) {
				s.Spec.Versions[0].Weight = new(uint32(0))
				s.Spec.Versions[1].Weight = new(uint32(0))
			},
			want: `Service "svc": every version has weight 0`,
		},
		"duplicate endpoint address": {
			mutate: func(s *config.Service) {
				s.Spec.Versions[0].Endpoints = append(s.Spec.Versions[0].Endpoints, s.Spec.Versions[0].Endpoints[0])
			},
			want: `ClusterLoadAssignment "svc/v1": endpoints[0] (locality eu/eu-1): lb_endpoints[1]: address 10.0.0.1:80 appears more than once`,
		},
		"http without port": {
			mutate: func(s *config.Service) { s.Spec.Protocol, s.Spec.Port = config.ProtocolHTTP, 0 },
			want:   `Service "svc": an http service needs a port`,
		},
		"unknown protocol": {
			mutate: func(s *config.Service) { s.Spec.Protocol = "thrift" },
			want:   `Service "svc": unsupported protocol "thrift"`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			svc := testService("svc", config.ProtocolGRPC, 80, 2, 1)
			tc.mutate(svc)
			st := state.New()
			st.Services[svc.Metadata.Name] = svc
			r, err := Translate(st, Group{Cluster: "edge"})
			require.ErrorIs(t, err, ErrInvalidResource)
			require.Nil(t, r)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, "group edge//")
		})
	}
}

func TestTranslateDeterministic(t *testing.T) {
	// Many services, ports shared by several, endpoints spread over many
	// localities: any map iteration leaking into the output shows up as a
	// difference between runs.
	st := testState(60, 4, 6)
	first, err := Translate(st, Group{})
	require.NoError(t, err)
	firstBytes := encodeAll(t, first)
	for range 10 {
		again, err := Translate(st, Group{})
		require.NoError(t, err)
		if !slices.EqualFunc(firstBytes, encodeAll(t, again), bytes.Equal) {
			t.Fatalf("translations differ (-first +again):\n%s", cmp.Diff(first, again, protocmp.Transform()))
		}
	}

	// The order endpoints are listed in does not matter either.
	shuffled := testState(60, 4, 6)
	for _, svc := range shuffled.Services {
		for i := range svc.Spec.Versions {
			eps := svc.Spec.Versions[i].Endpoints
			for j, k := 0, len(eps)-1; j < k; j, k = j+1, k-1 {
				eps[j], eps[k] = eps[k], eps[j]
			}
		}
	}
	reordered, err := Translate(shuffled, Group{})
	require.NoError(t, err)
	require.Equal(t, firstBytes, encodeAll(t, reordered))
}

func TestGroup(t *testing.T) {
	require.Equal(t, Group{}, GroupOf(nil))
	require.Equal(t, "//", GroupOf(nil).Key())
	g := GroupOf(&corev3.Node{
		Id:       "envoy-1",
		Cluster:  "edge",
		Locality: &corev3.Locality{Region: "eu-west", Zone: "eu-west-1a", SubZone: "rack7"},
	})
	require.Equal(t, Group{Cluster: "edge", Region: "eu-west", Zone: "eu-west-1a"}, g)
	require.Equal(t, "edge/eu-west/eu-west-1a", g.Key())
	require.Equal(t, Group{Cluster: "edge"}, GroupOf(&corev3.Node{Cluster: "edge"}))
}

// testService builds a service with versions v1..vN (the first at 100, or
// 90/10 for two versions) and endpoints spread over several localities.
func testService(name string, protocol config.Protocol, port uint32, versions, endpoints int) *config.Service {
	svc := &config.Service{
		APIVersion: config.APIVersion,
		Kind:       config.KindService,
		Metadata:   config.Metadata{Name: name},
		Spec: config.ServiceSpec{
			Protocol: protocol,
			Port:     port,
			Domains:  []string{name + ".example.com"},
		},
	}
	for v := range versions {
		ver := config.Version{Name: fmt.Sprintf("v%d", v+1)}
		switch {
		case versions == 2:
			ver.Weight = new([]uint32{90, 10}[v])
		case v == 0:
			ver.Weight = new(uint32(100))
		default:
			ver.Weight = new(uint32(0))
		}
		for e := range endpoints {
			ep := config.Endpoint{Address: fmt.Sprintf("10.%d.%d.%d:80", v, e/250, e%250+1)}
			switch e % 3 {
			case 0:
				ep.Region, ep.Zone = "eu", "eu-1"
			case 1:
				ep.Region, ep.Zone = "us", fmt.Sprintf("us-%d", e%5)
			}
			ver.Endpoints = append(ver.Endpoints, ep)
		}
		svc.Spec.Versions = append(svc.Spec.Versions, ver)
	}
	return svc
}

// testState builds n services, alternating http and grpc, http ones
// sharing ten ports.
func testState(n, versions, endpoints int) *state.State {
	st := state.New()
	for i := range n {
		name := fmt.Sprintf("svc-%04d", i)
		protocol, port := config.ProtocolHTTP, uint32(8000+i%10)
		if i%2 == 1 {
			protocol, port = config.ProtocolGRPC, 9000
		}
		st.Services[name] = testService(name, protocol, port, versions, endpoints)
	}
	return st
}

func encodeAll(t testing.TB, r *Resources) [][]byte {
	t.Helper()
	var out [][]byte
	for _, rs := range [][]types.Resource{r.Listeners, r.Routes, r.Clusters, r.Endpoints} {
		for _, res := range rs {
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(res)
			require.NoError(t, err)
			out = append(out, b)
		}
	}
	return out
}

func names(rs []types.Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = resourceName(r)
	}
	return out
}

func find[T types.Resource](t *testing.T, rs []types.Resource, name string) T {
	t.Helper()
	for _, r := range rs {
		if resourceName(r) == name {
			v, ok := r.(T)
			require.True(t, ok, "%s is a %T", name, r)
			return v
		}
	}
	t.Fatalf("no resource named %q in %v", name, names(rs))
	var zero T
	return zero
}

func unpackHCM(t *testing.T, b []byte) *hcmv3.HttpConnectionManager {
	t.Helper()
	hcm := &hcmv3.HttpConnectionManager{}
	require.NoError(t, proto.Unmarshal(b, hcm))
	return hcm
}

func weightsOf(wc *routev3.WeightedCluster) map[string]uint32 {
	out := map[string]uint32{}
	for _, c := range wc.GetClusters() {
		out[c.GetName()] = c.GetWeight().GetValue()
	}
	return out
}
