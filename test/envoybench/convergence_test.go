package envoybench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/test/envoytest"
)

// TestConvergenceRuns runs the benchmark small, on the real parts: two
// Envoys follow two changes from Sluice, fail over to the bare server and
// follow two more.
func TestConvergenceRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Sluice and Envoy processes")
	}
	envoy := envoytest.Binary(t)
	dir := t.TempDir()
	sluice := filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", sluice, "../../cmd/sluice")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	res, err := Run(context.Background(), Config{Envoys: 2, Rounds: 2, Services: 5, SluiceBin: sluice, EnvoyBin: envoy, Dir: dir})
	require.NoError(t, err)
	for _, p := range []PathResult{res.Sluice, res.Bare} {
		require.Len(t, p.Latencies, 4, p.Path)
		require.Len(t, p.RoundMax, 2, p.Path)
		require.LessOrEqual(t, p.P50(), p.Max(), p.Path)
		t.Logf("%s: p50 %s max %s, control CPU %s/round, Envoy CPU %s/round", p.Path, p.P50(), p.Max(), p.ControlCPU, p.EnvoyCPU)
	}
}

func TestProcessCPU(t *testing.T) {
	before := ProcessCPU(os.Getpid())
	// Spin until a clock tick of CPU time shows in /proc (10 ms).
	deadline := time.Now().Add(20 * time.Second)
	for ProcessCPU(os.Getpid()) <= before && time.Now().Before(deadline) {
		for n := 0; n < 1e6; n++ {
			_ = n * n
		}
	}
	require.Greater(t, ProcessCPU(os.Getpid()), before, "spinning shows in /proc")
	require.Zero(t, ProcessCPU(0))
}

func TestResourcesAreSluices(t *testing.T) {
	a, err := Resources(5, 10000, 0)
	require.NoError(t, err)
	b, err := Resources(5, 10000, 1)
	require.NoError(t, err)
	require.Len(t, a.Routes, 1, "every service on one gateway port: one route configuration")
	require.Equal(t, RouteName(10000), b.Routes[0].(interface{ GetName() string }).GetName())
	require.Len(t, a.Clusters, 10)
}
