package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const rollbackPolicy = `apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: p}
spec:
  services: [web]
  rollback:
%s
`

// TestRollbackRules: bad rollback settings are refused where they are,
// with why; good ones parse.
func TestRollbackRules(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{name: "gradual with defaults", body: "    mode: gradual"},
		{name: "gradual, every field", body: "    {mode: gradual, steps: 4, bake: 10s, maxStepPercent: 25, worsenFactor: 2}"},
		{name: "instant", body: "    mode: instant"},
		{name: "unknown mode", body: "    mode: slowly",
			want: []string{`t.yaml:7:11: ReleasePolicy "p": spec.rollback.mode: must be "instant" or "gradual", got "slowly"`}},
		{name: "instant with steps", body: "    mode: instant\n    steps: 3",
			want: []string{`t.yaml:8:12: ReleasePolicy "p": spec.rollback.steps: applies to mode: gradual only; an instant rollback moves all traffic at once`}},
		{name: "too many steps", body: "    mode: gradual\n    steps: 21",
			want: []string{`t.yaml:8:12: ReleasePolicy "p": spec.rollback.steps: must be 1-20 when set, got 21`}},
		{name: "bake too short and too long a step", body: "    mode: gradual\n    bake: 10ms\n    maxStepPercent: 101",
			want: []string{
				`t.yaml:8:11: ReleasePolicy "p": spec.rollback.bake: must be 1s-10m0s when set, got 10ms`,
				`t.yaml:9:21: ReleasePolicy "p": spec.rollback.maxStepPercent: must be 1-100 percentage points when set, got 101`,
			}},
		{name: "factor below 1", body: "    mode: gradual\n    worsenFactor: 0.5",
			want: []string{`t.yaml:8:19: ReleasePolicy "p": spec.rollback.worsenFactor: must be 1-100 when set (a factor of the burn that started the rollback), got 0.5`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(strings.Replace(rollbackPolicy, "%s", tc.body, 1)))
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			var got []string
			for _, e := range err.(Errors) {
				got = append(got, e.Error())
			}
			require.Equal(t, tc.want, got)
		})
	}
}

// TestRollbackDefaults: instant stays the default; gradual gets steps,
// bake and factor.
func TestRollbackDefaults(t *testing.T) {
	require.Nil(t, PolicyDefaults(&ReleasePolicySpec{}).Rollback, "no rollback: instant")
	require.False(t, PolicyDefaults(&ReleasePolicySpec{}).Rollback.Gradual())
	in := &ReleasePolicySpec{Rollback: &RollbackSpec{Mode: RollbackGradual, MaxStepPercent: 30}}
	got := PolicyDefaults(in).Rollback
	require.Equal(t, &RollbackSpec{Mode: RollbackGradual, Steps: DefaultRollbackSteps, Bake: Duration(DefaultRollbackBake),
		MaxStepPercent: 30, WorsenFactor: DefaultRollbackWorsenFactor}, got)
	require.Equal(t, &RollbackSpec{Mode: RollbackGradual, MaxStepPercent: 30}, in.Rollback, "the input is not changed")
	require.Equal(t, &RollbackSpec{Mode: RollbackInstant}, PolicyDefaults(&ReleasePolicySpec{Rollback: &RollbackSpec{}}).Rollback)
}

// TestRollbackPlan: every plan ends at 0, goes down each step by at most
// maxStepPercent (when set) and about evenly, takes at least the policy's
// steps when there are enough points, and at most one step per point.
func TestRollbackPlan(t *testing.T) {
	require.Equal(t, []uint32{34, 17, 0}, RollbackPlan(50, RollbackSpec{Steps: 3}))
	require.Equal(t, []uint32{40, 30, 20, 10, 0}, RollbackPlan(50, RollbackSpec{Steps: 3, MaxStepPercent: 10}))
	require.Equal(t, []uint32{0}, RollbackPlan(1, RollbackSpec{Steps: 3}))
	require.Equal(t, []uint32{1, 0}, RollbackPlan(2, RollbackSpec{Steps: 5}))
	for w := uint32(1); w <= TotalWeight; w++ {
		for steps := 1; steps <= MaxRollbackSteps; steps++ {
			for _, m := range []uint32{0, 1, 7, 30, 100} {
				plan := RollbackPlan(w, RollbackSpec{Steps: steps, MaxStepPercent: m, Bake: Duration(time.Second)})
				require.Equal(t, uint32(0), plan[len(plan)-1])
				require.LessOrEqual(t, len(plan), int(w))
				require.GreaterOrEqual(t, len(plan), min(steps, int(w)))
				prev, lo, hi := w, w, uint32(0)
				for _, p := range plan {
					require.Less(t, p, prev, "w=%d steps=%d max=%d: %v", w, steps, m, plan)
					d := prev - p
					if m > 0 {
						require.LessOrEqual(t, d, m, "w=%d steps=%d max=%d: %v", w, steps, m, plan)
					}
					lo, hi, prev = min(lo, d), max(hi, d), p
				}
				require.LessOrEqual(t, hi-lo, uint32(1), "even steps: w=%d steps=%d max=%d: %v", w, steps, m, plan)
			}
		}
	}
}
