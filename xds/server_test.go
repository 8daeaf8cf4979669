package xds

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/stretchr/testify/require"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// memSource is an in-memory state source that the test changes by
// applying documents, as the FSM would.
type memSource struct {
	mu    sync.Mutex
	st    *state.State
	index uint64
	subs  []chan struct{}
}

func (m *memSource) State() *state.State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st
}

func (m *memSource) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	m.mu.Lock()
	m.subs = append(m.subs, ch)
	m.mu.Unlock()
	return ch, func() {}
}

func (m *memSource) apply(t *testing.T, yamlDoc string) uint64 {
	t.Helper()
	docs, err := config.Parse("test.yaml", []byte(yamlDoc))
	require.NoError(t, err)
	cmd, err := state.NewCommand(state.CmdApply, time.Unix(0, 0), "test", state.ApplyPayload{Documents: docs})
	require.NoError(t, err)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.index++
	st, _, err := state.Apply(m.st, m.index, cmd)
	require.NoError(t, err)
	m.st = st
	m.notifyLocked()
	return st.Index
}

func svcYAML(w1 int, v2Endpoints ...string) string {
	eps := `[{address: "10.0.0.2:80", region: r1}]`
	if len(v2Endpoints) > 0 {
		eps = "["
		for i, e := range v2Endpoints {
			if i > 0 {
				eps += ", "
			}
			eps += fmt.Sprintf("{address: %q, region: r1}", e)
		}
		eps += "]"
	}
	return fmt.Sprintf(`apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: greeter}
spec:
  protocol: grpc
  domains: [greeter.internal]
  versions:
    - {name: v1, weight: %d, endpoints: [{address: "10.0.0.1:80", region: r1}]}
    - {name: v2, weight: %d, endpoints: %s}
---
apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: other}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: "10.0.0.9:80"}]}
`, w1, 100-w1, eps)
}

type fixture struct {
	src  *memSource
	srv  *Server
	conn *grpc.ClientConn
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, Options{Debounce: time.Millisecond})
}

// newFixtureWith starts a server with opts over svcYAML(80) and waits for
// its first rebuild.
func newFixtureWith(t *testing.T, opts Options) *fixture {
	t.Helper()
	src := &memSource{st: state.New()}
	src.apply(t, svcYAML(80))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv := NewServer(ctx, src, opts)
	go srv.Run(ctx)
	waitUntil(t, "the first rebuild", srv.Ready)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return &fixture{src: src, srv: srv, conn: conn}
}

// adsStream is a raw ADS client stream.
type adsStream struct {
	t      *testing.T
	s      discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node   *core.Node
	recv   chan *discovery.DiscoveryResponse
	cancel context.CancelFunc
}

func (f *fixture) stream(t *testing.T, nodeID, region string) *adsStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := discovery.NewAggregatedDiscoveryServiceClient(f.conn).StreamAggregatedResources(ctx)
	require.NoError(t, err)
	a := &adsStream{t: t, s: s, node: &core.Node{Id: nodeID, Cluster: "c", Locality: &core.Locality{Region: region}},
		recv: make(chan *discovery.DiscoveryResponse, 64), cancel: cancel}
	go func() {
		for {
			r, err := s.Recv()
			if err != nil {
				close(a.recv)
				return
			}
			a.recv <- r
		}
	}()
	return a
}

func (a *adsStream) send(typeURL, version, nonce string, names []string, nack string) {
	a.t.Helper()
	req := &discovery.DiscoveryRequest{Node: a.node, TypeUrl: typeURL, VersionInfo: version, ResponseNonce: nonce, ResourceNames: names}
	if nack != "" {
		req.ErrorDetail = &statuspb.Status{Code: 3, Message: nack}
	}
	require.NoError(a.t, a.s.Send(req))
}

