package xds

import (
	"errors"
	"path/filepath"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/structpb"
)

func nodeWithMeta(t *testing.T, meta map[string]any) *corev3.Node {
	t.Helper()
	md, err := structpb.NewStruct(meta)
	require.NoError(t, err)
	return &corev3.Node{Id: "envoy-1", Cluster: "edge", Locality: &corev3.Locality{Region: "eu-west", Zone: "a"}, Metadata: md}
}

func TestGroupGatewayAddress(t *testing.T) {
	g := GroupOf(nodeWithMeta(t, map[string]any{MetaGatewayAddress: "127.0.0.1", "other": "x"}))
	require.Equal(t, Group{Cluster: "edge", Region: "eu-west", Zone: "a", GatewayAddress: "127.0.0.1"}, g)
	require.Equal(t, "edge/eu-west/a@127.0.0.1", g.Key())
	// Without the key the group and its key are as before.
	require.Equal(t, "edge/eu-west/a", GroupOf(nodeWithMeta(t, map[string]any{"other": "x"})).Key())
	// A non-string value is kept as JSON so that translation reports it.
	require.Equal(t, "12", GroupOf(nodeWithMeta(t, map[string]any{MetaGatewayAddress: 12})).GatewayAddress)
}

// gatewayBinds returns the socket address of every listener with filter
// chains (the gateway listeners).
func gatewayBinds(t *testing.T, r *Resources) []string {
	t.Helper()
	var out []string
	for _, res := range r.Listeners {
		l := res.(*listenerv3.Listener)
		if l.GetApiListener() != nil {
			continue
		}
		out = append(out, l.GetAddress().GetSocketAddress().GetAddress())
	}
	return out
}

func TestTranslateGatewayAddress(t *testing.T) {
	st := loadState(t, filepath.Join("testdata", "in", "mixed.yaml"))
	def, err := Translate(st, Group{Cluster: "edge"})
	require.NoError(t, err)
	binds := gatewayBinds(t, def)
	require.NotEmpty(t, binds)
	for _, b := range binds {
		require.Equal(t, DefaultGatewayAddress, b)
	}

	for addr, want := range map[string]string{"127.0.0.1": "127.0.0.1", "::1": "::1", "::": "::", "0:0::1": "::1"} {
		got, err := Translate(st, Group{Cluster: "edge", GatewayAddress: addr})
		require.NoError(t, err, addr)
		for _, b := range gatewayBinds(t, got) {
			require.Equal(t, want, b, addr)
		}
		// Only the bind address differs: routes, clusters and endpoints
		// are those of the default group.
		require.Equal(t, encodeAll(t, &Resources{Routes: def.Routes, Clusters: def.Clusters, Endpoints: def.Endpoints}),
			encodeAll(t, &Resources{Routes: got.Routes, Clusters: got.Clusters, Endpoints: got.Endpoints}))
	}

	long := GroupOf(nodeWithMeta(t, map[string]any{MetaGatewayAddress: string(make([]byte, 1<<20))})).GatewayAddress
	require.Len(t, long, maxGatewayAddress+3, "hostile metadata is cut")
	for _, bad := range []string{"localhost", "127.0.0.1:80", "fe80::1%eth0", "12", " 127.0.0.1", long} {
		_, err := Translate(st, Group{Cluster: "edge", GatewayAddress: bad})
		require.Error(t, err, "%q", bad)
		require.True(t, errors.Is(err, ErrInvalidResource), "%v", err)
		require.Contains(t, err.Error(), MetaGatewayAddress)
		require.Less(t, len(err.Error()), 1000, "the error quotes a bounded part of the value")
	}
}
