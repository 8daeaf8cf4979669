package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/state"
	"github.com/sluicehq/sluice/xds"
)

// hungFleet is three members: n1 (self), n2 answering, n3 and n4 hung
// until released (they ignore their context, like a stopped process's
// socket).
func hungFleet(release <-chan struct{}, deadline time.Duration) *ClusterAcks {
	return &ClusterAcks{
		Self:  "n1",
		Local: func() xds.Status { return xds.Status{Groups: []xds.GroupStatus{{Key: "a", AckedIndex: 7, Streams: 1}}} },
		Members: func() map[string]*state.Member {
			return map[string]*state.Member{"n1": {APIAddr: "n1:1"}, "n2": {APIAddr: "n2:1"}, "n3": {APIAddr: "n3:1"}, "n4": {APIAddr: "n4:1"}}
		},
		Fetch: func(ctx context.Context, addr string) (*xds.Status, error) {
			if addr == "n2:1" {
				return &xds.Status{Groups: []xds.GroupStatus{{Key: "b", AckedIndex: 7, Streams: 2}}}, nil
			}
			<-release
			return nil, errors.New("released")
		},
		NodeDeadline: deadline,
	}
}

func TestObserveSkipsHungMembersAfterTheirDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	a := hungFleet(release, 50*time.Millisecond)
	done := make(chan struct{})
	var groups []GroupAck
	var unreachable []string
	go func() {
		groups, unreachable = a.Observe(context.Background())
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Observe waited for hung members beyond their deadline")
	}
	require.Equal(t, []string{"n3", "n4"}, unreachable)
	require.Equal(t, []GroupAck{{Node: "n1", Group: "a", AckedIndex: 7, Streams: 1}, {Node: "n2", Group: "b", AckedIndex: 7, Streams: 2}}, groups)
}

func TestObserveDefaultDeadline(t *testing.T) {
	a := &ClusterAcks{Self: "n1", Local: func() xds.Status { return xds.Status{} },
		Members: func() map[string]*state.Member { return map[string]*state.Member{"n2": {APIAddr: "n2:1"}} },
		Fetch: func(ctx context.Context, _ string) (*xds.Status, error) {
			d, ok := ctx.Deadline()
			require.True(t, ok, "the fetch has a deadline")
			require.LessOrEqual(t, time.Until(d), DefaultNodeDeadline)
			return &xds.Status{}, nil
		}}
	_, unreachable := a.Observe(context.Background())
	require.Empty(t, unreachable)
}

// BenchmarkObserveHungMembers: with two hung members and a 100ms
// per-node deadline, one Observe takes about one deadline.
func BenchmarkObserveHungMembers(b *testing.B) {
	release := make(chan struct{})
	defer close(release)
	a := hungFleet(release, 100*time.Millisecond)
	for b.Loop() {
		a.Observe(context.Background())
	}
}
