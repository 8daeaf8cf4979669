package xds

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	overloadv3 "github.com/envoyproxy/go-control-plane/envoy/config/overload/v3"
	downstreamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	yaml "go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// ErrInvalidBootstrap is matched (errors.Is) by bootstrap options that
// cannot give a working Envoy: no node id, no xDS address, an address that
// is not host:port.
var ErrInvalidBootstrap = errors.New("invalid Envoy bootstrap options")

// XDSClusterName is the static cluster of an Envoy bootstrap that holds
// the Sluice nodes' xDS addresses.
const XDSClusterName = "sluice_xds"

// DefaultEnvoyAdmin is the admin address of a generated bootstrap when
// none is given: loopback only, since the admin interface can change the
// proxy's state.
const DefaultEnvoyAdmin = "127.0.0.1:9901"

// DefaultMaxDownstreamConnections bounds the connections a generated
// Envoy accepts, across all its listeners.
const DefaultMaxDownstreamConnections = 50000

// Reconnect backoff of the ADS stream: after a node goes away Envoy tries
// again, each time on the next address of XDSClusterName, after a jittered
// wait that starts at the base and doubles up to the max.
const (
	xdsRetryBase = 250 * time.Millisecond
	xdsRetryMax  = 5 * time.Second
)

// BootstrapOptions describe one Envoy of a fleet.
type BootstrapOptions struct {
	// NodeID and Cluster identify the proxy; Cluster, Region and Zone
	// choose its proxy group.
	NodeID, Cluster, Region, Zone string
	// XDS lists every Sluice node's xDS address (host:port); Envoy keeps
	// one ADS stream to one of them and moves to another when it fails.
	XDS []string
	// Delta selects incremental (delta) ADS instead of state of the world.
	Delta bool
	// Admin is Envoy's admin listen address (DefaultEnvoyAdmin if empty);
	// port 0 lets Envoy pick one (it writes it to --admin-address-path).
	Admin string
	// GatewayAddress, when set, is sent as node metadata
	// (MetaGatewayAddress): the IP address the gateway listeners bind.
	GatewayAddress string
	// MaxConnections bounds downstream connections
	// (DefaultMaxDownstreamConnections if zero).
	MaxConnections uint64
	// TLS, when its files are set, puts the ADS stream on mutual TLS.
	TLS BootstrapTLS
}

// EnvoyBootstrap builds a complete Envoy bootstrap for one proxy: its node
// identity and locality, listeners and clusters from ADS (LDS and CDS over
// the aggregated stream, which then carries RDS and EDS too), a static
// cluster with every Sluice xDS address (over mutual TLS when o.TLS has
// files), the admin listener and a global downstream connection limit. The result passes ValidateAll.
func EnvoyBootstrap(o BootstrapOptions) (*bootstrapv3.Bootstrap, error) {
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(o.NodeID) == "" {
		bad("a node id is required (--node-id)")
	}
	if strings.TrimSpace(o.Cluster) == "" {
		bad("a cluster is required (--cluster): it names the proxy group with region and zone")
	}
	if len(o.XDS) == 0 {
		bad("at least one Sluice xDS address is required (--xds host:port)")
	}
	var xdsHosts []*endpointv3.LbEndpoint
	byName := false
	seen := map[string]bool{}
	for i, a := range o.XDS {
		host, port, err := hostPort(a)
		if err != nil {
			bad("--xds[%d] %q: %v", i, a, err)
			continue
		}
		if seen[a] {
			bad("--xds[%d] %q is listed twice", i, a)
			continue
		}
		seen[a] = true
		if _, err := netip.ParseAddr(host); err != nil {
			byName = true
		}
		xdsHosts = append(xdsHosts, lbEndpoint(host, port))
	}
	admin := o.Admin
	if admin == "" {
		admin = DefaultEnvoyAdmin
	}
	adminHost, adminPort, err := hostPortOrZero(admin)
	if err != nil {
		bad("--admin %q: %v", admin, err)
	}
	if o.GatewayAddress != "" {
		if _, err := (Group{GatewayAddress: o.GatewayAddress}).gatewayAddress(); err != nil {
			bad("--gateway-address %q: want an IP address such as 127.0.0.1 or ::", o.GatewayAddress)
		}
	}
	problems = append(problems, o.TLS.problems()...)
	switch len(problems) {
	case 0:
	case 1:
		return nil, fmt.Errorf("%w: %s", ErrInvalidBootstrap, problems[0])
	default:
		return nil, fmt.Errorf("%w:\n  %s", ErrInvalidBootstrap, strings.Join(problems, "\n  "))
	}
	maxConns := o.MaxConnections
	if maxConns == 0 {
		maxConns = DefaultMaxDownstreamConnections
	}

	xdsCluster, err := xdsStaticCluster(xdsHosts, byName)
	if err != nil {
		return nil, err
	}
	if o.TLS.enabled() {
		if xdsCluster.TransportSocket, err = o.TLS.transportSocket(); err != nil {
			return nil, err
		}
	}
	monitor, err := marshalAny(&downstreamv3.DownstreamConnectionsConfig{MaxActiveDownstreamConnections: int64(min(maxConns, 1<<62))})
	if err != nil {
		return nil, err
	}
	apiType := corev3.ApiConfigSource_GRPC
	if o.Delta {
		apiType = corev3.ApiConfigSource_DELTA_GRPC
	}
	b := &bootstrapv3.Bootstrap{
		Node: &corev3.Node{
			Id:       o.NodeID,
			Cluster:  o.Cluster,
			Locality: &corev3.Locality{Region: o.Region, Zone: o.Zone},
		},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: &corev3.ApiConfigSource{
				ApiType:             apiType,
				TransportApiVersion: corev3.ApiVersion_V3,
				GrpcServices: []*corev3.GrpcService{{
					TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{
						ClusterName: XDSClusterName,
						RetryPolicy: &corev3.RetryPolicy{RetryBackOff: &corev3.BackoffStrategy{
							BaseInterval: durationpb.New(xdsRetryBase),
							MaxInterval:  durationpb.New(xdsRetryMax),
						}},
					}},
				}},
				SetNodeOnFirstMessageOnly: true,
			},
			LdsConfig: adsSource(),
			CdsConfig: adsSource(),
		},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{Clusters: []*clusterv3.Cluster{xdsCluster}},
		Admin: &bootstrapv3.Admin{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{
				Address:       adminHost,
				PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: adminPort},
			},
		}}},
		OverloadManager: &overloadv3.OverloadManager{
			ResourceMonitors: []*overloadv3.ResourceMonitor{{
				Name:       "envoy.resource_monitors.global_downstream_max_connections",
				ConfigType: &overloadv3.ResourceMonitor_TypedConfig{TypedConfig: monitor},
			}},
		},
	}
	if o.GatewayAddress != "" {
		b.Node.Metadata = &structpb.Struct{Fields: map[string]*structpb.Value{
			MetaGatewayAddress: structpb.NewStringValue(o.GatewayAddress),
		}}
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidBootstrap, err)
	}
	return b, nil
}

