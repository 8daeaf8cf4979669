package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/raft"
	"github.com/sluicehq/sluice/server"
)

func startServer(t *testing.T) string {
	t.Helper()
	return startNode(t).APIAddr()
}

// startNode runs a one-node dev cluster and waits until it is ready.
func startNode(t *testing.T) *server.Node {
	t.Helper()
	n, err := server.Start(context.Background(), server.Config{
		NodeID: "cli", DataDir: t.TempDir(), Bootstrap: true, Dev: true,
		APIAddr: "127.0.0.1:0", XDSAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0",
		Raft: raft.Config{HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond},
	})
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	deadline := time.Now().Add(15 * time.Second)
	for !api.NewClient(n.APIAddr()).Ready(context.Background()) {
		require.True(t, time.Now().Before(deadline))
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

// run executes the CLI in-process and returns stdout, stderr and the error
// main would turn into a non-zero exit code.
func run(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot(strings.NewReader(stdin), &out, &errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestCLIApplyGetDelete(t *testing.T) {
	addr := startServer(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "svc.yaml")
	require.NoError(t, os.WriteFile(good, []byte(`apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: web}
spec:
  protocol: http
  port: 8080
  domains: [web.example.com]
  versions:
    - {name: v1, weight: 80, endpoints: [{address: "10.0.0.1:80"}]}
    - {name: v2, weight: 20, endpoints: [{address: "10.0.0.2:80"}]}
`), 0o600))

	out, _, err := run(t, "", "--server", addr, "apply", "-f", good)
	require.NoError(t, err)
	require.Equal(t, "Service/web created\n", out)
	out, _, err = run(t, "", "--server", addr, "apply", "-f", good)
	require.NoError(t, err)
	require.Equal(t, "Service/web unchanged\n", out)

	out, _, err = run(t, "", "--server", addr, "get", "services")
	require.NoError(t, err)
	require.Contains(t, out, "web")
	require.Contains(t, out, "v1=80% (1 ep), v2=20% (1 ep)")

	out, _, err = run(t, "", "--server", addr, "get", "services", "web", "-o", "yaml")
	require.NoError(t, err)
	require.Contains(t, out, "kind: Service")
	require.Contains(t, out, "weight: 80")

	// Bad input from stdin: a readable error naming <stdin>:line:col, a
	// non-nil error (exit code 1), and nothing applied.
	_, _, err = run(t, "apiVersion: sluice.dev/v1alpha1\nkind: Service\nmetadata: {name: api}\nspec: {protocol: ftp}\n",
		"--server", addr, "apply", "-f", "-")
	require.Error(t, err)
	require.Contains(t, err.Error(), "<stdin>:4:18: Service \"api\": spec.protocol:")
	out, _, err = run(t, "", "--server", addr, "get", "services", "api")
	require.Error(t, err)
	require.Contains(t, err.Error(), "not found")
	require.Empty(t, out)

	out, _, err = run(t, "", "--server", addr, "delete", "service", "web")
	require.NoError(t, err)
	require.Equal(t, "service web deleted\n", out)

	_, _, err = run(t, "", "--server", "127.0.0.1:1", "get", "services")
	require.ErrorContains(t, err, "cannot reach sluice at http://127.0.0.1:1")
}

func TestCLIUsageErrors(t *testing.T) {
	_, _, err := run(t, "", "apply")
	require.ErrorContains(t, err, "-f FILE is required")
	_, _, err = run(t, "", "release", "start", "greeter")
	require.ErrorContains(t, err, "--to VERSION is required")
	_, _, err = run(t, "", "server", "--bootstrap", "--join", "x:1", "--data-dir", t.TempDir())
	require.ErrorContains(t, err, "mutually exclusive")
}
