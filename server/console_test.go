package server_test

import (
	"bufio"
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
	"github.com/sluicehq/sluice/server"
	"github.com/sluicehq/sluice/server/servertest"
)

func startAuthNode(t *testing.T) *server.Node {
	t.Helper()
	auth := testAuth(t)
	return servertest.Start(t, func(c *server.Config) { c.Auth, c.JoinToken = auth, adminToken })
}

func getWith(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// The shell needs no token; every page with data, the event stream and
// whoami need one, exactly like the API's other reads.
func TestConsoleNeedsATokenForData(t *testing.T) {
	n := startAuthNode(t)
	base := "http://" + n.APIAddr()
	code, body := getWith(t, base+"/ui/releases/x", "")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "console.js")
	for _, path := range []string{"/v1/console/overview/", "/v1/console/cluster/", "/v1/events", "/v1/whoami"} {
		code, body = getWith(t, base+path, "")
		require.Equal(t, http.StatusUnauthorized, code, path)
		require.Contains(t, body, "unauthenticated", path)
	}
	code, body = getWith(t, base+"/v1/whoami", viewerToken)
	require.Equal(t, http.StatusOK, code)
	var who api.WhoAmI
	require.NoError(t, json.Unmarshal([]byte(body), &who))
	require.Equal(t, api.WhoAmI{User: "watcher", Roles: []api.Role{api.RoleViewer}, Auth: true}, who)
	code, body = getWith(t, base+"/v1/console/cluster/", viewerToken)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `data-node="t1"`)
}

const webPolicy = `---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: web}
spec:
  services: [web]
  slo:
    objective: 99
    errorRatioQuery: 'sum(rate(errors_total{version="{{version}}"}[{{window}}]))'
    requestsQuery: 'sum(increase(requests_total{version="{{version}}"}[{{window}}]))'
`

// GET /v1/events sends a release event when a release appears and a state
// event with the new index, on a real node.
func TestEventsStreamReleaseChanges(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+n.APIAddr()+"/v1/events", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := make(chan [2]string, 64)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		var typ string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				events <- [2]string{typ, strings.TrimPrefix(line, "data: ")}
			}
		}
	}()
	next := func(want string) string {
		t.Helper()
		for {
			select {
			case e, ok := <-events:
				require.True(t, ok, "stream ended before a %s event", want)
				if e[0] == want {
					return e[1]
				}
			case <-ctx.Done():
				t.Fatalf("no %s event", want)
			}
		}
	}
	var hello api.StateEvent
	require.NoError(t, json.Unmarshal([]byte(next(api.EventHello)), &hello))

	c := api.NewClient(n.APIAddr())
	_, err = c.Apply(ctx, "web.yaml", []byte(svc+"    - {name: v2, endpoints: [{address: \"10.0.0.2:80\"}]}\n"+webPolicy))
	require.NoError(t, err)
	rel := config.Release{Metadata: config.Metadata{Name: "web-v2"}, Spec: config.ReleaseSpec{Service: "web", To: "v2"}}
	_, err = c.StartRelease(ctx, rel)
	require.NoError(t, err)
	var ev api.ReleaseEvent
	require.NoError(t, json.Unmarshal([]byte(next(api.EventRelease)), &ev))
	require.Equal(t, "web-v2", ev.Name)
	require.Equal(t, "web", ev.Service)
	var st api.StateEvent
	require.NoError(t, json.Unmarshal([]byte(next(api.EventState)), &st))
	require.Greater(t, st.Index, hello.Index)
}
