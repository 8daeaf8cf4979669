package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A header regex Envoy would NACK (its RE2 program is over Envoy's limit)
// is refused when applied, at its position, while one at the limit passes.
func TestCohortRegexWithinEnvoysLimit(t *testing.T) {
	withRegex := func(re string) ReleasePolicySpec {
		spec := fullPolicySpec()
		spec.Cohorts = &CohortSpec{Stages: []CohortStage{{Name: "testers", Headers: []HeaderMatch{{Name: "x-user", Regex: re}}}}}
		spec.Steps = []StepSpec{{Cohort: "testers", Bake: dur("30s")}, {Weight: 100}}
		return spec
	}
	require.Empty(t, policyErrors(withRegex("^a{98}$")))
	errs := policyErrors(withRegex("^[a-z]{200}$"))
	require.Len(t, errs, 1, "%v", errs)
	require.True(t, strings.HasPrefix(errs[0], "spec.cohorts.stages[0].headers[0].regex: "), errs[0])
	require.Contains(t, errs[0], "RE2 program size about 202, Envoy's limit is 100")
}
