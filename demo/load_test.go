package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/xds"
)

// staticLoad is a Load over a fixed set of addresses, round robin.
func staticLoad(t testing.TB, cfg LoadConfig, addrs ...string) *Load {
	t.Helper()
	r := manual.NewBuilderWithScheme("static")
	var st resolver.State
	for _, a := range addrs {
		st.Addresses = append(st.Addresses, resolver.Address{Addr: a})
	}
	r.InitialState(st)
	cfg.Target = "static:///greeter"
	cfg.DialOptions = []grpc.DialOption{grpc.WithResolvers(r), grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`)}
	l, err := NewLoad(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

func TestLoadCountsVersionsAndErrors(t *testing.T) {
	v1, v2 := startBackend(t, "v1", Faults{}, 1), startBackend(t, "v2", Faults{}, 2)
	l := staticLoad(t, LoadConfig{RPS: 400}, v1.GRPCAddr(), v2.GRPCAddr())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()

	require.Eventually(t, func() bool {
		c := l.Counts()
		return c.ByVersion["v1"] >= 20 && c.ByVersion["v2"] >= 20
	}, 10*time.Second, 10*time.Millisecond, "both versions answer")
	require.NoError(t, v2.SetFaults(Faults{ErrorRatio: 1}))
	require.Eventually(t, func() bool { return l.Counts().ByCode["UNAVAILABLE"] >= 20 }, 10*time.Second, 10*time.Millisecond, "v2 errors counted")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	// Run waited for every RPC in flight: the totals no longer move and
	// agree with what the backends served.
	c := l.Counts()
	require.Equal(t, c, l.Counts())
	require.Equal(t, c.OK, sum(c.ByVersion))
	require.Equal(t, c.Errors, sum(c.ByCode))
	require.Equal(t, []string{"UNAVAILABLE"}, slices.Sorted(maps.Keys(c.ByCode)), "stopping does not count RPCs as cancelled")
	require.Equal(t, []string{"v1", "v2"}, c.Versions())
	served := counter(t, v1, ProtocolGRPC, "OK") + counter(t, v2, ProtocolGRPC, "OK") + counter(t, v2, ProtocolGRPC, "UNAVAILABLE")
	require.Equal(t, float64(c.RPCs()), served)
	require.Equal(t, float64(c.ByVersion["v1"]), counter(t, v1, ProtocolGRPC, "OK"))
}

func TestLoadSendsHeaders(t *testing.T) {
	b := startBackend(t, "v1", Faults{}, 1)
	// Serve the same backend behind an interceptor that records metadata.
	seen := make(chan metadata.MD, 1)
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		select {
		case seen <- md:
		default:
		}
		return h(ctx, req)
	}))
	testgrpc.RegisterTestServiceServer(srv, b)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	l := staticLoad(t, LoadConfig{Headers: map[string]string{"X-Tenant": "acme", "x-cohort": "beta"}}, lis.Addr().String())
	v, err := l.Call(context.Background())
	require.NoError(t, err)
	require.Equal(t, "v1", v)
	md := <-seen
	require.Equal(t, []string{"acme"}, md.Get("x-tenant"))
	require.Equal(t, []string{"beta"}, md.Get("x-cohort"))
}

func TestLoadRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]LoadConfig{
		"no target":       {},
		"negative rps":    {Target: "greeter", RPS: -1},
		"reserved header": {Target: "greeter", Headers: map[string]string{"grpc-timeout": "1s"}},
		"pseudo header":   {Target: "greeter", Headers: map[string]string{":authority": "x"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewLoad(cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
}

func TestBootstrapAcceptedByGRPC(t *testing.T) {
	boot, err := Bootstrap(Node{ID: "n1", Cluster: "demo", Region: "eu-west", Zone: "eu-west-1a"}, "127.0.0.1:18000")
	require.NoError(t, err)
	require.JSONEq(t, `{
		"xds_servers": [{"server_uri": "127.0.0.1:18000", "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3"]}],
		"node": {"id": "n1", "cluster": "demo", "locality": {"region": "eu-west", "zone": "eu-west-1a"}}
	}`, string(boot))
	again, err := Bootstrap(Node{ID: "n1", Cluster: "demo", Region: "eu-west", Zone: "eu-west-1a"}, "127.0.0.1:18000")
	require.NoError(t, err)
	require.Equal(t, boot, again, "same input, same bytes")
	_, err = xds.NewXDSResolverWithConfigForTesting(boot)
	require.NoError(t, err)

	_, err = Bootstrap(Node{ID: "n1"})
	require.ErrorIs(t, err, ErrInvalidConfig)
	_, err = Bootstrap(Node{ID: "n1"}, "127.0.0.1:18000", "")
	require.ErrorIs(t, err, ErrInvalidConfig)
	_, err = Bootstrap(Node{}, "127.0.0.1:18000")
	require.ErrorIs(t, err, ErrInvalidConfig)

	// Every node is listed, in order.
	many, err := Bootstrap(Node{ID: "n1"}, "dns:///sluice-xds:18000", "10.0.0.1:18000", "10.0.0.2:18000")
	require.NoError(t, err)
	require.JSONEq(t, `{
		"xds_servers": [
			{"server_uri": "dns:///sluice-xds:18000", "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3"]},
			{"server_uri": "10.0.0.1:18000", "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3"]},
			{"server_uri": "10.0.0.2:18000", "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3"]}],
		"node": {"id": "n1", "locality": {}}
	}`, string(many))
	_, err = xds.NewXDSResolverWithConfigForTesting(many)
	require.NoError(t, err)
}

func TestCountsSub(t *testing.T) {
	prev := Counts{OK: 10, Errors: 1, ByVersion: map[string]uint64{"v1": 10}, ByCode: map[string]uint64{"UNAVAILABLE": 1}}
	cur := Counts{OK: 25, Errors: 1, Dropped: 2, ByVersion: map[string]uint64{"v1": 13, "v2": 12}, ByCode: map[string]uint64{"UNAVAILABLE": 1}}
	d := cur.Sub(prev)
	require.Equal(t, Counts{OK: 15, Dropped: 2, ByVersion: map[string]uint64{"v1": 3, "v2": 12}, ByCode: map[string]uint64{}}, d)
	require.InDelta(t, 0.8, d.Share("v2"), 1e-9)
	require.Zero(t, Counts{}.Share("v1"))
}

func TestReportLines(t *testing.T) {
	require.Equal(t, "["+strings.Repeat("█", 6)+strings.Repeat("·", 24)+"]", Bar(0.2, 30))
	require.Equal(t, "["+strings.Repeat("·", 30)+"]", Bar(-1, 30))
	require.Equal(t, "["+strings.Repeat("█", 30)+"]", Bar(2, 30))

	at := time.Date(2030, 1, 2, 12, 0, 5, 0, time.UTC)
	c := Counts{OK: 48, Errors: 2, ByVersion: map[string]uint64{"v1": 36, "v2": 12}, ByCode: map[string]uint64{"UNAVAILABLE": 2}}
	line := FormatLine(at, c, []string{"v1", "v2"}, "v2", false)
	require.True(t, strings.HasPrefix(line, "12:00:05   50 rpc  v1  75.0% | v2  25.0%  err 2 (4.0%)"), line)
	require.True(t, strings.HasSuffix(line, Bar(0.25, BarWidth)+" v2"), line)

	var buf bytes.Buffer
	r := NewReporter(&buf)
	require.NoError(t, r.Report(at, time.Second, c, false))
	// A version seen before stays in the line at 0%.
	require.NoError(t, r.Report(at, time.Second, Counts{OK: 10, ByVersion: map[string]uint64{"v1": 10}}, false))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	require.Contains(t, lines[1], "v1 100.0% | v2   0.0%")

	buf.Reset()
	r.JSON = true
	require.NoError(t, r.Report(at, 2*time.Second, c, true))
	var got map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &got), buf.String())
	require.Equal(t, map[string]any{
		"time": "2030-01-02T12:00:05Z", "seconds": 2.0, "total": true, "rpcs": 50.0, "ok": 48.0, "errors": 2.0,
		"versions": map[string]any{"v1": 36.0, "v2": 12.0}, "shares": map[string]any{"v1": 0.75, "v2": 0.25},
		"codes": map[string]any{"UNAVAILABLE": 2.0},
	}, got, buf.String())
}
