package xds

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	grpcxds "google.golang.org/grpc/xds"

	"github.com/sluicehq/sluice/certs"
	"github.com/sluicehq/sluice/state"
)

// echoBackend answers UnaryCall with its name.
type echoBackend struct {
	testgrpc.UnimplementedTestServiceServer
	name string
}

func (b *echoBackend) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return &testgrpc.SimpleResponse{Hostname: b.name}, nil
}

func startEcho(t *testing.T, name string) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(g, &echoBackend{name: name})
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

// tlsPKI is a development CA with a node and two proxy certificates, and a
// proxy certificate of another CA.
type tlsPKI struct{ dir, otherDir string }

func newTLSPKI(t *testing.T) tlsPKI {
	t.Helper()
	p := tlsPKI{dir: t.TempDir(), otherDir: t.TempDir()}
	_, err := certs.Init(certs.InitOptions{Dir: p.dir, Now: time.Now(), Validity: time.Hour,
		Nodes: map[string][]string{"n1": {"127.0.0.1"}}, Proxies: []string{"web", "payments"}})
	require.NoError(t, err)
	_, err = certs.Init(certs.InitOptions{Dir: p.otherDir, Now: time.Now(), Validity: time.Hour, Proxies: []string{"web"}})
	require.NoError(t, err)
	return p
}

func (p tlsPKI) file(dir, name string) string { return filepath.Join(dir, name) }

// startTLSServer serves state with one gRPC service "greeter" whose only
// version runs at backend, over TLS, requiring client certificates and
// binding them to their clusters when mtls is set.
func startTLSServer(t *testing.T, p tlsPKI, backend string, mtls bool) string {
	t.Helper()
	src := &memSource{st: state.New()}
	src.apply(t, fmt.Sprintf(`apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: greeter}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: %q, region: r1}]}
`, backend))
	store, err := certs.Load(certs.Files{Cert: p.file(p.dir, "node-n1.crt"), Key: p.file(p.dir, "node-n1.key"), CA: p.file(p.dir, "ca.crt")}, certs.Options{})
	require.NoError(t, err)
	opts := Options{Debounce: time.Millisecond, Creds: credentials.NewTLS(store.ServerConfig(certs.ServerOptions{RequireClientCert: mtls}))}
	if mtls {
		opts.Authorizer = ClusterIdentity{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv := NewServer(ctx, src, opts)
	go srv.Run(ctx)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ctx, lis) }()
	return lis.Addr().String()
}

// grpcTLSBootstrap is a grpc-go xDS bootstrap with "tls" channel
// credentials: the file-watcher certificate provider reads the CA and,
// for mutual TLS, the proxy's certificate and key.
func grpcTLSBootstrap(xdsAddr, cluster, ca, cert, key string) []byte {
	creds := map[string]any{"ca_certificate_file": ca, "refresh_interval": "1s"}
	if cert != "" {
		creds["certificate_file"], creds["private_key_file"] = cert, key
	}
	b, _ := json.Marshal(map[string]any{
		"xds_servers": []any{map[string]any{
			"server_uri":      xdsAddr,
			"channel_creds":   []any{map[string]any{"type": "tls", "config": creds}},
			"server_features": []string{"xds_v3"},
		}},
		"node": map[string]any{"id": cluster + "-1", "cluster": cluster, "locality": map[string]any{"region": "r1"}},
	})
	return b
}

