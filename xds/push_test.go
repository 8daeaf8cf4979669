package xds

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A flush stuck on a proxy that does not read holds up only its own
// stream: the batch adds a worker and flushes the others.
func TestFlushBatchGoesOnPastAStuckStream(t *testing.T) {
	release := make(chan struct{})
	var flushed atomic.Int64
	stuck := &pusher{flush: func() error { <-release; return nil }}
	batch := []*pusher{stuck}
	for range 9 {
		batch = append(batch, &pusher{flush: func() error { flushed.Add(1); return nil }})
	}
	for _, p := range batch {
		require.True(t, p.claim())
	}
	go flushBatch(batch, 1) // the one worker takes the stuck stream first
	deadline := time.Now().Add(5 * time.Second)
	for flushed.Load() < 9 {
		require.True(t, time.Now().Before(deadline), "only %d of 9 streams flushed past a stuck one", flushed.Load())
		time.Sleep(time.Millisecond)
	}
	close(release)
	stuck.stop() // returns once the stuck flush finished
	require.False(t, stuck.flushing)
}

// A reason to flush that arrives while a flush runs makes it run again;
// after stop no flush starts.
func TestPusherFlushesAgainWhenDirty(t *testing.T) {
	var runs atomic.Int64
	var p *pusher
	p = &pusher{flush: func() error {
		if runs.Add(1) == 1 {
			require.False(t, p.claim(), "a flush runs: claim marks it dirty")
		}
		return nil
	}}
	p.flushNow()
	require.Equal(t, int64(2), runs.Load())
	p.stop()
	require.False(t, p.claim())
	p.flushNow()
	require.Equal(t, int64(2), runs.Load())
}

// A snapshot move claims a connection's streams next to each other, so
// their responses queue on that connection's writer together; a stream
// that left is not claimed, and the group goes with its last stream.
func TestHubClaimsStreamsByConnection(t *testing.T) {
	h := newStreamHub()
	conns := []string{"10.0.0.1:1", "10.0.0.1:2", "10.0.0.2:1"}
	var ps []*pusher
	var hg *hubGroup
	for i := range 12 { // joined in an order that interleaves the connections
		p := &pusher{flush: func() error { return nil }, conn: conns[i%len(conns)]}
		ps = append(ps, p)
		hg = h.join("g", p)
	}
	h.leave("g", ps[0])
	h.leave("g", ps[0]) // twice: no effect
	require.Equal(t, 11, hg.n)

	batch := hg.claim()
	require.Len(t, batch, 11)
	require.NotContains(t, batch, ps[0])
	seen := map[string]bool{}
	for i, p := range batch {
		if i > 0 && p.conn != batch[i-1].conn {
			require.Falsef(t, seen[p.conn], "connection %s's streams are not next to each other", p.conn)
		}
		seen[p.conn] = true
	}
	require.Len(t, seen, 3)
	require.Empty(t, hg.claim(), "every flush is claimed already")

	for _, p := range ps[1:] {
		h.leave("g", p)
	}
	require.Empty(t, h.groups, "the group went with its last stream")
}
