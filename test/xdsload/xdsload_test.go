package xdsload

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
	"github.com/sluicehq/sluice/xds"
)

// bareServer serves a go-control-plane SnapshotCache on a loopback port.
type bareServer struct {
	addr  string
	cache cachev3.SnapshotCache
	res   [2]*xds.Resources
}

func startBare(t *testing.T, services int) *bareServer {
	t.Helper()
	docs, err := config.Parse("fleet.yaml", FleetYAML(services))
	require.NoError(t, err)
	cmd, err := state.NewCommand(state.CmdApply, time.Unix(0, 0), "test", state.ApplyPayload{Documents: docs})
	require.NoError(t, err)
	st, _, err := state.Apply(state.New(), 1, cmd)
	require.NoError(t, err)
	st1, err := withSplit(st, 1)
	require.NoError(t, err)
	group := xds.Group{Cluster: GroupCluster, Region: GroupRegion, Zone: GroupZone}
	b := &bareServer{cache: cachev3.NewSnapshotCache(false, groupHash{}, nil)}
	for i, s := range []*state.State{st, st1} {
		b.res[i], err = xds.Translate(s, group)
		require.NoError(t, err)
	}
	b.set(t, 1, 0)
	ctx, cancel := context.WithCancel(context.Background())
	g := grpc.NewServer(grpcServerOptions()...)
	discovery.RegisterAggregatedDiscoveryServiceServer(g, serverv3.NewServer(ctx, b.cache, nil))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(func() { cancel(); g.Stop() })
	b.addr = lis.Addr().String()
	return b
}

func (b *bareServer) set(t *testing.T, version uint64, split int) {
	t.Helper()
	snap, err := cachev3.NewSnapshot(strconv.FormatUint(version, 10), b.res[split].ByType())
	require.NoError(t, err)
	key := xds.Group{Cluster: GroupCluster, Region: GroupRegion, Zone: GroupZone}.Key()
	require.NoError(t, b.cache.SetSnapshot(context.Background(), key, snap))
}

func TestClientFollowsContentNotVersions(t *testing.T) {
	b := startBare(t, 5)
	opts := FleetOptions(20, 6) // 4 connections, the last one partly used
	opts.Addr = b.addr
	c, err := Dial(opts)
	require.NoError(t, err)
	defer c.Close()
	require.Len(t, c.conns, 4)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, c.WaitSynced(ctx, SplitWeights(0)))
	got := c.Responses()
	for i, n := range got {
		require.GreaterOrEqualf(t, n, int64(20), "responses of type %d", i)
	}

	// A new version with the same content: streams hold version 2, but
	// not the other split's weights.
	since := time.Now()
	b.set(t, 2, 0)
	acks, err := c.Await(ctx, since, 2, SplitWeights(0))
	require.NoError(t, err)
	require.Len(t, acks, 20)
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = c.Await(short, since, 2, SplitWeights(1))
	cancelShort()
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// The other split at version 3: every stream reports an ACK after
	// the change was made.
	since = time.Now()
	b.set(t, 3, 1)
	acks, err = c.Await(ctx, since, 3, SplitWeights(1))
	require.NoError(t, err)
	for i, a := range acks {
		require.Falsef(t, a.Before(since), "stream %d ACKed at %s, before the change at %s", i, a, since)
	}
	// A version the server never sent is never reached.
	short, cancelShort = context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = c.Await(short, since, 4, SplitWeights(1))
	cancelShort()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, c.Err())
}

func TestClientReportsStreamFailure(t *testing.T) {
	b := startBare(t, 2)
	opts := FleetOptions(3, 100)
	opts.Addr = b.addr
	opts.Target = "no-such-target"
	c, err := Dial(opts)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = c.WaitSynced(ctx, SplitWeights(0))
	require.ErrorIs(t, err, ErrStreamFailed)
	require.ErrorContains(t, err, `listener "no-such-target" missing`)
}

func TestDialRejectsBadOptions(t *testing.T) {
	_, err := Dial(Options{Streams: 1, Target: "x"})
	require.True(t, errors.Is(err, ErrBadOptions), "err = %v", err)
}

