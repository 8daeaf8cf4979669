package xds

import (
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
