package xds

import (
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func testBootstrapOptions() BootstrapOptions {
	return BootstrapOptions{NodeID: "edge-1", Cluster: "edge", Region: "eu-west", Zone: "eu-west-1a",
		XDS: []string{"10.0.0.1:18000", "10.0.0.2:18000", "10.0.0.3:18000"}}
}

// parseBootstrap reads a rendered bootstrap back, as Envoy would: YAML is
// converted to JSON first.
func parseBootstrap(t *testing.T, data []byte, format string) *bootstrapv3.Bootstrap {
	t.Helper()
	js := data
	if format == FormatYAML {
		var v any
		require.NoError(t, yaml.Unmarshal(data, &v))
		var err error
		js, err = json.Marshal(v)
		require.NoError(t, err)
	}
	b := &bootstrapv3.Bootstrap{}
	require.NoError(t, protojson.Unmarshal(js, b))
	return b
}

func xdsAddrs(b *bootstrapv3.Bootstrap) []string {
	var out []string
	for _, lle := range b.GetStaticResources().GetClusters()[0].GetLoadAssignment().GetEndpoints() {
		for _, lb := range lle.GetLbEndpoints() {
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			out = append(out, net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue()))))
		}
	}
	return out
}

func TestEnvoyBootstrap(t *testing.T) {
	b, err := EnvoyBootstrap(testBootstrapOptions())
	require.NoError(t, err)
	require.Equal(t, "edge-1", b.GetNode().GetId())
	require.Nil(t, b.GetNode().GetMetadata(), "no gateway address: no metadata")
	require.Equal(t, Group{Cluster: "edge", Region: "eu-west", Zone: "eu-west-1a"}, GroupOf(b.GetNode()))

	dyn := b.GetDynamicResources()
	require.Equal(t, corev3.ApiConfigSource_GRPC, dyn.GetAdsConfig().GetApiType())
	require.True(t, dyn.GetAdsConfig().GetSetNodeOnFirstMessageOnly())
	require.NotNil(t, dyn.GetLdsConfig().GetAds(), "listeners over ADS")
	require.NotNil(t, dyn.GetCdsConfig().GetAds(), "clusters over ADS")
	require.Equal(t, XDSClusterName, dyn.GetAdsConfig().GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName())

	// Every xDS address is in the ADS cluster, so Envoy can fail over.
	clusters := b.GetStaticResources().GetClusters()
	require.Len(t, clusters, 1)
	require.Equal(t, XDSClusterName, clusters[0].GetName())
	require.Equal(t, clusterv3.Cluster_STATIC, clusters[0].GetType(), "IP addresses need no DNS")
	require.Equal(t, testBootstrapOptions().XDS, xdsAddrs(b))
	require.Contains(t, clusters[0].GetTypedExtensionProtocolOptions(), httpProtocolOptionsKey, "gRPC needs HTTP/2")

	require.Equal(t, "127.0.0.1", b.GetAdmin().GetAddress().GetSocketAddress().GetAddress(), "admin on loopback by default")
	require.Equal(t, uint32(9901), b.GetAdmin().GetAddress().GetSocketAddress().GetPortValue())
	require.Len(t, b.GetOverloadManager().GetResourceMonitors(), 1, "a global connection limit")
}

func TestEnvoyBootstrapVariants(t *testing.T) {
	o := testBootstrapOptions()
	o.Delta, o.Admin, o.GatewayAddress = true, "0.0.0.0:0", "127.0.0.1"
	o.XDS = []string{"sluice-1:18000", "10.0.0.2:18000"}
	b, err := EnvoyBootstrap(o)
	require.NoError(t, err)
	require.Equal(t, corev3.ApiConfigSource_DELTA_GRPC, b.GetDynamicResources().GetAdsConfig().GetApiType())
	require.Equal(t, clusterv3.Cluster_STRICT_DNS, b.GetStaticResources().GetClusters()[0].GetType(), "a name needs DNS")
	require.Equal(t, o.XDS, xdsAddrs(b))
	require.Equal(t, uint32(0), b.GetAdmin().GetAddress().GetSocketAddress().GetPortValue())
	g := GroupOf(b.GetNode())
	require.Equal(t, "127.0.0.1", g.GatewayAddress, "the gateway address travels as node metadata")
	require.Equal(t, "edge/eu-west/eu-west-1a@127.0.0.1", g.Key())
}

