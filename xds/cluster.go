package xds

import (
	"fmt"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sluicehq/sluice/config"
)

// connectTimeout is the upstream connect timeout of every cluster.
const connectTimeout = 5 * time.Second

// httpProtocolOptionsKey is the typed_extension_protocol_options key Envoy
// reads upstream HTTP settings from.
const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// cluster is the Cluster of one service version: EDS over ADS, round robin.
// Its endpoints are the ClusterLoadAssignment of the same name. Versions at
// weight 0 still get their cluster, so moving traffic only changes routes.
// grpc services speak HTTP/2 upstream so that Envoy can proxy gRPC.
func (t *translator) cluster(svc *config.Service, v *config.Version) (*clusterv3.Cluster, error) {
	name := clusterName(svc.Metadata.Name, v.Name)
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource()},
		ConnectTimeout:       durationpb.New(connectTimeout),
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
	}
	if svc.Spec.Protocol == config.ProtocolGRPC {
		opts, err := http2Options()
		if err != nil {
			return nil, fmt.Errorf("Cluster %q: %w", name, err)
		}
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpProtocolOptionsKey: opts}
	}
	return c, nil
}

// http2Options are upstream protocol options forcing HTTP/2.
func http2Options() (*anypb.Any, error) {
	return marshalAny(&upstreamhttpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
				},
			},
		},
	})
}
