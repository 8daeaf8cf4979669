package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/certs"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/raft"
	"github.com/sluicehq/sluice/server"
)

const (
	adminToken    = "admin-token-0000000001"
	deployerToken = "deployer-token-000001"
	viewerToken   = "viewer-token-00000001"
	nobodyToken   = "no-roles-token-000001"
)

func testAuth(t *testing.T) *api.Auth {
	t.Helper()
	a, err := api.NewAuth([]api.TokenEntry{
		{Token: adminToken, User: "ops", Roles: []api.Role{api.RoleAdmin}},
		{Token: deployerToken, User: "alice", Roles: []api.Role{api.RoleDeployer}},
		{Token: viewerToken, User: "watcher", Roles: []api.Role{api.RoleViewer}},
		{Token: nobodyToken, User: "nobody"},
	})
	require.NoError(t, err)
	return a
}

// startWith runs a real single-node server with cfg's security settings.
func startWith(t *testing.T, cfg server.Config) *server.Node {
	t.Helper()
	cfg.NodeID, cfg.DataDir, cfg.Bootstrap = "s1", t.TempDir(), true
	cfg.APIAddr, cfg.XDSAddr, cfg.RaftAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Raft = raft.Config{HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond}
	n, err := server.Start(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + n.APIAddr() + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 15*time.Second, 20*time.Millisecond, "node never became ready")
	return n
}

// send makes a raw request and returns the status and body.
func send(t *testing.T, method, url, token string, header map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestClosedByDefault: a node without authentication refuses to start
// unless told so; --dev refuses non-loopback addresses; an open node says
// so in /readyz.
func TestClosedByDefault(t *testing.T) {
	base := server.Config{NodeID: "x", DataDir: t.TempDir(), Bootstrap: true, APIAddr: "127.0.0.1:0", XDSAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0"}
	_, err := server.Start(context.Background(), base)
	require.ErrorIs(t, err, server.ErrInsecure)
	require.ErrorContains(t, err, "--auth-file")

	dev := base
	dev.Dev, dev.APIAddr = true, "0.0.0.0:0"
	_, err = server.Start(context.Background(), dev)
	require.ErrorIs(t, err, server.ErrInsecure)
	require.ErrorContains(t, err, "loopback only")

	noToken := base
	noToken.Auth = testAuth(t)
	_, err = server.Start(context.Background(), noToken)
	require.ErrorIs(t, err, server.ErrInsecure, "a node with auth needs its own token")

	n := startWith(t, server.Config{InsecureNoAuth: true})
	code, body := send(t, "GET", "http://"+n.APIAddr()+"/readyz", "", nil, "")
	require.Equal(t, http.StatusOK, code)
	var ready struct{ Security api.SecurityStatus }
	require.NoError(t, json.Unmarshal([]byte(body), &ready))
	require.Equal(t, "off: --insecure-no-auth", ready.Security.Auth)
	require.NotEmpty(t, ready.Security.Warnings)
}

// TestCrossSiteWritesRefused: a web page on another origin can send a
// text/plain POST without the browser asking first; it used to roll a
// release back. Such requests, and any write naming a foreign Origin, are
// refused before anything else is looked at.
func TestCrossSiteWritesRefused(t *testing.T) {
	n := startWith(t, server.Config{InsecureNoAuth: true})
	base := "http://" + n.APIAddr()
	for name, h := range map[string]map[string]string{
		"text/plain form":          {"Content-Type": "text/plain"},
		"urlencoded form":          {"Content-Type": "application/x-www-form-urlencoded"},
		"no content type":          nil,
		"json from another origin": {"Content-Type": "application/json", "Origin": "https://evil.example"},
		"marked cross-site":        {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"},
	} {
		code, body := send(t, "POST", base+"/v1/releases/web-v2/rollback", "", h, `{"reason":"x"}`)
		require.Equal(t, http.StatusForbidden, code, name)
		require.Contains(t, body, "cross-site request refused", name)
	}
	// The API's own origin, and the CLI's header, get through to the
	// handler (which answers that the release does not exist).
	code, _ := send(t, "POST", base+"/v1/releases/web-v2/rollback", "", map[string]string{"Content-Type": "application/json", "Origin": base}, `{}`)
	require.Equal(t, http.StatusNotFound, code)
	code, _ = send(t, "POST", base+"/v1/releases/web-v2/rollback", "", map[string]string{api.ClientHeader: "test"}, ``)
	require.Equal(t, http.StatusNotFound, code)
}

const twoVersions = `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: web}
spec:
  protocol: http
  port: 8080
  versions:
    - {name: v1, weight: 100, endpoints: [{address: "10.0.0.1:80"}]}
    - {name: v2, weight: 0, endpoints: [{address: "10.0.0.2:80"}]}
---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: p}
spec:
  services: [web]
  slo:
    objective: 99.9
    errorRatioQuery: 'sum(rate(errors{version="{{version}}"}[{{window}}]))'
    requestsQuery: 'sum(rate(requests{version="{{version}}"}[{{window}}]))'
`

// TestActorHeaderNeverTrusted: with tokens the recorded actor is the
// token's user whatever X-Sluice-Actor says; without authentication the
// header is recorded as an unverified name.
func TestActorHeaderNeverTrusted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   server.Config
		token string
		want  string
	}{
		{"tokens", server.Config{Auth: testAuth(t), JoinToken: adminToken}, deployerToken, "alice"},
		{"no auth", server.Config{InsecureNoAuth: true}, "", "unverified:admin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startWith(t, tc.cfg)
			c := api.NewClient(n.APIAddr())
			c.Token, c.Actor = tc.token, "admin"
			_, err := c.Apply(context.Background(), "web.yaml", []byte(twoVersions))
			require.NoError(t, err)
			_, err = c.ReleaseAction(context.Background(), "nope", "pause", "")
			require.Error(t, err)
			rel, err := c.StartRelease(context.Background(), releaseOf("web", "v2"))
			require.NoError(t, err)
			require.NotEmpty(t, rel.Status.Decisions)
			require.Equal(t, tc.want, rel.Status.Decisions[0].Actor)
		})
	}
}

