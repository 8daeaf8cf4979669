package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/raft"
	"github.com/sluicehq/sluice/server"
)

// startNode runs a real single-node server (Raft on disk, xDS, API) on
// loopback ports.
func startNode(t *testing.T) *server.Node {
	t.Helper()
	n, err := server.Start(context.Background(), server.Config{
		NodeID: "t1", DataDir: t.TempDir(), Bootstrap: true, Dev: true,
		APIAddr: "127.0.0.1:0", XDSAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0",
		Raft: raft.Config{HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond},
	})
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	c := api.NewClient(n.APIAddr())
	deadline := time.Now().Add(15 * time.Second)
	for !c.Ready(context.Background()) {
		require.True(t, time.Now().Before(deadline), "node never became ready")
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

const svc = `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: web}
spec:
  protocol: http
  port: 8080
  versions:
    - {name: v1, endpoints: [{address: "10.0.0.1:80"}]}
`

func TestAPIErrorsAreJSONWithPositions(t *testing.T) {
	n := startNode(t)
	resp, err := http.Post("http://"+n.APIAddr()+"/v1/apply?file=web.yaml", "application/yaml",
		strings.NewReader(svc+"  colour: blue\n---\nkind: Nope\n"))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	var body api.ErrorBody
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Contains(t, body.Error, "nothing was applied")
	require.GreaterOrEqual(t, len(body.Details), 2)
	require.Equal(t, "web.yaml", body.Details[0].Pos.File)
	require.Equal(t, 9, body.Details[0].Pos.Line)
	require.Equal(t, "spec.colour", body.Details[0].Field)

	// Nothing of the file was applied.
	list, err := api.NewClient(n.APIAddr()).List(context.Background(), "services")
	require.NoError(t, err)
	require.Empty(t, list.Items)
}

func TestAPIStatusCodes(t *testing.T) {
	n := startNode(t)
	c := api.NewClient(n.APIAddr())
	ctx := context.Background()

	_, err := c.Get(ctx, "services", "missing")
	var ae *api.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, http.StatusNotFound, ae.Status)

	_, err = c.List(ctx, "gadgets")
	require.ErrorAs(t, err, &ae)
	require.Equal(t, http.StatusNotFound, ae.Status)
	require.Contains(t, ae.Error(), "known: services, policies, releases")

	// An oversized body is refused before it is parsed.
	big := strings.Repeat("#", api.MaxBodyBytes+1)
	resp, err := http.Post("http://"+n.APIAddr()+"/v1/apply", "application/yaml", strings.NewReader(big))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)

	// Apply, then a manual action on a release that does not exist.
	_, err = c.Apply(ctx, "web.yaml", []byte(svc))
	require.NoError(t, err)
	_, err = c.ReleaseAction(ctx, "nope", "pause", "")
	require.ErrorAs(t, err, &ae)
	require.Equal(t, http.StatusNotFound, ae.Status)

	// Deleting a service a policy covers is refused and says who.
	_, err = c.Apply(ctx, "p.yaml", []byte("apiVersion: sluice.dev/v1alpha1\nkind: ReleasePolicy\nmetadata: {name: p}\nspec: {services: [web]}\n"))
	require.NoError(t, err)
	err = c.Delete(ctx, "services", "web")
	require.ErrorIs(t, err, config.ErrInvalid)
	require.Contains(t, err.Error(), `ReleasePolicy "p"`)
}

func TestHealthReadyMetrics(t *testing.T) {
	n := startNode(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + n.APIAddr() + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
	_, err := api.NewClient(n.APIAddr()).Apply(context.Background(), "web.yaml", []byte(svc))
	require.NoError(t, err)
	resp, err := http.Get("http://" + n.APIAddr() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, m := range []string{
		`sluice_raft_state{state="Leader"} 1`, "sluice_raft_applied_index", "sluice_state_index",
		`sluice_xds_streams{protocol="sotw"}`, "sluice_xds_state_index", "sluice_xds_snapshot_build_seconds",
		`sluice_releases{phase="Progressing"} 0`, `sluice_rollbacks_total{reason="failed"} 0`,
	} {
		require.Contains(t, string(b), m)
	}
}