func (a *adsStream) next(within time.Duration) *discovery.DiscoveryResponse {
	a.t.Helper()
	select {
	case r, ok := <-a.recv:
		require.True(a.t, ok, "stream closed")
		return r
	case <-time.After(within):
		a.t.Fatalf("no response within %s", within)
		return nil
	}
}

func routeWeights(t *testing.T, r *discovery.DiscoveryResponse) map[string]uint32 {
	t.Helper()
	require.Equal(t, resource.RouteType, r.TypeUrl)
	require.Len(t, r.Resources, 1)
	var rc routev3.RouteConfiguration
	require.NoError(t, r.Resources[0].UnmarshalTo(&rc))
	out := map[string]uint32{}
	for _, c := range rc.VirtualHosts[0].Routes[len(rc.VirtualHosts[0].Routes)-1].GetRoute().GetWeightedClusters().GetClusters() {
		out[c.Name] = c.Weight.GetValue()
	}
	return out
}

func (f *fixture) group(t *testing.T, key string) GroupStatus {
	t.Helper()
	for _, g := range f.srv.Status().Groups {
		if g.Key == key {
			return g
		}
	}
	t.Fatalf("no group %q in %+v", key, f.srv.Status().Groups)
	return GroupStatus{}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A gRPC client asks for its own listener only, while the snapshot holds
// several: it must be answered at once (the stock ADS-mode cache would
// withhold the answer).
func TestSubsetSubscriptionAnswered(t *testing.T) {
	f := newFixture(t)
	a := f.stream(t, "n1", "r1")
	a.send(resource.ListenerType, "", "", []string{"greeter"}, "")
	r := a.next(2 * time.Second)
	require.Equal(t, resource.ListenerType, r.TypeUrl)
	require.Len(t, r.Resources, 1)
	require.Equal(t, strconv.FormatUint(f.src.State().Index, 10), r.VersionInfo, "version_info is the state index")
}

// Only the type whose content changed is resent; a NACKed response is not
// resent in a loop; the next response after a NACK carries new content.
func TestNACKNotResentAndOnlyChangedTypesPushed(t *testing.T) {
	f := newFixture(t)
	a := f.stream(t, "n1", "r1")
	a.send(resource.ListenerType, "", "", []string{"greeter"}, "")
	lds := a.next(2 * time.Second)
	a.send(resource.ListenerType, lds.VersionInfo, lds.Nonce, []string{"greeter"}, "")
	a.send(resource.RouteType, "", "", []string{"grpc_greeter"}, "")
	rds := a.next(2 * time.Second)
	require.Equal(t, map[string]uint32{"greeter/v1": 80, "greeter/v2": 20}, routeWeights(t, rds))
	a.send(resource.ClusterType, "", "", []string{"greeter/v1", "greeter/v2"}, "")
	cds := a.next(2 * time.Second)
	a.send(resource.ClusterType, cds.VersionInfo, cds.Nonce, []string{"greeter/v1", "greeter/v2"}, "")

	// Reject the routes.
	a.send(resource.RouteType, "", rds.Nonce, []string{"grpc_greeter"}, "route rejected for the test")
	waitUntil(t, "NACK recorded", func() bool {
		g := f.group(t, "c/r1/")
		return len(g.NACKs) == 1 && g.NACKs[0].Message == "route rejected for the test"
	})
	g := f.group(t, "c/r1/")
	require.Equal(t, resource.RouteType, g.NACKs[0].TypeURL)
	require.Equal(t, f.src.State().Index, g.NACKs[0].Index)
	require.Zero(t, g.Synced)

	// Change only the weights: the next response on the stream must be the
	// new routes (not the rejected ones again, and not listeners or
	// clusters, whose content did not change).
	idx := f.src.apply(t, svcYAML(10))
	r := a.next(2 * time.Second)
	require.Equal(t, resource.RouteType, r.TypeUrl)
	require.Equal(t, strconv.FormatUint(idx, 10), r.VersionInfo)
	require.Equal(t, map[string]uint32{"greeter/v1": 10, "greeter/v2": 90}, routeWeights(t, r))
	a.send(resource.RouteType, r.VersionInfo, r.Nonce, []string{"grpc_greeter"}, "")
	waitUntil(t, "stream synced at the new index", func() bool {
		g := f.group(t, "c/r1/")
		return g.Synced == 1 && g.AckedIndex == idx && len(g.NACKs) == 0
	})
	select {
	case extra := <-a.recv:
		t.Fatalf("unexpected extra response %s v%s", extra.TypeUrl, extra.VersionInfo)
	default:
	}
}

// Many streams of one group share one snapshot; when the last closes, the
// group is forgotten.
func TestGroupsSharedAndForgotten(t *testing.T) {
	f := newFixture(t)
	var streams []*adsStream
	for i := 0; i < 20; i++ {
		a := f.stream(t, fmt.Sprintf("n%d", i), "r1")
		a.send(resource.ListenerType, "", "", nil, "")
		require.Len(t, a.next(2*time.Second).Resources, 3, "wildcard LDS: greeter, greeter.internal, other")
		streams = append(streams, a)
	}
	b := f.stream(t, "b", "r2")
	b.send(resource.ListenerType, "", "", nil, "")
	b.next(2 * time.Second)
	require.Equal(t, []string{"c/r1/", "c/r2/"}, f.srv.Cache().Groups())
	require.Equal(t, 20, f.group(t, "c/r1/").Streams)
	for _, a := range streams {
		a.cancel()
	}
	waitUntil(t, "group r1 forgotten", func() bool {
		gs := f.srv.Cache().Groups()
		return len(gs) == 1 && gs[0] == "c/r2/"
	})
}

// An endpoint change of a version the client subscribes to reaches it even
// when the client subscribes to a subset of clusters.
func TestEndpointChangeReachesSubsetSubscriber(t *testing.T) {
	f := newFixture(t)
	idx := f.src.apply(t, svcYAML(0))
	require.NoError(t, f.srv.WaitIndex(context.Background(), idx))
	a := f.stream(t, "n1", "r1")
	a.send(resource.EndpointType, "", "", []string{"greeter/v2"}, "")
	r := a.next(2 * time.Second)
	a.send(resource.EndpointType, r.VersionInfo, r.Nonce, []string{"greeter/v2"}, "")
	idx = f.src.apply(t, svcYAML(0, "10.0.0.2:80", "10.0.0.3:80"))
	r = a.next(2 * time.Second)
	require.Equal(t, resource.EndpointType, r.TypeUrl)
	require.Equal(t, strconv.FormatUint(idx, 10), r.VersionInfo)
	require.Len(t, r.Resources, 1)
}

// A delta stream receives resources and later only what changed.
func TestDeltaStream(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := discovery.NewAggregatedDiscoveryServiceClient(f.conn).DeltaAggregatedResources(ctx)
	require.NoError(t, err)
	node := &core.Node{Id: "d1", Cluster: "c", Locality: &core.Locality{Region: "r1"}}
	require.NoError(t, s.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.RouteType, ResourceNamesSubscribe: []string{"grpc_greeter", "grpc_other"}}))
	r, err := s.Recv()
	require.NoError(t, err)
	require.Len(t, r.Resources, 2)
	require.NoError(t, s.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.RouteType, ResponseNonce: r.Nonce}))
	idx := f.src.apply(t, svcYAML(50))
	r, err = s.Recv()
	require.NoError(t, err)
	require.Len(t, r.Resources, 1, "only the changed route")
	require.Equal(t, "grpc_greeter", r.Resources[0].Name)
	require.Equal(t, strconv.FormatUint(idx, 10), r.SystemVersionInfo)
	require.NoError(t, s.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.RouteType, ResponseNonce: r.Nonce}))
	waitUntil(t, "delta stream synced", func() bool {
		g := f.group(t, "c/r1/")
		return g.Synced == 1 && g.AckedIndex == idx
	})
}

