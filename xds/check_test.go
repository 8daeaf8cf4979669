package xds

import (
	"errors"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The hand-built resources below form a small valid set: an api listener
// "greeter" and an http listener "http_80", their route configurations,
// three EDS clusters and their load assignments. Each Check case breaks one
// thing.

func testHCM(routeConfig string) *hcmv3.HttpConnectionManager {
	return &hcmv3.HttpConnectionManager{
		StatPrefix: routeConfig,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsSource(),
			RouteConfigName: routeConfig,
		}},
		HttpFilters: []*hcmv3.HttpFilter{routerFilter()},
	}
}

func routerFilter() *hcmv3.HttpFilter {
	a, err := anypb.New(&routerv3.Router{})
	if err != nil {
		panic(err)
	}
	return &hcmv3.HttpFilter{Name: wellknown.Router, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}}
}

func pack(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	require.NoError(t, err)
	return a
}

func testAPIListener(t *testing.T, name string, hcm *hcmv3.HttpConnectionManager) *listenerv3.Listener {
	return &listenerv3.Listener{Name: name, ApiListener: &listenerv3.ApiListener{ApiListener: pack(t, hcm)}}
}

func testHTTPListener(t *testing.T, name string, port uint32, hcm *hcmv3.HttpConnectionManager) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name: name,
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: "0.0.0.0", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
		}}},
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name:       wellknown.HTTPConnectionManager,
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: pack(t, hcm)},
		}}}},
	}
}

func testRoute(name, vhost string, domains []string, action *routev3.RouteAction) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{
		Name: name,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    vhost,
			Domains: domains,
			Routes: []*routev3.Route{{
				Name:   defaultRouteName,
				Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: ""}},
				Action: &routev3.Route_Route{Route: action},
			}},
		}},
	}
}

func weighted(pairs ...any) *routev3.RouteAction {
	wc := &routev3.WeightedCluster{}
	for i := 0; i < len(pairs); i += 2 {
		wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{
			Name:   pairs[i].(string),
			Weight: wrapperspb.UInt32(uint32(pairs[i+1].(int))),
		})
	}
	return &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}}
}

func testCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource()},
		ConnectTimeout:       durationpb.New(connectTimeout),
	}
}

func testLocality(region, zone string, addrs ...string) *endpointv3.LocalityLbEndpoints {
	lle := &endpointv3.LocalityLbEndpoints{
		Locality:            &corev3.Locality{Region: region, Zone: zone},
		LoadBalancingWeight: wrapperspb.UInt32(uint32(len(addrs))),
	}
	for _, a := range addrs {
		host, port, err := splitAddress(a)
		if err != nil {
			panic(err)
		}
		lle.LbEndpoints = append(lle.LbEndpoints, lbEndpoint(host, port))
	}
	return lle
}

func testCLA(name string, localities ...*endpointv3.LocalityLbEndpoints) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: localities}
}

func validSet(t *testing.T) *Resources {
	return &Resources{
		Listeners: []types.Resource{
			testAPIListener(t, "greeter", testHCM("grpc_greeter")),
			testHTTPListener(t, "http_80", 80, testHCM("http_80")),
		},
		Routes: []types.Resource{
			testRoute("grpc_greeter", "greeter", []string{"greeter"}, weighted("greeter/v1", 80, "greeter/v2", 20)),
			testRoute("http_80", "web", []string{"web", "web:80"},
				&routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "web/v1"}}),
		},
		Clusters: []types.Resource{testCluster("greeter/v1"), testCluster("greeter/v2"), testCluster("web/v1")},
		Endpoints: []types.Resource{
			testCLA("greeter/v1", testLocality("eu", "eu-1", "10.0.0.1:80", "10.0.0.2:80"), testLocality("", "", "10.0.0.3:80")),
			testCLA("greeter/v2", testLocality("eu", "eu-1", "10.0.1.1:80")),
			testCLA("web/v1", testLocality("us", "us-1", "web-1.internal:8080")),
		},
	}
}

func TestCheckAcceptsValidSet(t *testing.T) {
	require.NoError(t, Check(validSet(t)))
	require.NoError(t, Check(&Resources{}))
	require.NoError(t, Check(nil))
}

