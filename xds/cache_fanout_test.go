package xds

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/state"
)

// fakeSub is a state-of-the-world subscription to named resources.
type fakeSub struct {
	subscribed map[string]struct{}
	returned   map[string]string
}

func (s fakeSub) ReturnedResources() map[string]string     { return s.returned }
func (s fakeSub) SubscribedResources() map[string]struct{} { return s.subscribed }
func (s fakeSub) IsWildcard() bool                         { return false }

// recObserver records what the cache reports as current.
type recObserver struct {
	mu    sync.Mutex
	calls []string // "stream type index"
}

func (o *recObserver) Current(stream int64, typeURL string, index uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, fmt.Sprintf("%d %s %d", stream, shortType(typeURL), index))
}

func (o *recObserver) CurrentAll(streams []int64, typeURL string, index uint64) {
	for _, s := range streams {
		o.Current(s, typeURL, index)
	}
}

func (o *recObserver) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.calls
	o.calls = nil
	return out
}

// smallResources has one resource per type; route and listener vary with
// their arguments.
func smallResources(listener, route string) *Resources {
	return &Resources{
		Listeners: []types.Resource{&listenerv3.Listener{Name: "l", StatPrefix: listener}},
		Routes:    []types.Resource{&routev3.RouteConfiguration{Name: "r", VirtualHosts: []*routev3.VirtualHost{{Name: route, Domains: []string{"*"}}}}},
		Clusters:  []types.Resource{&clusterv3.Cluster{Name: "c"}},
	}
}

// upToDateWatch opens a watch for one resource as a client that already
// holds the group's current content would: a first request is answered,
// and the follow-up (the ACK) stays open.
func upToDateWatch(t *testing.T, c *Cache, stream int64, typeURL, name string) chan cachev3.Response {
	t.Helper()
	sub := fakeSub{subscribed: map[string]struct{}{name: {}}, returned: map[string]string{}}
	first := make(chan cachev3.Response, 1)
	req := &discovery.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: []string{name}}
	c.NoteStream(req, stream)
	_, err := c.CreateWatch(req, sub, first)
	require.NoError(t, err)
	resp := <-first
	sub.returned = resp.GetReturnedResources()
	ack := &discovery.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: []string{name}, VersionInfo: resp.GetResponseVersion()}
	c.NoteStream(ack, stream)
	ch := make(chan cachev3.Response, 1)
	_, err = c.CreateWatch(ack, sub, ch)
	require.NoError(t, err)
	require.Empty(t, ch, "an up-to-date watch must not be answered")
	return ch
}

func TestSetGroupSkipsUnchangedTypes(t *testing.T) {
	obs := &recObserver{}
	c := NewCache(func(*core.Node) string { return "g" }, obs)
	_, err := c.SetGroup("g", 1, smallResources("a", "x"))
	require.NoError(t, err)
	lds := upToDateWatch(t, c, 7, resource.ListenerType, "l")
	rds := upToDateWatch(t, c, 7, resource.RouteType, "r")
	obs.take()
	ldsSnap := c.groups["g"].snap.types[resource.ListenerType]

	// Only the route changes: the listener's type snapshot is kept, its
	// watch stays open and is reported current; the route watch is answered.
	_, err = c.SetGroup("g", 2, smallResources("a", "y"))
	require.NoError(t, err)
	require.Same(t, ldsSnap, c.groups["g"].snap.types[resource.ListenerType])
	require.Empty(t, lds)
	require.Len(t, rds, 1)
	r := <-rds
	require.Equal(t, "2", r.GetResponseVersion())
	require.Equal(t, []string{"7 Listener 2"}, obs.take())

	// Nothing changes: the listener watch is current at 3 as well.
	_, err = c.SetGroup("g", 3, smallResources("a", "y"))
	require.NoError(t, err)
	require.Empty(t, lds)
	require.Equal(t, []string{"7 Listener 3"}, obs.take())

	// The listener changes: its watch is answered, nothing is current.
	_, err = c.SetGroup("g", 4, smallResources("b", "y"))
	require.NoError(t, err)
	require.Len(t, lds, 1)
	require.Empty(t, obs.take())

	// An older snapshot is refused and changes nothing.
	ok, err := c.SetGroup("g", 3, smallResources("c", "z"))
	require.NoError(t, err)
	require.False(t, ok)
	idx, _ := c.Index("g")
	require.Equal(t, uint64(4), idx)
}

// staticSource is a Source that never changes.
type staticSource struct{ st *state.State }

func (s staticSource) State() *state.State                  { return s.st }
func (s staticSource) Subscribe() (<-chan struct{}, func()) { return make(chan struct{}), func() {} }

// Status reads the tracker and the cache while publishing holds the cache
// and reports to the tracker: the two must not wait on each other.
func TestStatusWhilePublishingDoesNotDeadlock(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := NewServer(ctx, staticSource{st: state.New()}, Options{})
	key := Group{}.Key()
	_, err := s.cache.SetGroup(key, 1, smallResources("a", "x"))
	require.NoError(t, err)
	// Many open watches keep SetGroup inside the cache's lock long enough
	// for Status to take the tracker's lock meanwhile.
	for id := range int64(2000) {
		require.True(t, s.tracker.Open(id, key, fmt.Sprint("n", id), false, time.Now()))
		upToDateWatch(t, s.cache, id, resource.ListenerType, "l")
	}

	const n = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range n {
				_, _ = s.cache.SetGroup(key, uint64(i+2), smallResources("a", fmt.Sprint(i)))
			}
		}()
		go func() {
			defer wg.Done()
			for range n {
				_ = s.Status()
			}
		}()
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Status and SetGroup deadlocked")
	}
	st := s.Status()
	require.Len(t, st.Groups, 1)
	require.Equal(t, uint64(n+1), st.Groups[0].SnapshotIndex)
}

func TestTrackerCloseReportsLastStreamOfGroup(t *testing.T) {
	tr := NewTracker(TrackerEvents{})
	now := time.Now()
	tr.Open(1, "a", "n1", false, now)
	tr.Open(2, "a", "n2", false, now)
	tr.Open(3, "b", "n3", true, now)
	require.False(t, tr.Open(1, "a", "n1", false, now), "Open is idempotent")
	g, last := tr.Close(1)
	require.Equal(t, "a", g)
	require.False(t, last)
	g, last = tr.Close(3)
	require.Equal(t, "b", g)
	require.True(t, last)
	g, last = tr.Close(2)
	require.Equal(t, "a", g)
	require.True(t, last)
	_, last = tr.Close(2)
	require.False(t, last, "closing an unknown stream")
	// A group that comes back counts from zero.
	tr.Open(4, "a", "n4", false, now)
	_, last = tr.Close(4)
	require.True(t, last)
}
