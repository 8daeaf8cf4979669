package xds

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// placedEndpoint is one endpoint with its address split, ready to be
// grouped by locality. health is UNKNOWN for a listed endpoint (Envoy and
// gRPC treat it as healthy), HEALTHY or UNHEALTHY for a discovered one.
type placedEndpoint struct {
	region, zone string
	host         string
	port         uint32
	health       corev3.HealthStatus
}

// loadAssignment is the ClusterLoadAssignment of one service version. Its
// endpoints are grouped by locality (region, zone) in sorted order, and
// within a locality sorted by address, so the output does not depend on the
// order endpoints are listed in. Every locality carries a Locality (empty
// for endpoints without one) and a load_balancing_weight equal to its
// number of endpoints: gRPC clients ignore a locality without a weight and
// reject one without a Locality. Endpoint weights are left unset (equal).
// A version with a discovery source has the endpoints last recorded for
// that source (none before the first observation: fail closed).
func (t *translator) loadAssignment(svc *config.Service, v *config.Version) (*endpointv3.ClusterLoadAssignment, error) {
	name := clusterName(svc.Metadata.Name, v.Name)
	placed, err := t.placeEndpoints(svc, v)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(placed, func(a, b placedEndpoint) int {
		return cmp.Or(
			cmp.Compare(a.region, b.region),
			cmp.Compare(a.zone, b.zone),
			cmp.Compare(a.host, b.host),
			cmp.Compare(a.port, b.port),
		)
	})
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: name}
	for start := 0; start < len(placed); {
		end := start + 1
		for end < len(placed) && placed[end].region == placed[start].region && placed[end].zone == placed[start].zone {
			end++
		}
		lbs := make([]*endpointv3.LbEndpoint, 0, end-start)
		for _, p := range placed[start:end] {
			lb := lbEndpoint(p.host, p.port)
			lb.HealthStatus = p.health
			lbs = append(lbs, lb)
		}
		cla.Endpoints = append(cla.Endpoints, &endpointv3.LocalityLbEndpoints{
			Locality:            &corev3.Locality{Region: placed[start].region, Zone: placed[start].zone},
			LbEndpoints:         lbs,
			LoadBalancingWeight: wrapperspb.UInt32(uint32(len(lbs))),
		})
		start = end
	}
	return cla, nil
}

// lbEndpoint is one endpoint at host:port, with no weight of its own.
func lbEndpoint(host string, port uint32) *endpointv3.LbEndpoint {
	return &endpointv3.LbEndpoint{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
				SocketAddress: &corev3.SocketAddress{
					Protocol:      corev3.SocketAddress_TCP,
					Address:       host,
					PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
				},
			}},
		}},
	}
}

// splitAddress splits "host:port" (IPv6 hosts in brackets) into a host and
// a port in 1-65535.
func splitAddress(addr string) (string, uint32, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q is not host:port: %v", addr, err)
	}
	if host == "" {
		return "", 0, fmt.Errorf("address %q has no host", addr)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return "", 0, fmt.Errorf("address %q: port must be 1-65535", addr)
	}
	return host, uint32(port), nil
}

// placeEndpoints splits the addresses of a version's endpoints: those
// listed in the spec, or those discovered for it.
func (t *translator) placeEndpoints(svc *config.Service, v *config.Version) ([]placedEndpoint, error) {
	if v.Discovery != nil {
		return t.placeDiscovered(svc, v)
	}
	placed := make([]placedEndpoint, len(v.Endpoints))
	for i, ep := range v.Endpoints {
		host, port, err := splitAddress(ep.Address)
		if err != nil {
			return nil, fmt.Errorf("%w: Service %q: version %q: endpoint %d: %v",
				ErrInvalidResource, svc.Metadata.Name, v.Name, i, err)
		}
		placed[i] = placedEndpoint{region: ep.Region, zone: ep.Zone, host: host, port: port}
	}
	return placed, nil
}

// placeDiscovered places the endpoints recorded for a version's discovery
// source, each with its Envoy health status.
func (t *translator) placeDiscovered(svc *config.Service, v *config.Version) ([]placedEndpoint, error) {
	if t.st == nil {
		return nil, nil
	}
	set, ok := t.st.DiscoveredEndpoints(svc.Metadata.Name, v)
	if !ok {
		return nil, nil
	}
	placed := make([]placedEndpoint, len(set.Endpoints))
	for i, ep := range set.Endpoints {
		host, port, err := splitAddress(ep.Address)
		if err != nil {
			return nil, fmt.Errorf("%w: Service %q: version %q: discovered endpoint %d: %v",
				ErrInvalidResource, svc.Metadata.Name, v.Name, i, err)
		}
		placed[i] = placedEndpoint{region: ep.Region, zone: ep.Zone, host: host, port: port, health: healthStatus(ep.Health)}
	}
	return placed, nil
}

// healthStatus is the Envoy health status of an observed health.
func healthStatus(h state.EndpointHealth) corev3.HealthStatus {
	if h == state.Unhealthy {
		return corev3.HealthStatus_UNHEALTHY
	}
	return corev3.HealthStatus_HEALTHY
}
