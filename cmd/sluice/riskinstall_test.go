package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCLIRiskInstall: train on the test data, install the model, see it
// in force; a stale --expect-version and a bad file are refused; --default
// returns to the built-in model.
func TestCLIRiskInstall(t *testing.T) {
	addr := startServer(t)
	dir := t.TempDir()
	model := filepath.Join(dir, "model.json")
	_, err := runRisk(t, "train", "--data", filepath.Join(riskTestdata, "alpha_k_feature.csv"), "-o", model)
	require.NoError(t, err)

	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"version":"x","features":[]}`), 0o600))
	_, _, err = run(t, "", "--server", addr, "risk", "install", bad)
	require.ErrorIs(t, err, errBadModelFile)
	require.ErrorContains(t, err, "bad.json")

	out, _, err := run(t, "", "--server", addr, "risk", "install", model)
	require.NoError(t, err)
	require.Contains(t, out, "(installed)")

	out, _, err = run(t, "", "--server", addr, "risk", "model")
	require.NoError(t, err)
	require.Contains(t, out, "origin:   installed")
	require.Contains(t, out, "from model.json (was built-in")

	_, _, err = run(t, "", "--server", addr, "risk", "install", "--expect-version", "default", model)
	require.ErrorContains(t, err, "the install expected the built-in model")

	out, _, err = run(t, "", "--server", addr, "risk", "install", "--default")
	require.NoError(t, err)
	require.Contains(t, out, "(built-in)")

	_, _, err = run(t, "", "--server", addr, "risk", "install")
	require.ErrorContains(t, err, "--default")
}
