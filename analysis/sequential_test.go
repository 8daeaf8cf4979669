package analysis

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

func TestRegIncBeta(t *testing.T) {
	// I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 - (1-x)^b.
	for _, x := range []float64{0.01, 0.3, 0.5, 0.9} {
		require.InDelta(t, x, regIncBeta(x, 1, 1), 1e-12)
		require.InDelta(t, math.Pow(x, 3), regIncBeta(x, 3, 1), 1e-12)
		require.InDelta(t, 1-math.Pow(1-x, 7), regIncBeta(x, 1, 7), 1e-12)
	}
	// I_x(a, b) = 1 - I_{1-x}(b, a), through both branches.
	require.InDelta(t, 1-regIncBeta(0.8, 9, 4), regIncBeta(0.2, 4, 9), 1e-12)
	// A binomial tail: P(X >= 3 | n=10, p=0.2) = I_0.2(3, 8).
	require.InDelta(t, 0.3222004736, regIncBeta(0.2, 3, 8), 1e-9)
}

func TestLogEvidence(t *testing.T) {
	require.Zero(t, logEvidence(0, 0, 0.1), "no data, no evidence")
	require.True(t, math.IsInf(logEvidence(1, 5, 0), 1), "any event against a null of 0")
	// x = 0 of n: the mixture is (1 - (1-p0)^(n+1)) / ((n+1) p0... it is
	// below 1: nothing against the null.
	require.Less(t, logEvidence(0, 100, 0.1), 0.0)
	// More of the same share is more evidence.
	require.Less(t, logEvidence(5, 10, 0.2), logEvidence(50, 100, 0.2))
	// By direct integration for a small case: x=2, n=3, p0=0.5:
	// ∫_{0.5}^1 p²(1-p) dp / 0.5 / (0.5^3) = (1/12 - (1/24 - 1/64)) / 0.5 / 0.125.
	want := (1.0/12 - (1.0/24 - 1.0/64)) / 0.5 / 0.125
	require.InDelta(t, math.Log(want), logEvidence(2, 3, 0.5), 1e-9)
}

// TestEvidenceIsAnytimeValid: under the null, the evidence crosses 1/α at
// any of 2,000 looks in at most about α of the runs.
func TestEvidenceIsAnytimeValid(t *testing.T) {
	const (
		runs, looks = 600, 1000
		alpha       = 0.05
		p0          = 0.1
	)
	rng := rand.New(rand.NewPCG(1, 2))
	crossed := 0
	for range runs {
		x := 0.0
		for n := 1; n <= looks; n++ {
			if rng.Float64() < p0 {
				x++
			}
			if logEvidence(x, float64(n), p0) >= math.Log(1/alpha) {
				crossed++
				break
			}
		}
	}
	require.LessOrEqual(t, float64(crossed)/runs, alpha, "crossed in %d of %d runs", crossed, runs)

	// And it does detect: at three times the null share it crosses in
	// almost every run.
	crossed = 0
	for range 100 {
		x := 0.0
		for n := 1; n <= looks; n++ {
			if rng.Float64() < 3*p0 {
				x++
			}
			if logEvidence(x, float64(n), p0) >= math.Log(1/alpha) {
				crossed++
				break
			}
		}
	}
	require.GreaterOrEqual(t, crossed, 99)
}

func TestComparisonWindow(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	require.Equal(t, time.Minute, comparisonWindow(time.Minute, Subject{}, now))
	require.Equal(t, 38*time.Second, comparisonWindow(time.Minute, Subject{Since: now.Add(-37200 * time.Millisecond)}, now))
	require.Equal(t, MaxSinceWindow, comparisonWindow(time.Minute, Subject{Since: now.Add(-48 * time.Hour)}, now))
	require.Equal(t, time.Minute, comparisonWindow(time.Minute, Subject{Since: now.Add(time.Second)}, now), "a start in the future")
	require.InDelta(t, 0.00135, alphaFor(3), 1e-5)
}

// TestComparisonCountsSinceTheStart: with Subject.Since, both versions
// are measured over the time since then, and the minimum sample too.
func TestComparisonCountsSinceTheStart(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	spec := config.PolicyDefaults(&config.ReleasePolicySpec{SLO: &config.SLOSpec{Objective: 99.9,
		GoodQuery: `good{version="{{version}}",window="{{window}}"}`, TotalQuery: `total{version="{{version}}",window="{{window}}"}`}})
	sub := Subject{Service: "s", Canary: "v2", Stable: "v1", Since: now.Add(-95 * time.Second)}
	var stable []time.Duration
	for _, p := range planFor(&spec, sub, now) {
		if p.role == RoleStable {
			stable = append(stable, p.window)
		}
	}
	require.Equal(t, []time.Duration{95 * time.Second, 95 * time.Second}, stable, "good and total since the start")
}
