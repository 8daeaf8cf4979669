package test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/test/envoytest"
)

// TestEnvoyBootstrapValidates checks every kind of bootstrap `sluice envoy
// bootstrap` prints with the real Envoy's `--mode validate`.
func TestEnvoyBootstrapValidates(t *testing.T) {
	bin := envoytest.Binary(t)
	base := []string{"envoy", "bootstrap", "--node-id", "edge-1", "--cluster", "edge"}
	// Envoy reads the certificate files when it validates.
	dir := t.TempDir()
	out, err := exec.Command(sluiceBin, "tls", "init", "--dir", dir, "--node", "n1=127.0.0.1", "--proxy", "edge", "--validity", "1h").CombinedOutput()
	require.NoError(t, err, string(out))
	mtls := []string{"--tls-ca", filepath.Join(dir, "ca.crt"), "--tls-cert", filepath.Join(dir, "proxy-edge.crt"), "--tls-key", filepath.Join(dir, "proxy-edge.key")}
	variants := map[string][]string{
		"one node, yaml":            {"--xds", "127.0.0.1:18000"},
		"one node, json":            {"--xds", "127.0.0.1:18000", "-o", "json"},
		"three nodes with locality": {"--region", "eu-west", "--zone", "eu-west-1a", "--xds", "10.0.0.1:18000", "--xds", "10.0.0.2:18000", "--xds", "10.0.0.3:18000"},
		"delta, yaml":               {"--delta", "--xds", "127.0.0.1:18000", "--xds", "127.0.0.1:18001"},
		"delta, json":               {"--delta", "-o", "json", "--xds", "127.0.0.1:18000"},
		"names (docker compose)":    {"--xds", "sluice-1:18000", "--xds", "sluice-2:18000", "--xds", "sluice-3:18000", "--admin", "0.0.0.0:9901"},
		"gateway on loopback":       {"--gateway-address", "127.0.0.1", "--xds", "127.0.0.1:18000"},
		"gateway on IPv6":           {"--gateway-address", "::", "--xds", "[::1]:18000", "--admin", "[::1]:9901", "--max-connections", "100"},
		"admin on a free port":      {"--admin", "127.0.0.1:0", "--xds", "127.0.0.1:18000"},
		"mutual TLS, yaml":          append([]string{"--xds", "127.0.0.1:18000", "--tls-server-name", "n1"}, mtls...),
		"mutual TLS, delta, json":   append([]string{"--delta", "-o", "json", "--xds", "sluice-1:18000", "--tls-trust-domain", "prod.example"}, mtls...),
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	results := map[string]error{}
	outputs := map[string]string{}
	sem := make(chan struct{}, 2)
	for name, args := range variants {
		boot, err := exec.Command(sluiceBin, append(base, args...)...).Output()
		require.NoError(t, err, name)
		if strings.Contains(name, "json") {
			require.True(t, strings.HasPrefix(string(boot), "{"), "%s: JSON output", name)
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out, err := envoytest.Validate(bin, boot)
			mu.Lock()
			results[name], outputs[name] = err, out
			mu.Unlock()
		}()
	}
	wg.Wait()
	for name := range variants {
		require.NoErrorf(t, results[name], "%s: Envoy refused the bootstrap:\n%s", name, outputs[name])
		require.Contains(t, outputs[name], "OK", name)
	}

	// A bootstrap Envoy would refuse is not printed at all.
	out, err = exec.Command(sluiceBin, "envoy", "bootstrap", "--node-id", "e", "--cluster", "c", "--xds", "nohost").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), `--xds[0] "nohost": not host:port`)
	out, err = exec.Command(sluiceBin, append(base, "--xds", "127.0.0.1:18000", "--tls-ca", mtls[1])...).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "mutual TLS needs --tls-ca, --tls-cert and --tls-key together; missing --tls-cert, --tls-key")
}
