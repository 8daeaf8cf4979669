package xds

import (
	"context"
	"strconv"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/stretchr/testify/require"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
)

// deltaClient is one delta ADS stream of a test, with its responses on a
// channel.
type deltaClient struct {
	s    discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	recv chan *discovery.DeltaDiscoveryResponse
}

func (f *fixture) deltaStream(t *testing.T) *deltaClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := discovery.NewAggregatedDiscoveryServiceClient(f.conn).DeltaAggregatedResources(ctx)
	require.NoError(t, err)
	c := &deltaClient{s: s, recv: make(chan *discovery.DeltaDiscoveryResponse, 16)}
	go func() {
		for {
			r, err := s.Recv()
			if err != nil {
				return
			}
			c.recv <- r
		}
	}()
	return c
}

func deltaNode(id, region string) *core.Node {
	return &core.Node{Id: id, Cluster: "c", Locality: &core.Locality{Region: region}}
}

func (c *deltaClient) send(t *testing.T, req *discovery.DeltaDiscoveryRequest) {
	t.Helper()
	require.NoError(t, c.s.Send(req))
}

func (c *deltaClient) next(t *testing.T) *discovery.DeltaDiscoveryResponse {
	t.Helper()
	select {
	case r := <-c.recv:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no delta response within 5s")
		return nil
	}
}

func (c *deltaClient) none(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case r := <-c.recv:
		t.Fatalf("unexpected delta response %s v%s: %d resources, removed %v", r.TypeUrl, r.SystemVersionInfo, len(r.Resources), r.RemovedResources)
	case <-time.After(within):
	}
}

func deltaNames(r *discovery.DeltaDiscoveryResponse) []string {
	var out []string
	for _, res := range r.Resources {
		out = append(out, res.Name)
	}
	return out
}

// Delta streams holding the same thing share one answer (same nonce, one
// diff built); a change reaches both as one shared answer with only what
// changed.
func TestIncrementalStreamsShareAnswers(t *testing.T) {
	f := sluiceFixture(t)
	a, b := f.deltaStream(t), f.deltaStream(t)
	sub := []string{"grpc_greeter", "grpc_other"}
	a.send(t, &discovery.DeltaDiscoveryRequest{Node: deltaNode("d1", "r1"), TypeUrl: resource.RouteType, ResourceNamesSubscribe: sub})
	b.send(t, &discovery.DeltaDiscoveryRequest{Node: deltaNode("d2", "r1"), TypeUrl: resource.RouteType, ResourceNamesSubscribe: sub})
	ra, rb := a.next(t), b.next(t)
	require.Equal(t, ra.Nonce, rb.Nonce, "one shared answer")
	require.ElementsMatch(t, sub, deltaNames(ra))
	a.send(t, &discovery.DeltaDiscoveryRequest{TypeUrl: resource.RouteType, ResponseNonce: ra.Nonce})
	b.send(t, &discovery.DeltaDiscoveryRequest{TypeUrl: resource.RouteType, ResponseNonce: rb.Nonce})

	idx := f.src.apply(t, svcYAML(40))
	ra, rb = a.next(t), b.next(t)
	require.Equal(t, ra.Nonce, rb.Nonce)
	require.Equal(t, []string{"grpc_greeter"}, deltaNames(ra), "only the changed route")
	require.Equal(t, strconv.FormatUint(idx, 10), ra.SystemVersionInfo)
	snap := f.srv.cache.current("c/r1/")
	ts := snap.typeAt(servedIndex(resource.RouteType))
	ts.deltaAnswers.mu.Lock()
	require.Len(t, ts.deltaAnswers.byFrom, 1, "one diff built for both streams")
	ts.deltaAnswers.mu.Unlock()
	a.send(t, &discovery.DeltaDiscoveryRequest{TypeUrl: resource.RouteType, ResponseNonce: ra.Nonce})
	b.send(t, &discovery.DeltaDiscoveryRequest{TypeUrl: resource.RouteType, ResponseNonce: rb.Nonce})
	waitUntil(t, "both synced", func() bool {
		g := f.group(t, "c/r1/")
		return g.Synced == 2 && g.AckedIndex == idx
	})
	// A change to clusters only sends these route subscribers nothing.
	f.src.apply(t, svcYAML(40, "10.0.0.7:80"))
	a.none(t, 200*time.Millisecond)
}