// TestReadsNeedAViewer: dumps (the xDS config with endpoint addresses, the
// members, the status) and /metrics need a token that can read; /metrics
// can be opened.
func TestReadsNeedAViewer(t *testing.T) {
	n := startWith(t, server.Config{Auth: testAuth(t), JoinToken: adminToken})
	base := "http://" + n.APIAddr()
	for _, path := range []string{"/v1/xds/config?group=web//", "/v1/xds/status", "/v1/cluster/members", "/v1/services", "/metrics"} {
		code, _ := send(t, "GET", base+path, "", nil, "")
		require.Equal(t, http.StatusUnauthorized, code, path)
		code, _ = send(t, "GET", base+path, nobodyToken, nil, "")
		require.Equal(t, http.StatusForbidden, code, path)
		code, _ = send(t, "GET", base+path, viewerToken, nil, "")
		require.Contains(t, []int{http.StatusOK, http.StatusNotFound}, code, path)
	}
	code, _ := send(t, "GET", base+"/readyz", "", nil, "")
	require.Equal(t, http.StatusOK, code, "probes stay open")

	open := startWith(t, server.Config{Auth: testAuth(t), JoinToken: adminToken, MetricsOpen: true})
	code, body := send(t, "GET", "http://"+open.APIAddr()+"/metrics", "", nil, "")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "sluice_raft_state")
}

// TestJoinNeedsCredentialsAndALiveNode: an unauthenticated join is
// refused; so is an admin's join of a voter nobody answers for, which used
// to be added and cost a one-node cluster its quorum. The configuration is
// unchanged and writes still work.
func TestJoinNeedsCredentialsAndALiveNode(t *testing.T) {
	n := startWith(t, server.Config{Auth: testAuth(t), JoinToken: adminToken})
	base := "http://" + n.APIAddr()
	bogus := `{"id": "bogus", "raftAddr": "127.0.0.1:1", "voter": true}`
	h := map[string]string{"Content-Type": "application/json"}
	code, _ := send(t, "POST", base+"/v1/cluster/join", "", h, bogus)
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = send(t, "POST", base+"/v1/cluster/join", deployerToken, h, bogus)
	require.Equal(t, http.StatusForbidden, code)
	code, body := send(t, "POST", base+"/v1/cluster/join", adminToken, h, bogus)
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, "no Raft peer answers at that address")

	servers, err := n.Raft().Servers()
	require.NoError(t, err)
	require.Len(t, servers, 1, "the configuration did not change")
	c := api.NewClient(n.APIAddr())
	c.Token = adminToken
	_, err = c.Apply(context.Background(), "web.yaml", []byte(twoVersions))
	require.NoError(t, err, "the cluster still commits")
}