func TestEnvoyBootstrapMutualTLS(t *testing.T) {
	plain, err := EnvoyBootstrap(testBootstrapOptions())
	require.NoError(t, err)
	require.Nil(t, plain.GetStaticResources().GetClusters()[0].GetTransportSocket(), "no TLS files: plaintext")

	o := testBootstrapOptions()
	o.TLS = BootstrapTLS{CA: "/tls/ca.crt", Cert: "/tls/proxy-edge.crt", Key: "/tls/proxy-edge.key", ServerName: "sluice-xds.internal", TrustDomain: "prod.example"}
	b, err := EnvoyBootstrap(o)
	require.NoError(t, err)
	ts := b.GetStaticResources().GetClusters()[0].GetTransportSocket()
	require.Equal(t, "envoy.transport_sockets.tls", ts.GetName())
	ctx := &tlsv3.UpstreamTlsContext{}
	require.NoError(t, ts.GetTypedConfig().UnmarshalTo(ctx))
	require.Equal(t, "sluice-xds.internal", ctx.GetSni())
	common := ctx.GetCommonTlsContext()
	require.Equal(t, []string{"h2"}, common.GetAlpnProtocols(), "gRPC over TLS negotiates HTTP/2")
	require.Empty(t, common.GetTlsCertificates(), "no file read once at start: the certificate comes through SDS")
	files, err := o.TLS.SDSFiles()
	require.NoError(t, err)
	require.Len(t, files, 2)
	require.Regexp(t, `^/tls/proxy-edge\.sds-[0-9a-f]{12}\.json$`, files[0].Path, "next to the certificate by default")
	require.Regexp(t, `^/tls/ca\.sds-[0-9a-f]{12}\.json$`, files[1].Path)

	// The certificate: an SDS file watched in its directory, whose secret
	// names the certificate files and watches theirs.
	require.Len(t, common.GetTlsCertificateSdsSecretConfigs(), 1)
	cs := common.GetTlsCertificateSdsSecretConfigs()[0]
	require.Equal(t, SecretXDSClientCert, cs.GetName())
	require.Equal(t, files[0].Path, cs.GetSdsConfig().GetPathConfigSource().GetPath())
	require.Equal(t, "/tls", cs.GetSdsConfig().GetPathConfigSource().GetWatchedDirectory().GetPath())
	cert := sdsSecret(t, files[0].Data, SecretXDSClientCert).GetTlsCertificate()
	require.Equal(t, "/tls/proxy-edge.crt", cert.GetCertificateChain().GetFilename())
	require.Equal(t, "/tls/proxy-edge.key", cert.GetPrivateKey().GetFilename())
	require.Equal(t, "/tls", cert.GetWatchedDirectory().GetPath(), "cert and key reload together on a rename in their directory")

	// The CA through SDS too; the node identity match stays in the bootstrap.
	cv := common.GetCombinedValidationContext()
	require.Equal(t, SecretXDSCA, cv.GetValidationContextSdsSecretConfig().GetName())
	require.Equal(t, files[1].Path, cv.GetValidationContextSdsSecretConfig().GetSdsConfig().GetPathConfigSource().GetPath())
	ca := sdsSecret(t, files[1].Data, SecretXDSCA).GetValidationContext()
	require.Equal(t, "/tls/ca.crt", ca.GetTrustedCa().GetFilename())
	require.Equal(t, "/tls", ca.GetWatchedDirectory().GetPath())
	vc := cv.GetDefaultValidationContext()
	require.Len(t, vc.GetMatchTypedSubjectAltNames(), 1)
	san := vc.GetMatchTypedSubjectAltNames()[0]
	require.Equal(t, tlsv3.SubjectAltNameMatcher_URI, san.GetSanType())
	require.Equal(t, "spiffe://prod.example/sluice/node/", san.GetMatcher().GetPrefix(), "only a Sluice node of the trust domain is the xDS server")

	// Another SDS directory; the same options give the same files.
	o.TLS.SDSDir = "/etc/envoy/sds"
	again, err := o.TLS.SDSFiles()
	require.NoError(t, err)
	require.Equal(t, "/etc/envoy/sds/"+filepath.Base(files[0].Path), again[0].Path)
	require.Equal(t, files[0].Data, again[0].Data)
	o.TLS.SDSDir = ""

	o.TLS.TrustDomain = ""
	b, err = EnvoyBootstrap(o)
	require.NoError(t, err)
	require.NoError(t, b.GetStaticResources().GetClusters()[0].GetTransportSocket().GetTypedConfig().UnmarshalTo(ctx))
	require.Equal(t, "spiffe://sluice.local/sluice/node/", ctx.GetCommonTlsContext().GetCombinedValidationContext().GetDefaultValidationContext().GetMatchTypedSubjectAltNames()[0].GetMatcher().GetPrefix())
	for _, format := range []string{FormatYAML, FormatJSON} {
		out, err := MarshalBootstrap(b, format)
		require.NoError(t, err)
		require.True(t, proto.Equal(b, parseBootstrap(t, out, format)), "%s reads back with its transport socket:\n%s", format, out)
	}
}

