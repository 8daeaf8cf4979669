package envoybench

import (
	"net"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/stretchr/testify/require"
)

// TestBareVersionsPerType checks that a change of weights gives the bare
// server's routes the round's version and leaves every other type's
// version alone, so go-control-plane resends only the routes.
func TestBareVersionsPerType(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s, err := ServeBare(lis, 5, 10000, 0, "bare-0")
	require.NoError(t, err)
	defer s.Close()
	versions := func() map[string]string {
		snap, err := s.cache.GetSnapshot(Group.Key())
		require.NoError(t, err)
		out := map[string]string{}
		for _, typ := range []string{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType} {
			out[typ] = snap.GetVersion(typ)
		}
		return out
	}
	before := versions()
	require.Equal(t, "bare-0", before[resource.RouteType])
	require.NoError(t, s.Set(1, "bare-1"))
	after := versions()
	require.Equal(t, "bare-1", after[resource.RouteType])
	for _, typ := range []string{resource.ListenerType, resource.ClusterType, resource.EndpointType} {
		require.NotEmpty(t, after[typ], typ)
		require.Equal(t, before[typ], after[typ], "%s changed version although its content did not", typ)
	}
}