// TestStrictRequestBodies: JSON bodies are held to the YAML rules:
// duplicate keys are refused with a position (encoding/json kept the last).
func TestStrictRequestBodies(t *testing.T) {
	n := startWith(t, server.Config{Auth: testAuth(t), JoinToken: adminToken})
	h := map[string]string{"Content-Type": "application/json"}
	code, body := send(t, "POST", "http://"+n.APIAddr()+"/v1/releases", deployerToken, h,
		`{"metadata": {"name": "a"}, "spec": {"service": "web", "to": "v2", "to": "v3"}}`)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, `"field": "spec.to"`)
	require.Contains(t, body, "duplicate field")

	long := strings.Repeat("x", 400000)
	code, body = send(t, "GET", "http://"+n.APIAddr()+"/v1/releases/"+long, viewerToken, nil, "")
	require.Contains(t, []int{http.StatusNotFound, http.StatusRequestHeaderFieldsTooLarge}, code)
	require.Less(t, len(body), 8000, "a long name is not echoed back whole")
}

// tlsNode starts a node with a certificate from a fresh development CA.
func tlsNode(t *testing.T) (*server.Node, string) {
	t.Helper()
	dir := t.TempDir()
	_, err := certs.Init(certs.InitOptions{Dir: dir, Now: time.Now(), Validity: time.Hour,
		Nodes: map[string][]string{"s1": {"127.0.0.1"}}})
	require.NoError(t, err)
	store, err := certs.Load(certs.Files{Cert: filepath.Join(dir, "node-s1.crt"), Key: filepath.Join(dir, "node-s1.key"), CA: filepath.Join(dir, "ca.crt")}, certs.Options{})
	require.NoError(t, err)
	cfg := server.Config{NodeID: "s1", DataDir: t.TempDir(), Bootstrap: true, APIAddr: "127.0.0.1:0", XDSAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0",
		Auth: testAuth(t), JoinToken: adminToken, TLS: store,
		Raft: raft.Config{HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond}}
	n, err := server.Start(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	return n, filepath.Join(dir, "ca.crt")
}

// TestAPIOverHTTPS: the API speaks only HTTPS; a client that trusts the
// cluster's CA gets through, plaintext and a client trusting another CA do
// not.
func TestAPIOverHTTPS(t *testing.T) {
	n, caFile := tlsNode(t)
	pem, err := os.ReadFile(caFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	c := api.NewClientWith(n.APIAddr(), api.ClientOptions{TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
	c.Token = adminToken
	require.Eventually(t, func() bool { return c.Ready(context.Background()) }, 15*time.Second, 20*time.Millisecond)
	_, err = c.Apply(context.Background(), "web.yaml", []byte(twoVersions))
	require.NoError(t, err)

	plain := api.NewClient(n.APIAddr())
	plain.Token = adminToken
	_, err = plain.Members(context.Background())
	require.Error(t, err, "plain HTTP is refused")

	other := api.NewClientWith(n.APIAddr(), api.ClientOptions{TLS: &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}})
	other.Token = adminToken
	_, err = other.Members(context.Background())
	require.ErrorContains(t, err, "certificate signed by unknown authority")

	var ready struct{ Security api.SecurityStatus }
	require.NoError(t, c.GetJSON(context.Background(), "/readyz", &ready))
	require.Equal(t, []string{"api", "raft", "xds"}, ready.Security.TLS)
	require.Empty(t, ready.Security.Warnings)
}

func releaseOf(service, to string) config.Release {
	return config.Release{Metadata: config.Metadata{Name: service + "-" + to}, Spec: config.ReleaseSpec{Service: service, To: to}}
}