func TestMarshalBootstrapRoundTrips(t *testing.T) {
	o := testBootstrapOptions()
	o.GatewayAddress = "::1"
	b, err := EnvoyBootstrap(o)
	require.NoError(t, err)
	for _, format := range []string{FormatYAML, FormatJSON} {
		out, err := MarshalBootstrap(b, format)
		require.NoError(t, err)
		again, err := MarshalBootstrap(b, format)
		require.NoError(t, err)
		require.Equal(t, string(out), string(again), "stable output")
		require.True(t, proto.Equal(b, parseBootstrap(t, out, format)), "%s reads back as the same bootstrap:\n%s", format, out)
	}
	_, err = MarshalBootstrap(b, "toml")
	require.ErrorIs(t, err, ErrInvalidBootstrap)
}

func TestEnvoyBootstrapRejectsBadOptions(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*BootstrapOptions)
		want string
	}{
		"no node id":      {func(o *BootstrapOptions) { o.NodeID = " " }, "node id is required"},
		"no cluster":      {func(o *BootstrapOptions) { o.Cluster = "" }, "cluster is required"},
		"no xds":          {func(o *BootstrapOptions) { o.XDS = nil }, "at least one Sluice xDS address"},
		"xds not hp":      {func(o *BootstrapOptions) { o.XDS = []string{"10.0.0.1"} }, `--xds[0] "10.0.0.1": not host:port`},
		"xds port 0":      {func(o *BootstrapOptions) { o.XDS = []string{"10.0.0.1:0"} }, "port must be 1-65535"},
		"xds twice":       {func(o *BootstrapOptions) { o.XDS = []string{"a:1", "a:1"} }, `--xds[1] "a:1" is listed twice`},
		"admin no port":   {func(o *BootstrapOptions) { o.Admin = "127.0.0.1" }, `--admin "127.0.0.1"`},
		"admin bad port":  {func(o *BootstrapOptions) { o.Admin = "127.0.0.1:99999" }, "port must be 0-65535"},
		"gateway by name": {func(o *BootstrapOptions) { o.GatewayAddress = "localhost" }, `--gateway-address "localhost"`},
		"tls ca only":     {func(o *BootstrapOptions) { o.TLS.CA = "ca.crt" }, "missing --tls-cert, --tls-key"},
		"tls no key":      {func(o *BootstrapOptions) { o.TLS = BootstrapTLS{CA: "ca.crt", Cert: "p.crt"} }, "missing --tls-key"},
		"tls name only":   {func(o *BootstrapOptions) { o.TLS.ServerName = "n1" }, "--tls-server-name, --tls-trust-domain and --tls-sds-dir need"},
	} {
		t.Run(name, func(t *testing.T) {
			o := testBootstrapOptions()
			tc.edit(&o)
			b, err := EnvoyBootstrap(o)
			require.Nil(t, b)
			require.True(t, errors.Is(err, ErrInvalidBootstrap), "%v", err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	// Every problem is reported at once.
	_, err := EnvoyBootstrap(BootstrapOptions{})
	require.ErrorContains(t, err, "node id is required")
	require.ErrorContains(t, err, "cluster is required")
	require.ErrorContains(t, err, "at least one Sluice xDS address")
}

// sdsSecret reads the one secret of an SDS file.
func sdsSecret(t *testing.T, data []byte, name string) *tlsv3.Secret {
	t.Helper()
	var resp discoveryv3.DiscoveryResponse
	require.NoError(t, protojson.Unmarshal(data, &resp))
	require.Len(t, resp.GetResources(), 1)
	s := &tlsv3.Secret{}
	require.NoError(t, resp.GetResources()[0].UnmarshalTo(s))
	require.Equal(t, name, s.GetName())
	return s
}
