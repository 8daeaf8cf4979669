package xds

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/state"
)

// countingTranslate counts translations per group and holds every one
// until release is closed.
type countingTranslate struct {
	release chan struct{}
	mu      sync.Mutex
	calls   map[string]int
}

func (c *countingTranslate) translate(st *state.State, g Group) (*Resources, error) {
	c.mu.Lock()
	c.calls[g.Key()]++
	c.mu.Unlock()
	<-c.release
	return Translate(st, g)
}

func (c *countingTranslate) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.calls))
	for k, v := range c.calls {
		out[k] = v
	}
	return out
}

// Every proxy of a group reconnects at once after a node restart. The
// streams that arrive before the group's first snapshot is published must
// share one build, not run one each.
func TestColdGroupBuiltOncePerGroup(t *testing.T) {
	ct := &countingTranslate{release: make(chan struct{}), calls: map[string]int{}}
	f := newFixtureWith(t, Options{Debounce: time.Millisecond, Translate: ct.translate})
	regions := []string{"r1", "r2", "r3"}
	const perGroup = 100
	n := len(regions) * perGroup
	before := f.srv.Status().Builds

	streams := make([]*adsStream, 0, n)
	for i := range n {
		streams = append(streams, f.stream(t, fmt.Sprint("n", i), regions[i%len(regions)]))
	}
	var wg sync.WaitGroup
	for _, a := range streams {
		wg.Go(func() { a.send(resource.ListenerType, "", "", []string{"greeter"}, "") })
	}
	wg.Wait()
	// Hold the first builds until every stream is registered, and so has
	// asked for its group's snapshot while none was published.
	waitUntil(t, "every stream registered", func() bool {
		sotw, _ := f.srv.tracker.StreamCount()
		return sotw == n
	})
	close(ct.release)

	for _, a := range streams {
		r := a.next(30 * time.Second)
		require.Equal(t, resource.ListenerType, r.TypeUrl)
		require.Len(t, r.Resources, 1, "every stream gets its listener")
	}
	want := map[string]int{}
	for _, region := range regions {
		want[Group{Cluster: "c", Region: region}.Key()] = 1
	}
	require.Equal(t, want, ct.counts(), "one translation per group")
	require.Equal(t, uint64(len(regions)), f.srv.Status().Builds-before)
}

// A group whose translation fails is not translated again for every
// stream that arrives at the same state index.
func TestFailedColdGroupNotRebuiltPerStream(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	failing := func(*state.State, Group) (*Resources, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return nil, fmt.Errorf("listener l: %w", ErrInvalidResource)
	}
	f := newFixtureWith(t, Options{Debounce: time.Millisecond, Translate: failing})
	for i := range 20 {
		a := f.stream(t, fmt.Sprint("n", i), "r1")
		a.send(resource.ListenerType, "", "", []string{"greeter"}, "")
	}
	waitUntil(t, "every stream registered", func() bool {
		sotw, _ := f.srv.tracker.StreamCount()
		return sotw == 20
	})
	// Registration happens before the build; wait for the build's error.
	waitUntil(t, "the build error in status", func() bool { return f.srv.Status().LastError != "" || f.group(t, "c/r1/").Error != "" })
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 1, calls)
}

// notify tells m's subscribers the state changed without changing it, as
// a burst's trailing notifications do once the state they announce has
// been read.
func (m *memSource) notify() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.notifyLocked()
}

func (m *memSource) notifyLocked() {
	for _, ch := range m.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// A rebuild that reads the state index a group's snapshot was built from
// does not translate that group again. After a node restart the replayed
// log's last notifications came after the rebuild that read its end, and
// the group the reconnecting fleet built meanwhile was built a second time.
func TestRebuildSkipsGroupBuiltFromSameIndex(t *testing.T) {
	f := newFixtureWith(t, Options{Debounce: time.Millisecond})
	a := f.stream(t, "n1", "r1")
	a.send(resource.ListenerType, "", "", []string{"greeter"}, "")
	require.Len(t, a.next(10*time.Second).Resources, 1)
	builds, seq := f.srv.Status().Builds, f.srv.Sequence()

	f.src.notify()
	waitUntil(t, "a rebuild", func() bool { return f.srv.Sequence() > seq })
	require.Equal(t, builds, f.srv.Status().Builds, "the group was built again from the same state")

	idx := f.src.apply(t, svcYAML(50))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, f.srv.WaitIndex(ctx, idx))
	require.Equal(t, builds+1, f.srv.Status().Builds, "a change is built")
}
