package xds

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/sluicehq/sluice/config"
)

// httpListener is the Envoy gateway listener on address:port shared by
// every http service on that port (address is the group's gateway
// address). Its one filter chain holds an HttpConnectionManager
// that takes its routes from the RouteConfiguration of the same name.
func httpListener(name, address string, port uint32) (*listenerv3.Listener, error) {
	hcm, err := connectionManager(name, name)
	if err != nil {
		return nil, fmt.Errorf("Listener %q: %w", name, err)
	}
	return &listenerv3.Listener{
		Name: name,
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{
				Protocol:      corev3.SocketAddress_TCP,
				Address:       address,
				PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
			},
		}},
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{{
				Name:       wellknown.HTTPConnectionManager,
				ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcm},
			}},
		}},
	}, nil
}

// apiListener is the listener a proxyless gRPC client looks up for a
// target: named exactly as the target, with an api_listener holding the
// service's packed HttpConnectionManager (see connectionManager). All
// targets of one service share that message; resources are read-only.
func apiListener(target string, hcm *anypb.Any) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:        target,
		ApiListener: &listenerv3.ApiListener{ApiListener: hcm},
	}
}

// connectionManager is the packed HttpConnectionManager used by both kinds
// of listener: routes by RDS over ADS, and the router as the only (and so
// last) HTTP filter. xff_num_trusted_hops stays unset, as gRPC clients
// require.
func connectionManager(statPrefix, routeConfig string) (*anypb.Any, error) {
	router, err := marshalAny(&routerv3.Router{})
	if err != nil {
		return nil, err
	}
	return marshalAny(&hcmv3.HttpConnectionManager{
		StatPrefix: statPrefix,
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsSource(),
			RouteConfigName: routeConfig,
		}},
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       wellknown.Router,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router},
		}},
	})
}

// grpcTargets lists every name a gRPC client may dial the service by: its
// name and each domain, and with spec.port set also each of those with
// ":port". Duplicates are dropped; the order is that of the spec.
func grpcTargets(svc *config.Service) []string {
	hosts := make([]string, 0, 1+len(svc.Spec.Domains))
	hosts = append(hosts, svc.Metadata.Name)
	hosts = append(hosts, svc.Spec.Domains...)
	targets := make([]string, 0, 2*len(hosts))
	seen := make(map[string]bool, 2*len(hosts))
	add := func(t string) {
		if !seen[t] {
			seen[t] = true
			targets = append(targets, t)
		}
	}
	for _, h := range hosts {
		add(h)
	}
	if svc.Spec.Port != 0 {
		for _, h := range hosts {
			add(fmt.Sprintf("%s:%d", h, svc.Spec.Port))
		}
	}
	return targets
}
