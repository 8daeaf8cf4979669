package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/demo"
)

func runDemoCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestFaultsCommand(t *testing.T) {
	b, err := demo.StartBackend(demo.BackendConfig{Service: "greeter", Version: "v3", GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Faults: demo.Faults{Latency: 5 * time.Millisecond, LatencyJitter: 2 * time.Millisecond}, Seed: 1})
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })

	// Only the flags given change.
	out, err := runDemoCmd(t, "faults", "--addr", b.HTTPAddr(), "--error-ratio", "0.25")
	require.NoError(t, err)
	require.Regexp(t, `^\d\d:\d\d:\d\d\.\d{3} errorRatio=0.25 latency=5ms latencyJitter=2ms\n$`, out)
	require.Equal(t, demo.Faults{ErrorRatio: 0.25, Latency: 5 * time.Millisecond, LatencyJitter: 2 * time.Millisecond}, b.Faults())

	// No flag: read only.
	out, err = runDemoCmd(t, "faults", "--addr", b.HTTPAddr())
	require.NoError(t, err)
	require.Contains(t, out, "errorRatio=0.25 latency=5ms")

	// A rejected change says why and changes nothing.
	_, err = runDemoCmd(t, "faults", "--addr", b.HTTPAddr(), "--error-ratio", "2", "--latency", "0s")
	require.ErrorContains(t, err, "400 Bad Request")
	require.ErrorContains(t, err, "errorRatio 2: must be between 0 and 1")
	require.Equal(t, 0.25, b.Faults().ErrorRatio)
	require.Equal(t, 5*time.Millisecond, b.Faults().Latency)

	_, err = runDemoCmd(t, "faults", "--addr", "localhost", "--error-ratio", "0")
	require.ErrorContains(t, err, "want the backend's HTTP address")
}
