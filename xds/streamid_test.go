package xds

import (
	"context"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/stretchr/testify/require"
)

// go-control-plane numbers state-of-the-world and delta streams with
// separate counters, both from 1. A delta stream opened while a
// state-of-the-world stream with the same number is open must still be
// registered and answered (a real Envoy on delta ADS waited forever when
// it landed on a node that already served one on state of the world).
func TestDeltaAndStateOfTheWorldStreamsWithTheSameNumber(t *testing.T) {
	f := newFixture(t)
	sotw := f.stream(t, "sotw-1", "r1")
	sotw.send(resource.RouteType, "", "", []string{"grpc_greeter"}, "")
	sotw.next(5 * time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := discovery.NewAggregatedDiscoveryServiceClient(f.conn).DeltaAggregatedResources(ctx)
	require.NoError(t, err)
	node := &core.Node{Id: "delta-1", Cluster: "c", Locality: &core.Locality{Region: "r2"}}
	require.NoError(t, s.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.RouteType, ResourceNamesSubscribe: []string{"grpc_greeter"}}))
	got := make(chan *discovery.DeltaDiscoveryResponse, 1)
	go func() {
		r, err := s.Recv()
		if err == nil {
			got <- r
		}
	}()
	select {
	case r := <-got:
		require.Len(t, r.Resources, 1)
	case <-time.After(5 * time.Second):
		t.Fatal("the delta stream got no answer")
	}
	streams := func() map[string]int {
		out := map[string]int{}
		for _, g := range f.srv.Status().Groups {
			out[g.Key] = g.Streams
		}
		return out
	}
	waitUntil(t, "both groups tracked", func() bool {
		s := streams()
		return s["c/r1/"] == 1 && s["c/r2/"] == 1
	})
	// Closing one does not close the other's bookkeeping.
	cancel()
	waitUntil(t, "the delta group forgotten", func() bool { return len(streams()) == 1 })
	require.Equal(t, 1, streams()["c/r1/"])
}