// A translation error keeps the last good snapshot and is visible.
func TestTranslationErrorKeepsLastGood(t *testing.T) {
	f := newFixture(t)
	a := f.stream(t, "n1", "r1")
	a.send(resource.RouteType, "", "", []string{"grpc_greeter"}, "")
	good := a.next(2 * time.Second)
	a.send(resource.RouteType, good.VersionInfo, good.Nonce, []string{"grpc_greeter"}, "")
	// Bypass validation to put a state translation refuses (all weights 0)
	// into the source, as a corrupted or future state might.
	f.src.mu.Lock()
	st := f.src.st
	bad := *st.Services["greeter"]
	bad.Spec.Versions = append([]config.Version(nil), bad.Spec.Versions...)
	zero := uint32(0)
	for i := range bad.Spec.Versions {
		bad.Spec.Versions[i].Weight = &zero
	}
	next := *st
	next.Services = map[string]*config.Service{"greeter": &bad, "other": st.Services["other"]}
	next.Index = st.Index + 1
	f.src.st = &next
	for _, ch := range f.src.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	f.src.mu.Unlock()
	require.NoError(t, f.srv.WaitIndex(context.Background(), next.Index))
	g := f.group(t, "c/r1/")
	require.NotEmpty(t, g.Error)
	require.Equal(t, st.Index, g.SnapshotIndex, "last good snapshot kept")
	require.NotEmpty(t, f.srv.Status().LastError)
}

