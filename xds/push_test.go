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
