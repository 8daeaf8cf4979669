package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/api"
)

func declaredYAML(version string) string {
	return `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata:
  name: greeter
  annotations: {change.sluice.dev/commit: abc123}
spec:
  protocol: grpc
  version: ` + version + `
  versions:
    - {name: v1, endpoints: [{address: "10.0.0.1:80"}]}
    - {name: v2, endpoints: [{address: "10.0.0.2:80"}]}
---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: greeter}
spec:
  services: [greeter]
  slo:
    objective: 99
    errorRatioQuery: 'e{version="{{version}}"}'
    requestsQuery: 'r{version="{{version}}"}'
  steps: [{weight: 10, bake: 1s}]
`
}

// TestCLIDeclaredVersion: a declared version change starts a release,
// get -o yaml round-trips, static weights are refused unless forced, and
// undo --now sends the traffic back.
func TestCLIDeclaredVersion(t *testing.T) {
	addr := startServer(t)
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	_, _, err := run(t, "", "--server", addr, "apply", "-f", file("v1.yaml", declaredYAML("v1")))
	require.NoError(t, err)
	out, _, err := run(t, "", "--server", addr, "get", "services")
	require.NoError(t, err)
	require.Regexp(t, `greeter\s+grpc\s+-\s+v1\s+v1=100% \(1 ep\), v2=0% \(1 ep\)\s+-`, out)

	out, _, err = run(t, "", "--server", addr, "apply", "-f", file("v2.yaml", declaredYAML("v2")))
	require.NoError(t, err)
	started := regexp.MustCompile(`Release/(\S+) started`).FindStringSubmatch(out)
	require.NotNil(t, started, out)
	rel := started[1]
	out, _, err = run(t, "", "--server", addr, "get", "services", "greeter")
	require.NoError(t, err)
	require.Contains(t, out, rel, "get services names the release moving the service")

	// What get -o yaml prints applies as unchanged.
	yamlOut, _, err := run(t, "", "--server", addr, "get", "services", "greeter", "-o", "yaml")
	require.NoError(t, err)
	require.Contains(t, yamlOut, "version: v2")
	out, _, err = run(t, yamlOut, "--server", addr, "apply", "-f", "-")
	require.NoError(t, err)
	require.Equal(t, "Service/greeter unchanged\n", out)

	_, _, err = run(t, "", "--server", addr, "release", "promote", rel)
	require.NoError(t, err)
	cl := api.NewClient(addr)
	waitSplit(t, cl, "v2=100")

	// Static weights on the covered service: refused, unless forced.
	static := strings.Replace(strings.Replace(declaredYAML("v1"), "  version: v1\n", "", 1),
		`{name: v1, endpoints`, `{name: v1, weight: 50, endpoints`, 1)
	static = strings.Replace(static, `{name: v2, endpoints`, `{name: v2, weight: 50, endpoints`, 1)
	_, _, err = run(t, "", "--server", addr, "apply", "-f", file("static.yaml", static))
	require.ErrorContains(t, err, `Service "greeter" is covered by ReleasePolicy "greeter"`)
	require.ErrorContains(t, err, "sluice apply --force")
	waitSplit(t, cl, "v2=100")

	// Undo at once: back to v1.
	out, _, err = run(t, "", "--server", addr, "release", "undo", "greeter", "--now", "--reason", "INC-1")
	require.NoError(t, err)
	require.Contains(t, out, "all traffic back from v2 to v1 now")
	waitSplit(t, cl, "v1=100")

	out, _, err = run(t, "", "--server", addr, "apply", "--force", "-f", file("static.yaml", static))
	require.NoError(t, err)
	require.Contains(t, out, "Service/greeter: static weights forced (recorded)")
	waitSplit(t, cl, "v1=50 v2=50")

	// Rolling a promoted release back points at undo.
	_, _, err = run(t, "", "--server", addr, "release", "rollback", rel)
	require.ErrorContains(t, err, "sluice release undo greeter")
}

// waitSplit waits until greeter's live split is want ("v1=50 v2=50").
func waitSplit(t *testing.T, cl *api.Client, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		list, err := cl.List(context.Background(), "services")
		require.NoError(t, err)
		var parts []string
		for _, v := range list.Live["greeter"].Split {
			if v.Weight > 0 {
				parts = append(parts, fmt.Sprintf("%s=%d", v.Version, v.Weight))
			}
		}
		if got := strings.Join(parts, " "); got == want {
			return
		}
		require.True(t, time.Now().Before(deadline), "split %v, want %s", parts, want)
		time.Sleep(20 * time.Millisecond)
	}
}
