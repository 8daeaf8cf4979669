package test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/xds"
)

// backend is a real gRPC server that answers UnaryCall with its label.
type backend struct {
	testgrpc.UnimplementedTestServiceServer
	label string
	addr  string
	srv   *grpc.Server
}

func (b *backend) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return &testgrpc.SimpleResponse{Hostname: b.label}, nil
}

func startBackend(t testing.TB, label string) *backend {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &backend{label: label, addr: lis.Addr().String(), srv: grpc.NewServer()}
	testgrpc.RegisterTestServiceServer(b.srv, b)
	go func() { _ = b.srv.Serve(lis) }()
	t.Cleanup(b.srv.Stop)
	return b
}

// xdsClient is a proxyless gRPC client that resolves its target through a
// Sluice node with grpc-go's own xDS client.
type xdsClient struct {
	conn *grpc.ClientConn
	tc   testgrpc.TestServiceClient
}

type nodeLocality struct{ cluster, region, zone string }

// bootstrapJSON is grpc-go's xDS bootstrap listing every given Sluice
// node, in order of preference.
func bootstrapJSON(nodeID string, loc nodeLocality, xdsAddrs ...string) []byte {
	servers := make([]any, 0, len(xdsAddrs))
	for _, a := range xdsAddrs {
		servers = append(servers, map[string]any{
			"server_uri":      a,
			"channel_creds":   []any{map[string]any{"type": "insecure"}},
			"server_features": []string{"xds_v3"},
		})
	}
	b, _ := json.Marshal(map[string]any{
		"xds_servers": servers,
		"node": map[string]any{
			"id":       nodeID,
			"cluster":  loc.cluster,
			"locality": map[string]any{"region": loc.region, "zone": loc.zone},
		},
	})
	return b
}

func newXDSClient(t testing.TB, xdsAddr, target, nodeID string, loc nodeLocality) *xdsClient {
	t.Helper()
	return newXDSClientOf(t, target, bootstrapJSON(nodeID, loc, xdsAddr))
}

// newXDSClientOf is a client with its own bootstrap.
func newXDSClientOf(t testing.TB, target string, bootstrap []byte) *xdsClient {
	t.Helper()
	res, err := xds.NewXDSResolverWithConfigForTesting(bootstrap)
	require.NoError(t, err)
	conn, err := grpc.NewClient("xds:///"+target, grpc.WithResolvers(res), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return &xdsClient{conn: conn, tc: testgrpc.NewTestServiceClient(conn)}
}

func (c *xdsClient) call(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r, err := c.tc.UnaryCall(ctx, &testgrpc.SimpleRequest{})
	if err != nil {
		return "", err
	}
	return r.GetHostname(), nil
}

// counts sends n RPCs and counts answers by backend label.
func (c *xdsClient) counts(t testing.TB, n int) map[string]int {
	t.Helper()
	out := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			label, err := c.call(context.Background())
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			out[label]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("rpc failed: %v", err)
	}
	return out
}

// waitAll waits until k consecutive RPCs all reach backends whose labels
// satisfy want.
func (c *xdsClient) waitAll(t testing.TB, timeout time.Duration, what string, want func(label string) bool) {
	t.Helper()
	eventually(t, timeout, what, func() error {
		for i := 0; i < 30; i++ {
			label, err := c.call(context.Background())
			if err != nil {
				return err
			}
			if !want(label) {
				return fmt.Errorf("rpc %d reached %q", i, label)
			}
		}
		return nil
	})
}

