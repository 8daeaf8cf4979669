package xds

import (
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/stretchr/testify/require"
)

// flushRoute records a flush of stream 1 from index: the route sent with
// nonce, or found up to date (nonce "").
func flushRoute(tr *Tracker, index uint64, nonce string) {
	var types [len(servedTypes)]flushedType
	types[servedIndex(resource.RouteType)] = flushedType{subscribed: true, nonce: nonce}
	tr.flushed(tr.entry(1), index, &types)
}

func routeAck(t *testing.T, tr *Tracker) typeAck {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	ta := tr.typeOf(1, resource.RouteType)
	require.NotNil(t, ta)
	return *ta
}

// A snapshot that moves while a response is in flight, with the same
// content for the type, is held once that response is ACKed: nothing
// else will be sent, so without it the stream would count as behind for
// ever (a 5-node fan-out stalled on it).
func TestTrackerACKHoldsNewerSameContent(t *testing.T) {
	tr := NewTracker(TrackerEvents{})
	require.True(t, tr.Open(1, "g", "n", false, time.Unix(0, 0)))
	flushRoute(tr, 15, "15-1-a")
	flushRoute(tr, 16, "") // index 16: same route, nothing to send
	require.Equal(t, uint64(0), routeAck(t, tr).current, "nothing held while the response is in flight")
	require.False(t, tr.Request(1, resource.RouteType, "15-1-a", nil))
	require.Equal(t, uint64(16), routeAck(t, tr).current)

	// A NACK of the response in flight holds nothing newer.
	flushRoute(tr, 17, "17-1-b")
	flushRoute(tr, 18, "")
	msg := "rejected"
	tr.Request(1, resource.RouteType, "17-1-b", &msg)
	ta := routeAck(t, tr)
	require.Equal(t, uint64(16), ta.current)
	require.True(t, ta.nacked)
	require.Equal(t, uint64(17), ta.nackIndex)

	// After a NACK, a new response in flight holds the same newer index.
	flushRoute(tr, 19, "19-1-c")
	flushRoute(tr, 20, "")
	tr.Request(1, resource.RouteType, "19-1-c", nil)
	ta = routeAck(t, tr)
	require.False(t, ta.nacked)
	require.Equal(t, uint64(20), ta.current)

	// A newer response in flight replaces what the older one would hold.
	flushRoute(tr, 21, "21-1-d")
	flushRoute(tr, 22, "")
	flushRoute(tr, 23, "23-1-e")
	tr.Request(1, resource.RouteType, "23-1-e", nil)
	require.Equal(t, uint64(23), routeAck(t, tr).current)
}
