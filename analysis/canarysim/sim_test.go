package canarysim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func row(rows []Row, method string) Row {
	for _, r := range rows {
		if r.Method == method {
			return r
		}
	}
	return Row{}
}

// TestHealthyCanariesArePromoted: with the shipped defaults, healthy
// canaries are rolled back in at most 1% of releases (here: 2 of 200),
// through the real Measure, Judge and Decide.
func TestHealthyCanariesArePromoted(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 200 releases")
	}
	rows := Simulate([]Scenario{{CanaryRPS: 100, Baseline: 0.001, Multiple: 1}}, 200, 7)
	require.LessOrEqual(t, row(rows, MethodSluice).RolledBack, 0.01)
}

// TestBadCanariesAreRolledBack: a canary at 100 times stable's errors is
// always rolled back, in the first analyses.
func TestBadCanariesAreRolledBack(t *testing.T) {
	rows := Simulate([]Scenario{{CanaryRPS: 100, Baseline: 0.01, Multiple: 100}, {CanaryRPS: 1000, Baseline: 0.001, Multiple: 10}}, 20, 3)
	for _, r := range rows {
		if r.Method != MethodSluice {
			continue
		}
		require.Equal(t, 1.0, r.RolledBack, "%+v", r.Scenario)
		require.LessOrEqual(t, r.P95, 30*time.Second, "%+v", r.Scenario)
	}
}

func TestMannWhitney(t *testing.T) {
	// Entirely above: the smallest p-value 6 against 6 can give.
	p := mannWhitneyGreater([]float64{7, 8, 9, 10, 11, 12}, []float64{1, 2, 3, 4, 5, 6})
	require.Less(t, p, 0.005)
	require.Greater(t, mannWhitneyGreater([]float64{1, 2, 3}, []float64{4, 5, 6}), 0.9)
	require.InDelta(t, 0.5, mannWhitneyGreater([]float64{1, 1, 1}, []float64{1, 1, 1}), 0.5, "all tied")
}