func TestCheckCatches(t *testing.T) {
	cases := map[string]struct {
		mutate func(t *testing.T, r *Resources)
		is     error
		want   []string // substrings of the error
	}{
		"dangling RDS name on an api listener": {
			mutate: func(t *testing.T, r *Resources) {
				r.Listeners[0] = testAPIListener(t, "greeter", testHCM("grpc_nope"))
			},
			is:   ErrDanglingReference,
			want: []string{`Listener "greeter": api_listener: rds.route_config_name: no RouteConfiguration named "grpc_nope"`},
		},
		"dangling RDS name in a filter chain": {
			mutate: func(t *testing.T, r *Resources) {
				r.Listeners[1] = testHTTPListener(t, "http_80", 80, testHCM("http_81"))
			},
			is:   ErrDanglingReference,
			want: []string{`Listener "http_80": filter_chains[0].filters[0]: rds.route_config_name: no RouteConfiguration named "http_81"`},
		},
		"dangling cluster in weighted clusters": {
			mutate: func(t *testing.T, r *Resources) {
				r.Routes[0] = testRoute("grpc_greeter", "greeter", []string{"greeter"}, weighted("greeter/v1", 80, "greeter/v9", 20))
			},
			is:   ErrDanglingReference,
			want: []string{`RouteConfiguration "grpc_greeter": virtual host "greeter": route 0 "default": no Cluster named "greeter/v9"`},
		},
		"dangling single cluster": {
			mutate: func(t *testing.T, r *Resources) { r.Clusters = r.Clusters[:2] },
			is:     ErrDanglingReference,
			want:   []string{`RouteConfiguration "http_80": virtual host "web": route 0 "default": no Cluster named "web/v1"`},
		},
		"EDS cluster without load assignment": {
			mutate: func(t *testing.T, r *Resources) { r.Endpoints = r.Endpoints[1:] },
			is:     ErrDanglingReference,
			want:   []string{`Cluster "greeter/v1": eds: no ClusterLoadAssignment named "greeter/v1"`},
		},
		"EDS service name without load assignment": {
			mutate: func(t *testing.T, r *Resources) {
				r.Clusters[2].(*clusterv3.Cluster).EdsClusterConfig.ServiceName = "web-eds"
			},
			is:   ErrDanglingReference,
			want: []string{`Cluster "web/v1": eds: no ClusterLoadAssignment named "web-eds"`},
		},
		"all-zero weights": {
			mutate: func(t *testing.T, r *Resources) {
				r.Routes[0] = testRoute("grpc_greeter", "greeter", []string{"greeter"}, weighted("greeter/v1", 0, "greeter/v2", 0))
			},
			is:   ErrInvalidResource,
			want: []string{`RouteConfiguration "grpc_greeter": virtual host "greeter": route 0 "default": weighted_clusters weights sum to 0`},
		},
		"locality without weight": {
			mutate: func(t *testing.T, r *Resources) {
				r.Endpoints[0].(*endpointv3.ClusterLoadAssignment).Endpoints[1].LoadBalancingWeight = nil
			},
			is:   ErrInvalidResource,
			want: []string{`ClusterLoadAssignment "greeter/v1": endpoints[1] (locality /): load_balancing_weight must be set and non-zero`},
		},
		"locality with weight 0": {
			mutate: func(t *testing.T, r *Resources) {
				r.Endpoints[1].(*endpointv3.ClusterLoadAssignment).Endpoints[0].LoadBalancingWeight = wrapperspb.UInt32(0)
			},
			is:   ErrInvalidResource,
			want: []string{`ClusterLoadAssignment "greeter/v2": endpoints[0] (locality eu/eu-1): load_balancing_weight must be set and non-zero`},
		},
		"locality without Locality": {
			mutate: func(t *testing.T, r *Resources) {
				r.Endpoints[2].(*endpointv3.ClusterLoadAssignment).Endpoints[0].Locality = nil
			},
			is:   ErrInvalidResource,
			want: []string{`ClusterLoadAssignment "web/v1": endpoints[0]: locality is missing`},
		},
		"locality listed twice": {
			mutate: func(t *testing.T, r *Resources) {
				cla := r.Endpoints[1].(*endpointv3.ClusterLoadAssignment)
				cla.Endpoints = append(cla.Endpoints, testLocality("eu", "eu-1", "10.0.1.2:80"))
			},
			is:   ErrInvalidResource,
			want: []string{`ClusterLoadAssignment "greeter/v2": endpoints[1] (locality eu/eu-1): locality listed twice at priority 0`},
		},
		"zero endpoint weight": {
			mutate: func(t *testing.T, r *Resources) {
				r.Endpoints[0].(*endpointv3.ClusterLoadAssignment).Endpoints[0].LbEndpoints[1].LoadBalancingWeight = wrapperspb.UInt32(0)
			},
			is:   ErrInvalidResource,
			want: []string{`ClusterLoadAssignment "greeter/v1": endpoints[0] (locality eu/eu-1): lb_endpoints[1]: load_balancing_weight is 0`},
		},
		"duplicate address across localities": {
			mutate: func(t *testing.T, r *Resources) {
				cla := r.Endpoints[0].(*endpointv3.ClusterLoadAssignment)
				cla.Endpoints[1] = testLocality("", "", "10.0.0.1:80")
			},
			is:   ErrInvalidResource,
			want: []string{`ClusterLoadAssignment "greeter/v1": endpoints[1] (locality /): lb_endpoints[0]: address 10.0.0.1:80 appears more than once`},
		},
		"router not last": {
			mutate: func(t *testing.T, r *Resources) {
				hcm := testHCM("grpc_greeter")
				hcm.HttpFilters = append(hcm.HttpFilters, &hcmv3.HttpFilter{
					Name:       "envoy.filters.http.fault",
					ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: pack(t, &corev3.Locality{})},
				})
				r.Listeners[0] = testAPIListener(t, "greeter", hcm)
			},
			is: ErrInvalidResource,
			want: []string{
				`Listener "greeter": api_listener: router filter "envoy.filters.http.router" is not last`,
				`Listener "greeter": api_listener: last http filter "envoy.filters.http.fault" is not the router`,
			},
		},
		"no http filters": {
			mutate: func(t *testing.T, r *Resources) {
				hcm := testHCM("http_80")
				hcm.HttpFilters = nil
				r.Listeners[1] = testHTTPListener(t, "http_80", 80, hcm)
			},
			is:   ErrInvalidResource,
			want: []string{`Listener "http_80": filter_chains[0].filters[0]: http_filters is empty`},
		},
		"xff_num_trusted_hops on an api listener": {
			mutate: func(t *testing.T, r *Resources) {
				hcm := testHCM("grpc_greeter")
				hcm.XffNumTrustedHops = 1
				r.Listeners[0] = testAPIListener(t, "greeter", hcm)
			},
			is:   ErrInvalidResource,
			want: []string{`Listener "greeter": api_listener: xff_num_trusted_hops must be unset`},
		},
		"RDS not from ADS": {
			mutate: func(t *testing.T, r *Resources) {
				hcm := testHCM("grpc_greeter")
				hcm.GetRds().ConfigSource = &corev3.ConfigSource{
					ConfigSourceSpecifier: &corev3.ConfigSource_Path{Path: "/etc/routes.yaml"},
				}
				r.Listeners[0] = testAPIListener(t, "greeter", hcm)
			},
			is:   ErrInvalidResource,
			want: []string{`Listener "greeter": api_listener: rds.config_source must be ads`},
		},
		"api listener holding something else": {
			mutate: func(t *testing.T, r *Resources) {
				r.Listeners[0] = &listenerv3.Listener{Name: "greeter", ApiListener: &listenerv3.ApiListener{
					ApiListener: pack(t, &routerv3.Router{}),
				}}
			},
			is:   ErrInvalidResource,
			want: []string{`Listener "greeter": api_listener: holds "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"`},
		},
		"EDS not from ADS": {
			mutate: func(t *testing.T, r *Resources) {
				r.Clusters[0].(*clusterv3.Cluster).EdsClusterConfig.EdsConfig = nil
			},
			is:   ErrInvalidResource,
			want: []string{`Cluster "greeter/v1": eds_cluster_config.eds_config must be ads`},
		},
		"lb policy gRPC does not support": {
			mutate: func(t *testing.T, r *Resources) {
				r.Clusters[1].(*clusterv3.Cluster).LbPolicy = clusterv3.Cluster_RANDOM
			},
			is:   ErrInvalidResource,
			want: []string{`Cluster "greeter/v2": lb_policy RANDOM is not supported by gRPC clients`},
		},
		"proto validation (ValidateAll)": {
			mutate: func(t *testing.T, r *Resources) {
				r.Clusters[2].(*clusterv3.Cluster).ConnectTimeout = durationpb.New(-connectTimeout)
			},
			is:   ErrInvalidResource,
			want: []string{`Cluster "web/v1": invalid Cluster.ConnectTimeout`},
		},
		"duplicate names": {
			mutate: func(t *testing.T, r *Resources) { r.Clusters = append(r.Clusters, testCluster("web/v1")) },
			is:     ErrInvalidResource,
			want:   []string{`Cluster "web/v1": name defined more than once`},
		},
		"duplicate domain across virtual hosts": {
			mutate: func(t *testing.T, r *Resources) {
				rc := r.Routes[1].(*routev3.RouteConfiguration)
				dup := proto.Clone(rc.VirtualHosts[0]).(*routev3.VirtualHost)
				dup.Name = "web2"
				dup.Domains = []string{"WEB:80"}
				rc.VirtualHosts = append(rc.VirtualHosts, dup)
			},
			is:   ErrInvalidResource,
			want: []string{`RouteConfiguration "http_80": virtual host "web2": domain "WEB:80" is also in virtual host "web"`},
		},
		"wrong type in a list": {
			mutate: func(t *testing.T, r *Resources) { r.Routes = append(r.Routes, testCluster("oops")) },
			is:     ErrInvalidResource,
			want:   []string{`RouteConfiguration "oops": resource of type *clusterv3.Cluster in the RouteConfiguration list`},
		},
		"inline route configuration is checked too": {
			mutate: func(t *testing.T, r *Resources) {
				hcm := testHCM("")
				hcm.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{
					RouteConfig: testRoute("inline", "greeter", []string{"greeter"}, weighted("greeter/v3", 1)),
				}
				r.Listeners[0] = testAPIListener(t, "greeter", hcm)
			},
			is:   ErrDanglingReference,
			want: []string{`Listener "greeter": api_listener: route_config: virtual host "greeter": route 0 "default": no Cluster named "greeter/v3"`},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := validSet(t)
			tc.mutate(t, r)
			err := Check(r)
			require.Error(t, err)
			require.ErrorIs(t, err, tc.is)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestCheckReportsEveryProblem(t *testing.T) {
	r := validSet(t)
	r.Listeners[0] = testAPIListener(t, "greeter", testHCM("grpc_nope"))
	r.Endpoints[2].(*endpointv3.ClusterLoadAssignment).Endpoints[0].LoadBalancingWeight = nil
	err := Check(r)
	require.ErrorIs(t, err, ErrDanglingReference)
	require.ErrorIs(t, err, ErrInvalidResource)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 2, "one line per problem: %v", err)
	require.True(t, strings.HasPrefix(lines[0], `ClusterLoadAssignment "web/v1"`), lines[0])
	require.True(t, strings.HasPrefix(lines[1], `Listener "greeter"`), lines[1])

	var joined interface{ Unwrap() []error }
	require.True(t, errors.As(err, &joined))
	require.Len(t, joined.Unwrap(), 2)
}

// Check sees what Translate produced: breaking a translated set is caught.
func TestCheckOnTranslatedResources(t *testing.T) {
	r, err := Translate(testState(6, 2, 3), Group{})
	require.NoError(t, err)
	require.NoError(t, Check(r))
	r.Clusters = r.Clusters[1:]
	err = Check(r)
	require.ErrorIs(t, err, ErrDanglingReference)
	require.ErrorContains(t, err, `no Cluster named "svc-0000/v1"`)
}
