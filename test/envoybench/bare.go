package envoybench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/xds"
)

// Bare is the bare go-control-plane server of a run, wherever it runs.
type Bare interface {
	// Set publishes the fleet at split under version.
	Set(split int, version string) error
	// CPU is the CPU time the server has used so far (0 when unknown).
	CPU() time.Duration
	Close() error
}

// BareServer is go-control-plane's stock SnapshotCache in ADS mode (the
// mode Envoy fleets use: responses ordered on one stream, and Envoy asks
// for every route and endpoint the snapshot has) behind its stock server,
// with the gRPC options Sluice's xDS server uses. It holds the same
// resources Sluice translates.
type BareServer struct {
	services, port int
	cache          cachev3.SnapshotCache
	grpc           *grpc.Server
	cancel         context.CancelFunc
	resources      [2]*xds.Resources

	mu      sync.Mutex
	streams int
}

// ServeBare starts a bare server on lis holding the fleet at split.
func ServeBare(lis net.Listener, services, port, split int, version string) (*BareServer, error) {
	s := &BareServer{services: services, port: port}
	for i := range s.resources {
		r, err := Resources(services, port, i)
		if err != nil {
			return nil, err
		}
		s.resources[i] = r
	}
	s.cache = cachev3.NewSnapshotCache(true, groupKey{}, nil)
	if err := s.Set(split, version); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.grpc = grpc.NewServer(
		grpc.MaxConcurrentStreams(1<<20),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 5 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	)
	cb := serverv3.CallbackFuncs{
		StreamOpenFunc: func(context.Context, int64, string) error {
			s.mu.Lock()
			s.streams++
			s.mu.Unlock()
			return nil
		},
		StreamClosedFunc: func(int64, *corev3.Node) {
			s.mu.Lock()
			s.streams--
			s.mu.Unlock()
		},
	}
	discovery.RegisterAggregatedDiscoveryServiceServer(s.grpc, serverv3.NewServer(ctx, s.cache, cb))
	go func() { _ = s.grpc.Serve(lis) }()
	return s, nil
}

// Set publishes the fleet at split with a version per type, as
// go-control-plane is used well: the route configurations carry version
// (what a round waits for), every other type the hash of its content, so
// a change of weights resends only the routes, as Sluice does.
// NewSnapshot(version, ...) would stamp version on all four types and
// make every Envoy take in listeners, clusters and endpoints again.
func (s *BareServer) Set(split int, version string) error {
	snap := &cachev3.Snapshot{}
	for typeURL, items := range s.resources[split].ByType() {
		v := version
		if typeURL != resource.RouteType {
			h, err := contentVersion(items)
			if err != nil {
				return fmt.Errorf("bare snapshot: %w", err)
			}
			v = h
		}
		snap.Resources[cachev3.GetResponseType(typeURL)] = cachev3.NewResources(v, items)
	}
	if err := snap.Consistent(); err != nil {
		return fmt.Errorf("bare snapshot: %w", err)
	}
	return s.cache.SetSnapshot(context.Background(), Group.Key(), snap)
}

// contentVersion is a version that changes only with the resources'
// content: the SHA-256 of their deterministic encodings, in order.
func contentVersion(items []types.Resource) (string, error) {
	h := sha256.New()
	opts := proto.MarshalOptions{Deterministic: true}
	for _, r := range items {
		b, err := opts.Marshal(r)
		if err != nil {
			return "", fmt.Errorf("marshal %T: %w", r, err)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

// Streams is the number of open ADS streams.
func (s *BareServer) Streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams
}

// CPU is unknown in process: the caller's own work shares it.
func (s *BareServer) CPU() time.Duration { return 0 }

// Close stops serving.
func (s *BareServer) Close() error {
	s.grpc.Stop()
	s.cancel()
	return nil
}

// groupKey keys every Envoy by its Sluice proxy group, as Sluice does.
type groupKey struct{}

func (groupKey) ID(n *corev3.Node) string { return xds.GroupOf(n).Key() }