// callGreeter resolves xds:///greeter with the bootstrap and makes one RPC.
func callGreeter(t *testing.T, bootstrap []byte, timeout time.Duration) (string, error) {
	t.Helper()
	res, err := grpcxds.NewXDSResolverWithConfigForTesting(bootstrap)
	require.NoError(t, err)
	conn, err := grpc.NewClient("xds:///greeter", grpc.WithResolvers(res), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r, err := testgrpc.NewTestServiceClient(conn).UnaryCall(ctx, &testgrpc.SimpleRequest{}, grpc.WaitForReady(true))
	if err != nil {
		return "", err
	}
	return r.GetHostname(), nil
}

// TestGRPCClientOverTLS: grpc-go's own xDS client, with "tls" channel
// credentials and the file-watcher provider, resolves and calls a service
// over a TLS xDS port, and over mutual TLS with its proxy certificate.
func TestGRPCClientOverTLS(t *testing.T) {
	p := newTLSPKI(t)
	backend := startEcho(t, "v1")
	ca := p.file(p.dir, "ca.crt")

	tlsOnly := startTLSServer(t, p, backend, false)
	got, err := callGreeter(t, grpcTLSBootstrap(tlsOnly, "web", ca, "", ""), 30*time.Second)
	require.NoError(t, err)
	require.Equal(t, "v1", got)

	mutual := startTLSServer(t, p, backend, true)
	got, err = callGreeter(t, grpcTLSBootstrap(mutual, "web", ca, p.file(p.dir, "proxy-web.crt"), p.file(p.dir, "proxy-web.key")), 30*time.Second)
	require.NoError(t, err)
	require.Equal(t, "v1", got)

	// The intruder: a valid proxy certificate of cluster "payments" asking
	// for cluster "web" never gets config, so its RPC cannot be routed.
	_, err = callGreeter(t, grpcTLSBootstrap(mutual, "web", ca, p.file(p.dir, "proxy-payments.crt"), p.file(p.dir, "proxy-payments.key")), 3*time.Second)
	require.Error(t, err)
}

// rawADS opens an ADS stream with creds as node cluster and asks for
// listeners; it returns the first response or the stream's error.
func rawADS(t *testing.T, addr string, creds credentials.TransportCredentials, cluster string) (*discovery.DiscoveryResponse, error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.Send(&discovery.DiscoveryRequest{Node: &core.Node{Id: "intruder-1", Cluster: cluster}, TypeUrl: resource.ListenerType}); err != nil {
		return nil, err
	}
	return s.Recv()
}

// TestIntruderGetsNothing: over mutual TLS, the only clients that receive
// resources are proxies whose certificate names the cluster they ask for.
// Plaintext, no certificate, another CA's certificate and a certificate of
// another cluster get an error and no resource.
func TestIntruderGetsNothing(t *testing.T) {
	p := newTLSPKI(t)
	addr := startTLSServer(t, p, startEcho(t, "v1"), true)
	store := func(dir, name string) *certs.Store {
		s, err := certs.Load(certs.Files{Cert: p.file(dir, name+".crt"), Key: p.file(dir, name+".key"), CA: p.file(p.dir, "ca.crt")}, certs.Options{})
		require.NoError(t, err)
		return s
	}
	creds := func(dir, name string) credentials.TransportCredentials {
		return credentials.NewTLS(store(dir, name).ClientConfig(certs.ClientOptions{}))
	}

	resp, err := rawADS(t, addr, creds(p.dir, "proxy-web"), "web")
	require.NoError(t, err)
	require.NotEmpty(t, resp.GetResources(), "the web proxy gets its listeners")

	resp, err = rawADS(t, addr, creds(p.dir, "proxy-web"), "unknown-cluster")
	require.Equal(t, codes.PermissionDenied, status.Code(err), "%v", err)
	require.Nil(t, resp)

	for name, c := range map[string]credentials.TransportCredentials{
		"plaintext":      insecure.NewCredentials(),
		"no certificate": credentials.NewTLS(&tls.Config{InsecureSkipVerify: true}), //nolint:gosec // the server is what is tested
		"another CA":     creds(p.otherDir, "proxy-web"),
	} {
		resp, err := rawADS(t, addr, c, "web")
		require.Error(t, err, name)
		require.Nil(t, resp, name)
	}
}

// TestGroupRules: identities are matched by URI pattern or CN, groups by
// segment; the first matching rule decides.
func TestGroupRules(t *testing.T) {
	r := &GroupRules{Rules: []GroupRule{
		{Identity: "spiffe://prod.example/ns/shop/*", Groups: []string{"shop/*/*", "shop-canary/eu-west/*"}},
		{Identity: "CN=edge-eu", Groups: []string{"edge"}},
	}}
	require.NoError(t, r.check("rules.yaml"))
	shop := certs.Identity{URIs: []string{"spiffe://prod.example/ns/shop/sa/envoy"}}
	require.NoError(t, r.Authorize(shop, Group{Cluster: "shop", Region: "us", Zone: "a"}))
	require.NoError(t, r.Authorize(shop, Group{Cluster: "shop-canary", Region: "eu-west", Zone: "b"}))
	require.ErrorIs(t, r.Authorize(shop, Group{Cluster: "shop-canary", Region: "us"}), ErrGroupDenied)
	require.ErrorIs(t, r.Authorize(shop, Group{Cluster: "payments"}), ErrGroupDenied)
	edge := certs.Identity{CommonName: "edge-eu"}
	require.NoError(t, r.Authorize(edge, Group{Cluster: "edge", Region: "x", Zone: "y"}))
	require.ErrorIs(t, r.Authorize(certs.Identity{CommonName: "edge-us"}, Group{Cluster: "edge"}), ErrGroupDenied)

	bad := &GroupRules{Rules: []GroupRule{{Identity: "", Groups: []string{"a/b"}}}}
	require.ErrorContains(t, bad.check("rules.yaml"), `rules[0].identity: required`)
	require.ErrorContains(t, bad.check("rules.yaml"), `rules[0].groups[0]: "a/b": want cluster or cluster/region/zone`)
}

// peerStream is a server stream whose context carries a client address.
type peerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s peerStream) Context() context.Context { return s.ctx }

func TestRefusedStreamsAreLogged(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	ss := peerStream{ctx: peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 4242}})}
	for _, tc := range []struct {
		err    error
		logged bool
	}{
		{status.Error(codes.PermissionDenied, "xds: denied"), true},
		{status.Error(codes.Unauthenticated, "xds: no certificate"), true},
		{status.Error(codes.Canceled, "gone"), false},
		{nil, false},
	} {
		buf.Reset()
		next := func(any, grpc.ServerStream, *grpc.StreamServerInfo, grpc.StreamHandler) error { return tc.err }
		err := logRefusals(log, next)(nil, ss, &grpc.StreamServerInfo{}, nil)
		require.Equal(t, tc.err, err, "the refusal reaches the client unchanged")
		if !tc.logged {
			require.Empty(t, buf.String(), "%v", tc.err)
			continue
		}
		require.Contains(t, buf.String(), `msg="xds stream refused" peer=10.0.0.9:4242 code=`+status.Code(tc.err).String())
	}
}