// A request naming an old nonce is skipped by the server; the cache must
// not keep a note of it.
func TestStaleRequestNotRemembered(t *testing.T) {
	f := newFixture(t)
	a := f.stream(t, "n1", "r1")
	a.send(resource.RouteType, "", "", []string{"grpc_greeter"}, "")
	first := a.next(2 * time.Second)
	a.send(resource.RouteType, first.VersionInfo, first.Nonce, []string{"grpc_greeter"}, "")
	idx := f.src.apply(t, svcYAML(30))
	second := a.next(2 * time.Second)
	a.send(resource.RouteType, first.VersionInfo, first.Nonce, []string{"grpc_greeter"}, "") // stale
	a.send(resource.RouteType, second.VersionInfo, second.Nonce, []string{"grpc_greeter"}, "")
	waitUntil(t, "ACK of the second response", func() bool {
		g := f.group(t, "c/r1/")
		return g.Synced == 1 && g.AckedIndex == idx
	})
	// The ACK is tracked in the request callback, before the cache's
	// watch consumes the request's note: wait for that, not for a moment.
	waitUntil(t, "no request left noted", func() bool {
		n := 0
		f.srv.cache.streamOf.Range(func(any, any) bool { n++; return true })
		return n == 0
	})
}

// fakeClock is a settable Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// A change after a quiet period is built at once, not after the debounce:
// with an hour of debounce and of MaxDelay, waiting would fail the test.
func TestChangeAfterQuietBuiltAtOnce(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	f := newFixtureWith(t, Options{Debounce: time.Hour, MaxDelay: time.Hour, Now: clock.Now})
	clock.advance(2 * time.Hour)
	idx := f.src.apply(t, svcYAML(50))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, f.srv.WaitIndex(ctx, idx), "a change after an hour of quiet waited for the debounce")
}

// Changes that follow a rebuild closer than Debounce are a burst: built
// once, together, when MaxDelay runs out (the fake clock never lets the
// hour of quiet pass).
func TestBurstAfterRebuildDebounced(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	f := newFixtureWith(t, Options{Debounce: time.Hour, MaxDelay: time.Second, Now: clock.Now})
	seq := f.srv.Sequence()
	f.src.apply(t, svcYAML(50))
	f.src.apply(t, svcYAML(40))
	idx := f.src.apply(t, svcYAML(30))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, f.srv.WaitIndex(ctx, idx))
	require.Equal(t, seq+1, f.srv.Sequence(), "three changes in a burst: one rebuild")
}