func grpcServiceYAML(name string, w1, w2 int, v1, v2 []string) string {
	eps := func(addrs []string, region string) string {
		parts := make([]string, len(addrs))
		for i, a := range addrs {
			parts[i] = fmt.Sprintf("{address: %q, region: %s, zone: %s-1}", a, region, region)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprintf(`apiVersion: sluice.dev/v1alpha1
kind: Service
metadata:
  name: %s
spec:
  protocol: grpc
  domains: [%s.internal]
  versions:
    - name: v1
      weight: %d
      endpoints: %s
    - name: v2
      weight: %d
      endpoints: %s
`, name, name, w1, eps(v1, "eu-west"), w2, eps(v2, "us-east"))
}

// checkShare asserts that got out of n lies within 4.5 standard
// deviations of the binomial mean n*p.
func checkShare(t testing.TB, got, n int, p float64) {
	t.Helper()
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	dev := math.Abs(float64(got)-mean) / sd
	require.LessOrEqualf(t, dev, 4.5, "got %d of %d, expected %.0f ± %.1f (%.1f σ)", got, n, mean, sd, dev)
	t.Logf("share %d/%d = %.3f, expected %.3f (%.2f σ)", got, n, float64(got)/float64(n), p, dev)
}

// TestGRPCClientFollowsRoutes runs grpc-go's real xDS client against a
// 3-node cluster and two real gRPC backends.
func TestGRPCClientFollowsRoutes(t *testing.T) { testGRPCClientFollowsRoutes(t) }

// TestGRPCClientFollowsRoutesGCPStream is TestGRPCClientFollowsRoutes on
// servers running go-control-plane's state-of-the-world stream loop
// instead of Sluice's own (--xds-stream gcp).
func TestGRPCClientFollowsRoutesGCPStream(t *testing.T) {
	testGRPCClientFollowsRoutes(t, "--xds-stream", "gcp")
}

func testGRPCClientFollowsRoutes(t *testing.T, extra ...string) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	procs := startCluster(t, 3, extra...)
	leader, followers := splitLeader(t, procs)
	follower := followers[0]
	v1, v2 := startBackend(t, "v1"), startBackend(t, "v2")
	_, err := follower.client().Apply(ctxT(t), "greeter.yaml", []byte(grpcServiceYAML("greeter", 80, 20, []string{v1.addr}, []string{v2.addr})))
	require.NoError(t, err)

	// One client on the leader, one on a follower, in different groups.
	onLeader := newXDSClient(t, leader.xds, "greeter", "client-a", nodeLocality{"e2e", "eu-west", "eu-west-1"})
	onFollower := newXDSClient(t, follower.xds, "greeter.internal", "client-b", nodeLocality{"e2e", "us-east", "us-east-1"})
	for _, c := range []*xdsClient{onLeader, onFollower} {
		eventually(t, 30*time.Second, "first RPC through xDS", func() error {
			_, err := c.call(context.Background())
			return err
		})
	}

	// 80/20: the share reaching v1 is binomial around 80%.
	const n = 2000
	got := onLeader.counts(t, n)
	require.Equal(t, n, got["v1"]+got["v2"], "answers from unknown backends: %v", got)
	checkShare(t, got["v1"], n, 0.8)
	got = onFollower.counts(t, n)
	checkShare(t, got["v1"], n, 0.8)

	// 0/100: every RPC reaches v2, on both nodes' clients.
	_, err = leader.client().Apply(ctxT(t), "greeter.yaml", []byte(grpcServiceYAML("greeter", 0, 100, []string{v1.addr}, []string{v2.addr})))
	require.NoError(t, err)
	onlyV2 := func(l string) bool { return l == "v2" }
	onLeader.waitAll(t, 10*time.Second, "all traffic on v2 (leader client)", onlyV2)
	onFollower.waitAll(t, 10*time.Second, "all traffic on v2 (follower client)", onlyV2)

	// At 0/100 the client subscribes to the v2 cluster only; an endpoint
	// change of that live version must still reach it.
	v2b := startBackend(t, "v2b")
	_, err = follower.client().Apply(ctxT(t), "greeter.yaml", []byte(grpcServiceYAML("greeter", 0, 100, []string{v1.addr}, []string{v2.addr, v2b.addr})))
	require.NoError(t, err)
	for _, c := range []*xdsClient{onLeader, onFollower} {
		eventually(t, 10*time.Second, "new v2 endpoint receives traffic", func() error {
			got := c.counts(t, 40)
			if got["v2b"] == 0 || got["v1"] > 0 {
				return fmt.Errorf("counts %v", got)
			}
			return nil
		})
	}

	// Every node serves the same version for the same state, and both
	// groups report their streams synced (ACKed) at that version.
	st, err := leader.client().XDSStatus(ctxT(t))
	require.NoError(t, err)
	for _, p := range []*proc{leader, follower} {
		eventually(t, 10*time.Second, p.id+" groups synced", func() error {
			s, err := p.client().XDSStatus(context.Background())
			if err != nil {
				return err
			}
			if s.StateIndex != st.StateIndex {
				return fmt.Errorf("state index %d, leader %d", s.StateIndex, st.StateIndex)
			}
			if len(s.Groups) != 1 {
				return fmt.Errorf("groups %+v", s.Groups)
			}
			g := s.Groups[0]
			if g.SnapshotIndex != st.StateIndex || g.Synced != g.Streams || g.AckedIndex != st.StateIndex || len(g.NACKs) > 0 {
				return fmt.Errorf("group %+v", g)
			}
			return nil
		})
	}

	// Closing the clients makes the nodes forget their groups.
	onLeader.conn.Close()
	onFollower.conn.Close()
	for _, p := range []*proc{leader, follower} {
		eventually(t, 10*time.Second, p.id+" forgets closed groups", func() error {
			s, err := p.client().XDSStatus(context.Background())
			if err != nil {
				return err
			}
			if len(s.Groups) != 0 {
				return fmt.Errorf("groups %+v", s.Groups)
			}
			return nil
		})
	}
}
