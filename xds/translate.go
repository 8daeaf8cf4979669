// Package xds turns Sluice's replicated state into Envoy xDS resources and
// serves them to Envoy proxies and proxyless gRPC clients.
//
// Translation (translate.go and the per-type files) is a pure function of
// the state and the proxy group; serving (the server and cache) lives apart
// from it and never builds resources itself.
package xds

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// Group is a proxy group: the proxies that share one snapshot. It is
// derived from the xDS node's cluster, locality and gateway address.
type Group struct {
	Cluster string
	Region  string
	Zone    string
	// GatewayAddress is the IP address the group's gateway listeners bind,
	// from the node metadata key MetaGatewayAddress; empty binds
	// DefaultGatewayAddress. It is a property of the host a proxy runs on
	// (an edge proxy binds every interface, a sidecar loopback), so it
	// comes with the proxy and, being part of the group, keeps
	// translation a function of (state, group).
	GatewayAddress string
}

// MetaGatewayAddress is the node metadata key an Envoy sets (`sluice envoy
// bootstrap --gateway-address`) to bind its gateway listeners to one IP
// address instead of DefaultGatewayAddress.
const MetaGatewayAddress = "sluice.gatewayAddress"

// DefaultGatewayAddress is what gateway listeners bind when the proxy's
// node metadata names no address: every IPv4 interface.
const DefaultGatewayAddress = "0.0.0.0"

// maxGatewayAddress bounds the gateway address GroupOf keeps: no IP
// address is longer, so a longer value is invalid anyway and is cut, which
// keeps hostile metadata out of group keys and messages.
const maxGatewayAddress = 64

// GroupOf returns the group of an xDS node. A nil node, or one without a
// locality, belongs to the group with empty fields. A gateway address that
// is not a string is kept as its JSON text, and one longer than any IP
// address is cut, so that Translate reports it.
func GroupOf(node *corev3.Node) Group {
	g := Group{
		Cluster: node.GetCluster(),
		Region:  node.GetLocality().GetRegion(),
		Zone:    node.GetLocality().GetZone(),
	}
	if v, ok := node.GetMetadata().GetFields()[MetaGatewayAddress]; ok {
		if s, isString := v.GetKind().(*structpb.Value_StringValue); isString {
			g.GatewayAddress = s.StringValue
		} else {
			b, _ := protojson.Marshal(v)
			g.GatewayAddress = string(b)
		}
		if len(g.GatewayAddress) > maxGatewayAddress {
			g.GatewayAddress = g.GatewayAddress[:maxGatewayAddress] + "..."
		}
	}
	return g
}

// Key is a stable string for the group, "cluster/region/zone", suitable as
// a snapshot cache key; a group with a gateway address appends
// "@address".
func (g Group) Key() string {
	k := g.Cluster + "/" + g.Region + "/" + g.Zone
	if g.GatewayAddress != "" {
		k += "@" + g.GatewayAddress
	}
	return k
}

// gatewayAddress is the address the group's gateway listeners bind, or an
// error when the node metadata holds something that is not an IP address.
func (g Group) gatewayAddress() (string, error) {
	if g.GatewayAddress == "" {
		return DefaultGatewayAddress, nil
	}
	ip, err := netip.ParseAddr(g.GatewayAddress)
	if err != nil || ip.Zone() != "" {
		return "", fmt.Errorf("%w: node metadata %s = %q: want an IP address such as 127.0.0.1 or ::",
			ErrInvalidResource, MetaGatewayAddress, g.GatewayAddress)
	}
	return ip.String(), nil
}

// Resources is one group's full configuration. Each slice is sorted by
// resource name. Resources are read-only once returned: they may be handed
// to many streams at once.
type Resources struct {
	Listeners []types.Resource
	Routes    []types.Resource
	Clusters  []types.Resource
	Endpoints []types.Resource
}

// ByType returns the resources keyed by xDS type URL, the shape
// go-control-plane's cache.NewSnapshot takes.
func (r *Resources) ByType() map[resource.Type][]types.Resource {
	return map[resource.Type][]types.Resource{
		resource.ListenerType: r.Listeners,
		resource.RouteType:    r.Routes,
		resource.ClusterType:  r.Clusters,
		resource.EndpointType: r.Endpoints,
	}
}

// Translate builds the xDS resources of one proxy group from the state. It
// is pure: the same state and group always give the same resources in the
// same order. The result has passed Check; on any problem Translate returns
// an error naming the resource and no resources.
func Translate(st *state.State, g Group) (*Resources, error) {
	gateway, err := g.gatewayAddress()
	if err != nil {
		return nil, fmt.Errorf("translate for group %s: %w", g.Key(), err)
	}
	t := &translator{group: g, st: st, gateway: gateway}
	var names []string
	if st != nil {
		names = st.ServiceNames()
	}
	for _, name := range names {
		if err := t.service(st.Services[name]); err != nil {
			return nil, fmt.Errorf("translate for group %s: %w", g.Key(), err)
		}
	}
	res, err := t.finish()
	if err != nil {
		return nil, fmt.Errorf("translate for group %s: %w", g.Key(), err)
	}
	if err := Check(res); err != nil {
		return nil, fmt.Errorf("translate for group %s: %w", g.Key(), err)
	}
	return res, nil
}

