package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/demo"
)

// loadgen through a proxy, here straight at a backend: gRPC with an
// authority, and HTTP with a Host header.
func TestLoadgenThroughProxy(t *testing.T) {
	b, err := demo.StartBackend(demo.BackendConfig{Service: "web", Version: "v7", GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Seed: 1})
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	for name, args := range map[string][]string{
		"grpc": {"--proxy", b.GRPCAddr(), "--authority", "web.example.com"},
		"http": {"--proxy", b.HTTPAddr(), "--authority", "web.example.com", "--http"},
	} {
		out, err := runDemoCmd(t, append([]string{"loadgen", "--rps", "100", "--duration", "1s", "--report", "10s", "--json"}, args...)...)
		require.NoError(t, err, name)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var total struct {
			Total    bool              `json:"total"`
			OK       uint64            `json:"ok"`
			Errors   uint64            `json:"errors"`
			Versions map[string]uint64 `json:"versions"`
		}
		require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &total), name)
		require.True(t, total.Total, name)
		require.Positive(t, total.OK, name)
		require.Zero(t, total.Errors, name)
		require.Equal(t, total.OK, total.Versions["v7"], name)
	}
}

func TestLoadgenFlagErrors(t *testing.T) {
	for args, want := range map[string]string{
		"--http --xds 127.0.0.1:1 --target web":               "--http needs --proxy",
		"--proxy 127.0.0.1:1":                                 "--proxy takes --authority",
		"--proxy 127.0.0.1:1 --authority a --xds 127.0.0.1:2": "--proxy takes --authority",
		"--target web": "--xds and --target are required",
	} {
		_, err := runDemoCmd(t, append([]string{"loadgen"}, strings.Fields(args)...)...)
		require.ErrorContains(t, err, want, args)
	}
}
