package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/state"
)

// TestNodeDiscoversEndpoints: a node's leader runs the discovery loop and
// the API reports what it recorded.
func TestNodeDiscoversEndpoints(t *testing.T) {
	n := startNode(t)
	c := api.NewClient(n.APIAddr())
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "web.json")
	require.NoError(t, os.WriteFile(path, []byte(`[{"targets": ["10.0.0.9:80"], "labels": {"zone": "z1"}}]`), 0o600))
	_, err := c.Apply(ctx, "web.yaml", []byte(fmt.Sprintf(`apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: web}
spec:
  protocol: http
  port: 8080
  versions:
    - {name: v1, endpoints: [{address: "10.0.0.1:80"}]}
    - name: v2
      discovery: {file: {path: %s, interval: 100ms}}
`, path)))
	require.NoError(t, err)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := c.ServiceEndpoints(ctx, "web")
		require.NoError(t, err)
		require.Len(t, resp.Versions, 1, "only v2 is discovered")
		if set := resp.Versions[0].Set; set != nil {
			require.Equal(t, "file:"+path, resp.Versions[0].Source)
			require.Equal(t, []state.ObservedEndpoint{{Address: "10.0.0.9:80", Zone: "z1", Health: state.Healthy}}, set.Endpoints)
			require.Len(t, set.History, 1)
			break
		}
		require.True(t, time.Now().Before(deadline), "v2 never observed")
		time.Sleep(50 * time.Millisecond)
	}

	_, err = c.ServiceEndpoints(ctx, "missing")
	var ae *api.Error
	require.True(t, errors.As(err, &ae), "%v", err)
	require.Equal(t, http.StatusNotFound, ae.Status)
}
