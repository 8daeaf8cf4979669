package config

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMirrorRules(t *testing.T) {
	tests := []struct {
		name  string
		steps []StepSpec
		on    MirrorFailure
		want  []string
	}{
		{name: "mirror then weights", steps: []StepSpec{{Mirror: 20}, {Mirror: 100}, {Weight: 10}, {Weight: 50}}},
		{name: "hold on failure", steps: []StepSpec{{Mirror: 50}, {Weight: 10}}, on: MirrorFailureHold},
		{name: "unknown failure action", steps: []StepSpec{{Mirror: 50}, {Weight: 10}}, on: "retry",
			want: []string{`spec.onMirrorFailure: must be "rollback" or "hold", got "retry"`}},
		{name: "over 100", steps: []StepSpec{{Mirror: 101}, {Weight: 10}},
			want: []string{`spec.steps[0].mirror: must be 1-100 (the share of requests shadowed to the new version, in percent), got 101`}},
		{name: "mirror and weight", steps: []StepSpec{{Mirror: 10, Weight: 5}, {Weight: 10}},
			want: []string{`spec.steps[0].weight: a step is either a mirror or a weight, not both (a mirror step serves every user from stable)`}},
		{name: "mirror after users are served", steps: []StepSpec{{Weight: 5}, {Mirror: 10}, {Weight: 50}},
			want: []string{`spec.steps[1].mirror: a mirror step must come before every step that serves users from the new version, and spec.steps[0] already does`}},
		{name: "plan ends with a mirror", steps: []StepSpec{{Mirror: 10}},
			want: []string{`spec.steps[0].mirror: a plan must not end with a mirror step: promoting from it would move every user at once onto a version no user has met; add a weight or cohort step after it`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := fullPolicySpec()
			spec.Steps, spec.OnMirrorFailure = tc.steps, tc.on
			require.Equal(t, tc.want, policyErrors(spec))
		})
	}
}

func TestMirrorWithCohort(t *testing.T) {
	spec := fullPolicySpec()
	spec.Cohorts = &CohortSpec{Stages: []CohortStage{{Name: "beta", Tenants: []string{"beta"}}}}
	spec.Steps = []StepSpec{{Mirror: 10, Cohort: "beta"}, {Cohort: "beta"}, {Weight: 50}}
	require.Contains(t, policyErrors(spec),
		`spec.steps[0].cohort: a step is either a mirror or a cohort stage, not both (a mirror step serves every user from stable)`)
}

// TestMirrorRulesPositions: a bad mirror step in a file points at it, and
// nothing of the file is accepted.
func TestMirrorRulesPositions(t *testing.T) {
	src := policy("p", "web") + `  onMirrorFailure: later
  steps:
    - weight: 5
    - mirror: 20
      bake: 1m
`
	_, err := Parse("p.yaml", []byte(src))
	require.ErrorIs(t, err, ErrInvalid)
	require.Equal(t, []string{
		`p.yaml:7:20: ReleasePolicy "p": spec.onMirrorFailure: must be "rollback" or "hold", got "later"`,
		`p.yaml:10:15: ReleasePolicy "p": spec.steps[1].mirror: a mirror step must come before every step that serves users from the new version, and spec.steps[0] already does`,
		`p.yaml:10:15: ReleasePolicy "p": spec.steps[1].mirror: a plan must not end with a mirror step: promoting from it would move every user at once onto a version no user has met; add a weight or cohort step after it`,
	}, errorLines(t, err))
}

func TestMirrorDefaults(t *testing.T) {
	in := ReleasePolicySpec{Services: []string{"web"}, Steps: []StepSpec{{Mirror: 20}, {Weight: 50}}}
	got := PolicyDefaults(&in)
	require.Equal(t, MirrorFailureRollback, got.OnMirrorFailure)
	require.Equal(t, []StepSpec{{Mirror: 20, Bake: Duration(time.Minute)}, {Weight: 50, Bake: Duration(time.Minute)}}, got.Steps)
	require.Empty(t, in.OnMirrorFailure, "the input is not changed")

	plain := PolicyDefaults(&ReleasePolicySpec{Services: []string{"web"}})
	require.Empty(t, plain.OnMirrorFailure, "only plans that mirror get the default")

	in.OnMirrorFailure = MirrorFailureHold
	require.Equal(t, MirrorFailureHold, PolicyDefaults(&in).OnMirrorFailure)
}

// TestStrategiesMirrorExample: the policy in docs/strategies.md's
// Mirroring section parses and checks.
func TestStrategiesMirrorExample(t *testing.T) {
	src, err := os.ReadFile("../docs/strategies.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(src), "\n## Mirroring\n")
	require.True(t, ok)
	_, block, ok := strings.Cut(section, "```yaml\n")
	require.True(t, ok)
	block, _, ok = strings.Cut(block, "```")
	require.True(t, ok)
	docs, err := Parse("strategies.md", []byte(block))
	require.NoError(t, err)
	require.Len(t, docs, 1)
	steps := docs[0].ReleasePolicy.Spec.Steps
	require.Equal(t, uint32(20), steps[0].Mirror)
	require.Equal(t, MirrorFailureRollback, docs[0].ReleasePolicy.Spec.OnMirrorFailure)
}
