package xdsload

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/sluicehq/sluice/xds"
)

// The baselines serve xds.Translate of the states the Sluice rounds
// produced, to a fleet of their own, in this process.

// benchGroup is the proxy group of every benchmark stream.
var benchGroup = xds.Group{Cluster: GroupCluster, Region: GroupRegion, Zone: GroupZone}

// groupHash puts every node in its Sluice proxy group, so the bare cache
// keeps one snapshot for all streams, as Sluice does.
type groupHash struct{}

func (groupHash) ID(n *core.Node) string { return xds.GroupOf(n).Key() }

// grpcServerOptions are those xds.Server.Serve uses, so every path runs
// the same transport.
func grpcServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(1 << 20),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 5 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	}
}

// bareSnapshot is res with a version per type: routeVersion on routes,
// otherVersion on the other three. NewSnapshot(version, ...) would stamp
// one version on all four, and every change would resend every type.
func bareSnapshot(res *xds.Resources, routeVersion, otherVersion uint64) *cachev3.Snapshot {
	snap := &cachev3.Snapshot{}
	for typeURL, items := range res.ByType() {
		v := otherVersion
		if typeURL == resource.RouteType {
			v = routeVersion
		}
		snap.Resources[cachev3.GetResponseType(typeURL)] = cachev3.NewResources(strconv.FormatUint(v, 10), items)
	}
	return snap
}

// serve starts g on a loopback port; stop ends it.
func serve(g *grpc.Server) (addr string, stop func(), err error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	go func() { _ = g.Serve(lis) }()
	return lis.Addr().String(), g.Stop, nil
}

// openFleet reads memory, opens a fleet on addr and waits for settled;
// p.res must be set.
func openFleet(ctx context.Context, cfg FanoutConfig, p *pathRun, addr string, settled func(context.Context) error) error {
	p.res.Memory.Before = readMemory()
	fleet, err := cfg.NewFleet()
	if err != nil {
		return err
	}
	p.fleet = fleet
	p.closers = append(p.closers, func() { fleet.Close() })
	start := time.Now()
	if err := fleet.Open(ctx, addr, SplitWeights(0)); err != nil {
		return fmt.Errorf("open %d streams: %w", cfg.Streams, err)
	}
	p.res.Sync = time.Since(start)
	if err := settled(ctx); err != nil {
		return err
	}
	p.res.Memory.Synced = readMemory()
	logSynced(p.log, *p.res, cfg.Streams)
	if cfg.Synced != nil {
		cfg.Synced(p.res.Path)
	}
	p.settled = settled
	return nil
}

// newPathRun is a pathRun for path, its log set.
func newPathRun(cfg FanoutConfig, path string) *pathRun {
	return &pathRun{res: &PathResult{Path: path}, log: cfg.Logger.With("path", path, "streams", cfg.Streams)}
}

// openBare serves go-control-plane's SnapshotCache (ads=false) and
// server (its delta server when cfg.Delta: per-resource versions are
// hashes of the resources, system_version_info the type's version) and
// opens a fleet on it. Used well (oneVersion false), each type has its
// own version and a round bumps only the routes', so only route watches
// are answered, as Sluice answers only what changed. With oneVersion
// every round is NewSnapshot(version, resources), the way the stock
// examples do it.
func openBare(ctx context.Context, cfg FanoutConfig, resources [2]*xds.Resources, oneVersion bool) (_ *pathRun, err error) {
	path := "bare"
	if oneVersion {
		path = "one-version"
	}
	p := newPathRun(cfg, path)
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	key := benchGroup.Key()
	sc := cachev3.NewSnapshotCache(false, groupHash{}, nil)
	version := uint64(1)
	if err := sc.SetSnapshot(ctx, key, bareSnapshot(resources[0], version, version)); err != nil {
		return nil, err
	}
	pctx, stopServer := context.WithCancel(ctx)
	p.closers = append(p.closers, stopServer)
	g := grpc.NewServer(grpcServerOptions()...)
	discovery.RegisterAggregatedDiscoveryServiceServer(g, serverv3.NewServer(pctx, sc, nil))
	addr, stop, err := serve(g)
	if err != nil {
		return nil, err
	}
	p.closers = append(p.closers, stop)

	// Every stream has ACKed its four types once the cache holds a watch
	// per stream and type again (on delta: a delta watch).
	watches := func() int { return sc.GetStatusInfo(key).GetNumWatches() }
	if cfg.Delta {
		watches = func() int { return sc.GetStatusInfo(key).GetNumDeltaWatches() }
	}
	settled := func(ctx context.Context) error {
		return poll(ctx, 5*time.Millisecond, "server side synced", func() error {
			if n := watches(); n != 4*cfg.Streams {
				return fmt.Errorf("%d open watches, want %d", n, 4*cfg.Streams)
			}
			return nil
		})
	}
	sctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if err := openFleet(sctx, cfg, p, addr, settled); err != nil {
		return nil, err
	}
	p.push = func(ctx context.Context, _, split int) (uint64, error) {
		version++
		other := uint64(1)
		if oneVersion {
			other = version
		}
		if err := sc.SetSnapshot(ctx, key, bareSnapshot(resources[split], version, other)); err != nil {
			return 0, fmt.Errorf("set snapshot: %w", err)
		}
		return version, nil
	}
	return p, nil
}

// openFloor serves floorServer, whose round marshals the new route once
// and writes it to every stream (as a delta response to delta streams),
// and opens a fleet on it.
func openFloor(ctx context.Context, cfg FanoutConfig, resources [2]*xds.Resources) (_ *pathRun, err error) {
	p := newPathRun(cfg, "floor")
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	f := newFloorServer(resources[0])
	g := grpc.NewServer(floorOptions()...)
	f.register(g)
	addr, stop, err := serve(g)
	if err != nil {
		return nil, err
	}
	p.closers = append(p.closers, stop)

	// Every stream ACKs its four first answers and then each push.
	acked := int64(4 * cfg.Streams)
	settled := func(ctx context.Context) error {
		return poll(ctx, 5*time.Millisecond, "server side synced", func() error {
			if n := f.requests.Load(); n != acked {
				return fmt.Errorf("%d ACKs, want %d", n, acked)
			}
			return nil
		})
	}
	sctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if err := openFleet(sctx, cfg, p, addr, settled); err != nil {
		return nil, err
	}
	version := uint64(1)
	p.push = func(_ context.Context, _, split int) (uint64, error) {
		version++
		acked += int64(cfg.Streams)
		return version, f.pushRoute(resources[split], version)
	}
	return p, nil
}