// A stream that says what it holds (initial_resource_versions, as after a
// reconnect) is sent only what differs; one that unsubscribes is told
// nothing more about that name, and a NACK does not make the server send
// the same content again.
func TestIncrementalStreamOwnVersions(t *testing.T) {
	f := sluiceFixture(t)
	a := f.deltaStream(t)
	a.send(t, &discovery.DeltaDiscoveryRequest{Node: deltaNode("d1", "r1"), TypeUrl: resource.RouteType, ResourceNamesSubscribe: []string{"grpc_greeter", "grpc_other"}})
	first := a.next(t)
	held := map[string]string{}
	for _, r := range first.Resources {
		held[r.Name] = r.Version
	}
	held["grpc_greeter"] = "stale"

	b := f.deltaStream(t)
	b.send(t, &discovery.DeltaDiscoveryRequest{Node: deltaNode("d2", "r1"), TypeUrl: resource.RouteType,
		ResourceNamesSubscribe: []string{"grpc_greeter", "grpc_other"}, InitialResourceVersions: held})
	r := b.next(t)
	require.Equal(t, []string{"grpc_greeter"}, deltaNames(r), "only the route it does not hold")
	require.NotEqual(t, first.Nonce, r.Nonce)

	// NACK it: nothing is resent until the content changes.
	b.send(t, &discovery.DeltaDiscoveryRequest{TypeUrl: resource.RouteType, ResponseNonce: r.Nonce,
		ErrorDetail: &statuspb.Status{Code: 3, Message: "rejected for the test"}})
	waitUntil(t, "NACK recorded", func() bool { return len(f.group(t, "c/r1/").NACKs) == 1 })
	b.none(t, 200*time.Millisecond)

	// Unsubscribe from greeter; a change to it reaches a, not b. A stream's
	// requests are applied in order, so the answer to b's next request
	// (clusters) says the unsubscribe was applied before the change is
	// made: a change built before it would rightly still go to b.
	b.send(t, &discovery.DeltaDiscoveryRequest{TypeUrl: resource.RouteType, ResourceNamesUnsubscribe: []string{"grpc_greeter"}})
	b.send(t, &discovery.DeltaDiscoveryRequest{TypeUrl: resource.ClusterType})
	require.Equal(t, resource.ClusterType, b.next(t).TypeUrl)
	a.send(t, &discovery.DeltaDiscoveryRequest{TypeUrl: resource.RouteType, ResponseNonce: first.Nonce})
	f.src.apply(t, svcYAML(30))
	require.Equal(t, []string{"grpc_greeter"}, deltaNames(a.next(t)))
	b.none(t, 200*time.Millisecond)
}

// A wildcard CDS subscription (no names on the first request) gets every
// cluster, and later each cluster that changed.
func TestIncrementalStreamWildcard(t *testing.T) {
	f := sluiceFixture(t)
	a := f.deltaStream(t)
	a.send(t, &discovery.DeltaDiscoveryRequest{Node: deltaNode("d1", "r1"), TypeUrl: resource.ClusterType})
	r := a.next(t)
	require.Len(t, r.Resources, 3)
	a.send(t, &discovery.DeltaDiscoveryRequest{TypeUrl: resource.ClusterType, ResponseNonce: r.Nonce})
	waitUntil(t, "synced", func() bool { return f.group(t, "c/r1/").Synced == 1 })
	f.src.apply(t, `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: third}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: "10.0.0.5:80"}]}
`)
	r = a.next(t)
	require.Equal(t, []string{"third/v1"}, deltaNames(r))
}
