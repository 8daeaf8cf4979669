package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRiskInstallCluster: a model trained on the repository's test data
// and installed through one node is the model every node reports; a second
// install with a stale --expect-version is refused.
func TestRiskInstallCluster(t *testing.T) {
	procs := startCluster(t, 3)
	waitMembers(t, procs, 3)
	leader := leaderOf(t, procs)
	dir := t.TempDir()
	model := filepath.Join(dir, "model.json")
	sluice := func(args ...string) (string, error) {
		cmd := exec.Command(sluiceBin, args...)
		cmd.Env = append(os.Environ(), "SLUICE_TOKEN="+leader.token)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := sluice("risk", "train", "--data", "../analysis/risk/testdata/alpha_k_feature.csv", "-o", model)
	require.NoError(t, err, out)
	out, err = sluice("--server", leader.api, "risk", "install", model)
	require.NoError(t, err, out)
	want, err := leader.client().RiskModel(ctxT(t))
	require.NoError(t, err)
	require.Equal(t, want.Base, want.Version, "the installed model is in force")
	for _, p := range procs {
		eventually(t, 10*time.Second, p.id+" reports the installed model", func() error {
			got, err := p.client().RiskModel(ctxT(t))
			if err != nil {
				return err
			}
			if got.Version != want.Version || len(got.Installs) != 1 {
				return fmt.Errorf("version %s, %d installs", got.Version, len(got.Installs))
			}
			return nil
		})
	}
	out, err = sluice("--server", leader.api, "risk", "install", "--expect-version", "default", "--default")
	require.Error(t, err)
	require.True(t, strings.Contains(out, "expected the built-in model"), out)
}
