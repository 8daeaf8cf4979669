package demo

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

func TestIsShadow(t *testing.T) {
	for host, want := range map[string]bool{
		"web.example.com-shadow":      true,
		"web.example.com-shadow:8080": true,
		"127.0.0.1-shadow:9000":       true,
		"web.example.com":             false,
		"web.example.com:8080":        false,
		"shadow.example.com":          false,
		"":                            false,
	} {
		require.Equal(t, want, IsShadow(host), host)
	}
}

// A mirrored copy is served like any request, counted under the
// backend's own version in requests_total, and counted apart.
func TestBackendCountsMirroredRequests(t *testing.T) {
	b := startBackend(t, "v2", Faults{}, 1)
	get := func(host string) {
		req, err := http.NewRequest(http.MethodGet, "http://"+b.HTTPAddr()+"/", nil)
		require.NoError(t, err)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		_, _ = io.ReadAll(resp.Body)
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	get("web.example.com:8080")
	get("web.example.com-shadow:8080")
	get("web.example.com-shadow:8080")

	conn, err := grpc.NewClient("passthrough:///"+b.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithAuthority("greeter-shadow:9090"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = testgrpc.NewTestServiceClient(conn).UnaryCall(context.Background(), &testgrpc.SimpleRequest{})
	require.NoError(t, err)

	require.Equal(t, MirrorCount{HTTP: 2, GRPC: 1, Direct: 1, Hosts: []string{"greeter-shadow:9090", "web.example.com-shadow:8080"}}, b.Mirrored())
	fams := scrape(t, b)
	var total float64
	for _, m := range fams[MetricRequests].GetMetric() {
		if l := labelsOf(m); l["version"] == "v2" && l["protocol"] == ProtocolHTTP && l["code"] == "200" {
			total += m.GetCounter().GetValue()
		}
	}
	require.Equal(t, 3.0, total, "copies count as the backend's own version's requests")
	mirrored := map[string]float64{}
	for _, m := range fams[MetricMirrored].GetMetric() {
		l := labelsOf(m)
		require.Equal(t, "v2", l["version"])
		mirrored[l["protocol"]] = m.GetCounter().GetValue()
	}
	require.Equal(t, map[string]float64{ProtocolHTTP: 2, ProtocolGRPC: 1}, mirrored)
}