// xdsStaticCluster is the cluster of Sluice xDS addresses: HTTP/2 (gRPC),
// round robin, so a new stream after a failure goes to the next node;
// resolved by DNS when any address is a name (docker compose service
// names), static otherwise. TCP keepalives notice a node that vanished
// without closing its connections.
func xdsStaticCluster(hosts []*endpointv3.LbEndpoint, byName bool) (*clusterv3.Cluster, error) {
	opts, err := marshalAny(&upstreamhttpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
						ConnectionKeepalive: &corev3.KeepaliveSettings{
							Interval: durationpb.New(10 * time.Second),
							Timeout:  durationpb.New(5 * time.Second),
						},
					},
				},
			},
		},
	})
	if err != nil {
		return nil, err
	}
	kind := clusterv3.Cluster_STATIC
	if byName {
		kind = clusterv3.Cluster_STRICT_DNS
	}
	return &clusterv3.Cluster{
		Name:                          XDSClusterName,
		ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: kind},
		ConnectTimeout:                durationpb.New(time.Second),
		LbPolicy:                      clusterv3.Cluster_ROUND_ROBIN,
		TypedExtensionProtocolOptions: map[string]*anypb.Any{httpProtocolOptionsKey: opts},
		UpstreamConnectionOptions: &clusterv3.UpstreamConnectionOptions{TcpKeepalive: &corev3.TcpKeepalive{
			KeepaliveTime:     wrapperspb.UInt32(10),
			KeepaliveInterval: wrapperspb.UInt32(5),
			KeepaliveProbes:   wrapperspb.UInt32(3),
		}},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: XDSClusterName,
			Endpoints:   []*endpointv3.LocalityLbEndpoints{{LbEndpoints: hosts}},
		},
	}, nil
}

// hostPort splits host:port with a non-empty host and a port in 1-65535.
func hostPort(addr string) (string, uint32, error) {
	host, port, err := hostPortOrZero(addr)
	if err == nil && port == 0 {
		err = errors.New("port must be 1-65535")
	}
	return host, port, err
}

// hostPortOrZero is hostPort that also takes port 0 ("any free port";
// Envoy reports the one it took with --admin-address-path).
func hostPortOrZero(addr string) (string, uint32, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("not host:port: %v", err)
	}
	if host == "" {
		return "", 0, errors.New("no host")
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, errors.New("port must be 0-65535")
	}
	return host, uint32(port), nil
}

// Bootstrap output formats.
const (
	FormatYAML = "yaml"
	FormatJSON = "json"
)

// MarshalBootstrap renders a bootstrap as YAML or JSON with proto field
// names, in field order, with stable whitespace (protojson randomises it).
func MarshalBootstrap(b *bootstrapv3.Bootstrap, format string) ([]byte, error) {
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("marshal bootstrap: %w", err)
	}
	switch format {
	case FormatJSON:
		var buf bytes.Buffer
		if err := json.Indent(&buf, js, "", "  "); err != nil {
			return nil, fmt.Errorf("marshal bootstrap: %w", err)
		}
		buf.WriteByte('\n')
		return buf.Bytes(), nil
	case FormatYAML:
		// JSON is YAML: decoding it into a node keeps the key order.
		var n yaml.Node
		if err := yaml.Unmarshal(js, &n); err != nil {
			return nil, fmt.Errorf("marshal bootstrap: %w", err)
		}
		clearStyle(&n)
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(&n); err != nil {
			return nil, fmt.Errorf("marshal bootstrap: %w", err)
		}
		if err := enc.Close(); err != nil {
			return nil, fmt.Errorf("marshal bootstrap: %w", err)
		}
		return buf.Bytes(), nil
	}
	return nil, fmt.Errorf("%w: output format %q: want %s or %s", ErrInvalidBootstrap, format, FormatYAML, FormatJSON)
}

// clearStyle turns JSON's flow style and double quotes into block YAML,
// quoting only where YAML needs it.
func clearStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		clearStyle(c)
	}
}
