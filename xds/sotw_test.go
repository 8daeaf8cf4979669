package xds

import (
	"errors"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/stretchr/testify/require"
)

func sluiceFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, Options{Debounce: time.Millisecond, Stream: StreamSluice})
}

func gcpFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, Options{Debounce: time.Millisecond, Stream: StreamGCP})
}

func TestParseStream(t *testing.T) {
	for in, want := range map[string]string{"": StreamSluice, "gcp": StreamGCP, "sluice": StreamSluice} {
		got, err := ParseStream(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := ParseStream("fast")
	require.True(t, errors.Is(err, ErrUnknownStream))
}

// Streams of one group needing the same answer are sent one shared
// response (same nonce); an ACKed version is not resent.
func TestSluiceStreamSharesResponses(t *testing.T) {
	f := sluiceFixture(t)
	a := f.stream(t, "n1", "r1")
	b := f.stream(t, "n2", "r1")
	a.send(resource.ClusterType, "", "", nil, "")
	b.send(resource.ClusterType, "", "", nil, "")
	ra, rb := a.next(5*time.Second), b.next(5*time.Second)
	require.Equal(t, ra.Nonce, rb.Nonce)
	require.Equal(t, ra.VersionInfo, rb.VersionInfo)
	require.Len(t, ra.Resources, 3, "wildcard CDS gets every cluster")
	snap := f.srv.cache.current("c/r1/")
	ts := snap.typeAt(servedIndex(resource.ClusterType))
	ts.answers.mu.Lock()
	require.Len(t, ts.answers.bySub, 1, "one response built for both streams")
	ts.answers.mu.Unlock()

	a.send(resource.ClusterType, ra.VersionInfo, ra.Nonce, nil, "")
	b.send(resource.ClusterType, rb.VersionInfo, rb.Nonce, nil, "")
	waitUntil(t, "both streams synced", func() bool { return f.group(t, "c/r1/").Synced == 2 })
	// A change that leaves clusters alone sends nothing to these streams.
	f.src.apply(t, svcYAML(30))
	require.NoError(t, f.srv.WaitIndex(t.Context(), f.src.State().Index))
	select {
	case extra := <-a.recv:
		t.Fatalf("unexpected response %s v%s", extra.TypeUrl, extra.VersionInfo)
	case <-time.After(200 * time.Millisecond):
	}
}

// A NACKed response is recorded and not resent; new content is sent.
func TestSluiceStreamNACK(t *testing.T) { testStreamNACK(t, sluiceFixture(t)) }

// TestGCPStreamNACK is TestSluiceStreamNACK on go-control-plane's loop.
func TestGCPStreamNACK(t *testing.T) { testStreamNACK(t, gcpFixture(t)) }

func testStreamNACK(t *testing.T, f *fixture) {
	a := f.stream(t, "n1", "r1")
	a.send(resource.RouteType, "", "", []string{"grpc_greeter"}, "")
	rds := a.next(5 * time.Second)
	require.Equal(t, map[string]uint32{"greeter/v1": 80, "greeter/v2": 20}, routeWeights(t, rds))
	a.send(resource.RouteType, "", rds.Nonce, []string{"grpc_greeter"}, "rejected for the test")
	waitUntil(t, "NACK recorded", func() bool { return len(f.group(t, "c/r1/").NACKs) == 1 })
	idx := f.src.apply(t, svcYAML(10))
	r := a.next(5 * time.Second)
	require.Equal(t, resource.RouteType, r.TypeUrl)
	require.Equal(t, map[string]uint32{"greeter/v1": 10, "greeter/v2": 90}, routeWeights(t, r))
	a.send(resource.RouteType, r.VersionInfo, r.Nonce, []string{"grpc_greeter"}, "")
	waitUntil(t, "synced after the fix", func() bool {
		g := f.group(t, "c/r1/")
		return g.Synced == 1 && g.AckedIndex == idx && len(g.NACKs) == 0
	})
}

// RDS answers only the requested names; a changed request set is answered.
func TestSluiceStreamRequestedNames(t *testing.T) { testStreamRequestedNames(t, sluiceFixture(t)) }

// TestGCPStreamRequestedNames is TestSluiceStreamRequestedNames on
// go-control-plane's loop.
func TestGCPStreamRequestedNames(t *testing.T) { testStreamRequestedNames(t, gcpFixture(t)) }

func testStreamRequestedNames(t *testing.T, f *fixture) {
	a := f.stream(t, "n1", "r1")
	a.send(resource.RouteType, "", "", []string{"nope"}, "")
	r := a.next(5 * time.Second)
	require.Empty(t, r.Resources, "a first request is answered even if empty")
	a.send(resource.RouteType, r.VersionInfo, r.Nonce, []string{"nope", "grpc_greeter"}, "")
	r = a.next(5 * time.Second)
	require.Len(t, r.Resources, 1)
}

// Streams of the own handler write answers as bytes encoded once: the
// transport tells the handler its responses are not compressed.
func TestSluiceStreamWritesPreparedBytes(t *testing.T) {
	f := sluiceFixture(t)
	a := f.stream(t, "n1", "r1")
	a.send(resource.ClusterType, "", "", nil, "")
	a.next(5 * time.Second)
	snap := f.srv.cache.current("c/r1/")
	ts := snap.typeAt(servedIndex(resource.ClusterType))
	ts.answers.mu.Lock()
	defer ts.answers.mu.Unlock()
	ans := ts.answers.bySub["*"]
	require.NotNil(t, ans)
	var encoded bool
	ans.enc.once.Do(func() { encoded = true })
	require.False(t, encoded, "the answer was encoded for the wire")
	require.NoError(t, ans.enc.err)
}
