package xdsload

import (
	"context"
	"net"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
)

// deltaFleet is FleetOptions on delta streams.
func deltaFleet(n, perConn int) Options {
	o := FleetOptions(n, perConn)
	o.Delta = true
	return o
}

func TestDeltaFanoutSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Raft node")
	}
	const n, rounds = 50, 2
	var fleets []*recordingFleet
	res, err := Fanout(context.Background(), FanoutConfig{
		Streams: n, Rounds: rounds, Services: 5, Timeout: time.Minute, Restart: true, Delta: true,
		NewFleet: func() (Fleet, error) {
			f := &recordingFleet{LocalFleet: NewLocalFleet(deltaFleet(n, 7))}
			fleets = append(fleets, f)
			return f, nil
		},
	})
	require.NoError(t, err)
	require.True(t, res.Delta)
	require.Nil(t, res.OneVersion)
	for _, p := range []PathResult{res.Sluice, res.Bare, res.Floor} {
		require.Lenf(t, p.Rounds, rounds, "%s rounds", p.Path)
		for i := range p.Rounds {
			require.Positivef(t, p.Rounds[i], "%s round %d", p.Path, i)
		}
	}
	require.Equal(t, uint64(1), res.Sluice.SyncBuilds)
	require.NotNil(t, res.Sluice.Restart)
	require.Equal(t, uint64(1), res.Sluice.Restart.Builds)

	// Fleets in order: Sluice, after the restart, bare, floor. Each
	// round sends the changed route only; a delta stream got each other
	// type once.
	require.Len(t, fleets, 4)
	onlyRoutes := [4]int64{n, n * (1 + rounds), n, n}
	for i, path := range map[int]string{0: "sluice", 2: "bare", 3: "floor"} {
		require.Equalf(t, onlyRoutes, fleets[i].responses, "%s: LDS, RDS, CDS, EDS delta responses", path)
	}
	require.Equal(t, [4]int64{n, n, n, n}, fleets[1].responses, "after the restart: one response per type")
}

func TestDeltaRefusesOneVersion(t *testing.T) {
	_, err := Fanout(context.Background(), FanoutConfig{
		Streams: 1, Rounds: 1, Delta: true, OneVersion: true,
		NewFleet: func() (Fleet, error) { return NewLocalFleet(deltaFleet(1, 1)), nil },
	})
	require.ErrorIs(t, err, ErrBadOptions)
}

// TestDeltaNACKFailsStream serves a listener for the target without an
// api_listener over go-control-plane's delta server: every stream NACKs
// it, and the client reports ErrStreamFailed.
func TestDeltaNACKFailsStream(t *testing.T) {
	const n = 3
	sc := cachev3.NewSnapshotCache(false, groupHash{}, nil)
	snap, err := cachev3.NewSnapshot("7", map[resource.Type][]types.Resource{
		resource.ListenerType: {&listenerv3.Listener{Name: BenchService}},
	})
	require.NoError(t, err)
	require.NoError(t, sc.SetSnapshot(context.Background(), benchGroup.Key(), snap))
	nacks := make(chan *discovery.DeltaDiscoveryRequest, n)
	cb := serverv3.CallbackFuncs{StreamDeltaRequestFunc: func(_ int64, req *discovery.DeltaDiscoveryRequest) error {
		if req.GetErrorDetail() != nil {
			nacks <- req
		}
		return nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	g := grpc.NewServer(grpcServerOptions()...)
	discovery.RegisterAggregatedDiscoveryServiceServer(g, serverv3.NewServer(ctx, sc, cb))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(func() { cancel(); g.Stop() })

	opts := deltaFleet(n, 100)
	opts.Addr = lis.Addr().String()
	c, err := Dial(opts)
	require.NoError(t, err)
	defer c.Close()
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	err = c.WaitSynced(wctx, SplitWeights(0))
	require.ErrorIs(t, err, ErrStreamFailed)
	require.ErrorContains(t, err, "decode api_listener")
	select {
	case req := <-nacks:
		require.Equal(t, resource.ListenerType, req.GetTypeUrl())
		require.NotEmpty(t, req.GetResponseNonce(), "a NACK answers the response's nonce")
		require.Contains(t, req.GetErrorDetail().GetMessage(), "api_listener")
	case <-wctx.Done():
		t.Fatal("the server never received a NACK")
	}
}