// translator accumulates the resources of one group while services are
// visited in name order.
type translator struct {
	// group is the proxy group being translated for. Every per-service
	// decision that may differ between groups (per-region routes, local
	// endpoints first) takes it from here.
	group Group
	// st is the state being translated (release weights, cohorts).
	st *state.State
	// gateway is the IP address gateway listeners bind.
	gateway string

	// httpPorts holds the virtual hosts of the http services sharing a
	// listener port; one Listener and one RouteConfiguration per port are
	// built from it in finish.
	httpPorts map[uint32][]*routev3.VirtualHost

	listeners []types.Resource
	routes    []types.Resource
	clusters  []types.Resource
	endpoints []types.Resource
}

// service adds every resource one service contributes.
func (t *translator) service(svc *config.Service) error {
	if svc == nil {
		return nil
	}
	name := svc.Metadata.Name
	// While a release runs, its weights replace the static ones.
	weights := t.st.RouteWeights(name)
	for i := range svc.Spec.Versions {
		v := &svc.Spec.Versions[i]
		c, err := t.cluster(svc, v)
		if err != nil {
			return err
		}
		cla, err := t.loadAssignment(svc, v)
		if err != nil {
			return err
		}
		t.clusters = append(t.clusters, c)
		t.endpoints = append(t.endpoints, cla)
	}
	switch svc.Spec.Protocol {
	case config.ProtocolHTTP:
		if svc.Spec.Port == 0 {
			return fmt.Errorf("%w: Service %q: an http service needs a port", ErrInvalidResource, name)
		}
		if err := t.addGateway(svc, weights); err != nil {
			return err
		}
	case config.ProtocolGRPC:
		targets := grpcTargets(svc)
		rc, err := t.grpcRouteConfig(svc, weights, targets)
		if err != nil {
			return err
		}
		t.routes = append(t.routes, rc)
		hcm, err := connectionManager(rc.GetName(), rc.GetName())
		if err != nil {
			return fmt.Errorf("Service %q: %w", name, err)
		}
		for _, target := range targets {
			t.listeners = append(t.listeners, apiListener(target, hcm))
		}
		// Envoy takes api listeners only from its bootstrap: a grpc
		// service with a port is also served on that port's gateway
		// listener (HTTP/2, codec auto), like an http service.
		if svc.Spec.Port != 0 {
			if err := t.addGateway(svc, weights); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%w: Service %q: unsupported protocol %q",
			ErrInvalidResource, name, svc.Spec.Protocol)
	}
	return nil
}

// finish builds the shared per-port http resources and sorts every type by
// resource name.
func (t *translator) finish() (*Resources, error) {
	ports := make([]uint32, 0, len(t.httpPorts))
	for p := range t.httpPorts {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	for _, port := range ports {
		name := httpResourceName(port)
		t.routes = append(t.routes, httpRouteConfig(name, t.httpPorts[port]))
		l, err := httpListener(name, t.gateway, port)
		if err != nil {
			return nil, err
		}
		t.listeners = append(t.listeners, l)
	}
	r := &Resources{
		Listeners: sortByName(t.listeners),
		Routes:    sortByName(t.routes),
		Clusters:  sortByName(t.clusters),
		Endpoints: sortByName(t.endpoints),
	}
	return r, nil
}

// resourceName returns the xDS name of a resource: its name, or for a
// ClusterLoadAssignment its cluster name.
func resourceName(r types.Resource) string {
	switch v := r.(type) {
	case interface{ GetClusterName() string }:
		return v.GetClusterName()
	case interface{ GetName() string }:
		return v.GetName()
	}
	return ""
}

// sortByName sorts resources by name; equal names keep their order so that
// duplicates (which Check rejects) are still reported deterministically.
func sortByName(rs []types.Resource) []types.Resource {
	slices.SortStableFunc(rs, func(a, b types.Resource) int {
		return cmp.Compare(resourceName(a), resourceName(b))
	})
	return rs
}

// clusterName is the name of the Cluster and ClusterLoadAssignment of one
// service version.
func clusterName(service, version string) string {
	return service + "/" + version
}

// httpResourceName names the Listener and RouteConfiguration shared by the
// http services on one port.
func httpResourceName(port uint32) string {
	return fmt.Sprintf("http_%d", port)
}

// grpcRouteName names the RouteConfiguration of one grpc service.
func grpcRouteName(service string) string {
	return "grpc_" + service
}

// adsSource is the config source "from the same ADS stream".
func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}

// marshalAny packs m deterministically, so that equal configuration always
// gives equal bytes.
func marshalAny(m proto.Message) (*anypb.Any, error) {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		return nil, fmt.Errorf("pack %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	return a, nil
}