// recordingFleet is a LocalFleet that keeps its client's response counts
// when it closes.
type recordingFleet struct {
	*LocalFleet
	responses [4]int64
}

func (f *recordingFleet) Close() error {
	if c := f.Client(); c != nil {
		f.responses = c.Responses()
	}
	return f.LocalFleet.Close()
}

func TestFanoutSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Raft node")
	}
	const n, rounds = 30, 3
	var fleets []*recordingFleet
	res, err := Fanout(context.Background(), FanoutConfig{
		Streams: n, Rounds: rounds, Services: 5, Timeout: time.Minute, Restart: true, OneVersion: true,
		NewFleet: func() (Fleet, error) {
			f := &recordingFleet{LocalFleet: NewLocalFleet(FleetOptions(n, 7))}
			fleets = append(fleets, f)
			return f, nil
		},
	})
	require.NoError(t, err)
	require.NotNil(t, res.OneVersion)
	for _, p := range []PathResult{res.Sluice, res.Bare, res.Floor, *res.OneVersion} {
		require.Lenf(t, p.Rounds, rounds, "%s rounds", p.Path)
		for i := range p.Rounds {
			require.Positivef(t, p.Rounds[i], "%s round %d", p.Path, i)
			require.LessOrEqualf(t, p.Medians[i], p.Rounds[i], "%s round %d: median after last", p.Path, i)
		}
		require.Greaterf(t, p.Memory.Synced.Stack, p.Memory.Before.Stack, "%s: open streams have goroutines", p.Path)
	}
	// A cold group is built once, at the first sync and after a restart.
	require.Equal(t, uint64(1), res.Sluice.SyncBuilds)
	require.NotNil(t, res.Sluice.Restart)
	require.Equal(t, uint64(1), res.Sluice.Restart.Builds)
	require.Positive(t, res.Sluice.Restart.Sync)

	// Fleets in order: Sluice, after the restart, bare, floor, one version.
	require.Len(t, fleets, 5)
	onlyRoutes := [4]int64{n, n * (1 + rounds), n, n}
	for i, path := range map[int]string{0: "sluice", 2: "bare", 3: "floor"} {
		require.Equalf(t, onlyRoutes, fleets[i].responses, "%s: LDS, RDS, CDS, EDS responses", path)
	}
	require.Equal(t, [4]int64{n * (1 + rounds), n * (1 + rounds), n * (1 + rounds), n * (1 + rounds)}, fleets[4].responses,
		"one version: every type resent every round")
}

// BenchmarkFanout1000 times a weight change reaching 1,000 streams (10 per
// connection, client in this process) through Sluice (API, Raft,
// translation, cache), through a bare go-control-plane SnapshotCache with
// a version per type and through the floor server; one round per
// iteration. ns/op is Sluice's mean time to the last stream.
// cmd/sluice-bench runs the full comparison (docs/benchmarks.md).
func BenchmarkFanout1000(b *testing.B) {
	const n = 1000
	res, err := Fanout(context.Background(), FanoutConfig{
		Streams: n, Rounds: b.N, Timeout: time.Minute,
		NewFleet: func() (Fleet, error) { return NewLocalFleet(FleetOptions(n, 100)), nil },
	})
	if err != nil {
		b.Fatal(err)
	}
	mean := func(ds []time.Duration) float64 {
		var s time.Duration
		for _, d := range ds {
			s += d
		}
		return float64(s) / float64(len(ds))
	}
	b.ReportMetric(mean(res.Sluice.Rounds), "ns/op")
	b.ReportMetric(mean(res.Sluice.Rounds)/1e6, "sluice-ms/push")
	b.ReportMetric(mean(res.Bare.Rounds)/1e6, "bare-ms/push")
	b.ReportMetric(mean(res.Floor.Rounds)/1e6, "floor-ms/push")
	b.ReportMetric(mean(res.Sluice.Rounds)/mean(res.Bare.Rounds), "ratio-bare")
	b.ReportMetric(mean(res.Sluice.Rounds)/mean(res.Floor.Rounds), "ratio-floor")
}
