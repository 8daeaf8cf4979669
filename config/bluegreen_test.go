package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const bgServices = `
apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: web}
spec:
  protocol: http
  port: 8080
  domains: [web.example]
  versions: [{name: v1, endpoints: [{address: "10.0.0.1:80"}]}]
---
apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: api}
spec:
  protocol: http
  port: 8080
  domains: [api.example]
  versions: [{name: v1, endpoints: [{address: "10.0.0.2:80"}]}]
---
apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: rpc}
spec:
  protocol: grpc
  versions: [{name: v1, endpoints: [{address: "10.0.0.3:80"}]}]
`

func bgPolicy(services, strategy string) string {
	return `
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: p}
spec:
  services: ` + services + `
` + strategy
}

// bgErrors parses the services and a policy, checks them together and
// returns the error text ("" when valid).
func bgErrors(t *testing.T, services, strategy string) string {
	t.Helper()
	docs, err := Parse("policy.yaml", []byte(bgServices+"---"+bgPolicy(services, strategy)))
	if err == nil {
		err = Check(docs, newCatalog(t, ""))
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestBlueGreenRules(t *testing.T) {
	for _, tc := range []struct {
		name, services, strategy, want string
	}{
		{"header", "[web, rpc]", `  strategy: {blueGreen: {preview: {header: {name: x-preview, value: "1"}}, previewBake: 1m}}`, ""},
		{"defaults", "[web]", `  strategy: {blueGreen: {}}`, ""},
		{"domain", "[web]", `  strategy: {blueGreen: {preview: {domain: preview.web.example}}}`, ""},
		{"no strategy kind", "[web]", `  strategy: {}`,
			"policy.yaml:32:3: ReleasePolicy \"p\": spec.strategy: set blueGreen"},
		{"with steps", "[web]", "  steps: [{weight: 10}]\n  strategy: {blueGreen: {}}",
			"policy.yaml:32:3: ReleasePolicy \"p\": spec.steps: must not be set with spec.strategy.blueGreen"},
		{"with riskPlan", "[web]", "  riskPlan: {maxStep: 10}\n  strategy: {blueGreen: {}}",
			"spec.riskPlan: must not be set with spec.strategy.blueGreen"},
		{"with gradual rollback", "[web]", "  rollback: {mode: gradual}\n  strategy: {blueGreen: {}}",
			"spec.rollback.mode: must not be \"gradual\" with spec.strategy.blueGreen"},
		{"with instant rollback", "[web]", "  rollback: {mode: instant}\n  strategy: {blueGreen: {}}", ""},
		{"both forms", "[web]", `  strategy: {blueGreen: {preview: {domain: a.example, header: {name: x, value: "1"}}}}`,
			"policy.yaml:32:26: ReleasePolicy \"p\": spec.strategy.blueGreen.preview: set either header or domain"},
		{"empty preview", "[web]", `  strategy: {blueGreen: {preview: {}}}`,
			"spec.strategy.blueGreen.preview: set header (name and value) or domain"},
		{"bad header", "[web]", `  strategy: {blueGreen: {preview: {header: {name: X-Preview, value: "1"}}}}`,
			"spec.strategy.blueGreen.preview.header.name: invalid header name \"X-Preview\""},
		{"no value", "[web]", `  strategy: {blueGreen: {preview: {header: {name: x-preview, value: ""}}}}`,
			"spec.strategy.blueGreen.preview.header.value: required"},
		{"wildcard", "[web]", `  strategy: {blueGreen: {preview: {domain: "*.example"}}}`, "without wildcards"},
		{"long value", "[web]", `  strategy: {blueGreen: {preview: {header: {name: x-preview, value: "` + strings.Repeat("v", 257) + `"}}}}`,
			"must be at most 256 bytes, got 257"},
		{"long domain", "[web]", `  strategy: {blueGreen: {preview: {domain: "` + strings.Repeat("a", 254) + `"}}}`,
			"must be at most 253 bytes (a DNS name), got 254"},
		{"port", "[web]", `  strategy: {blueGreen: {preview: {domain: "a.example:80"}}}`, "must not carry a port"},
		{"taken domain", "[web]", `  strategy: {blueGreen: {preview: {domain: api.example}}}`,
			"policy.yaml:32:44: ReleasePolicy \"p\": spec.strategy.blueGreen.preview.domain: preview domain \"api.example\" on port 8080 is already the domain \"api.example\" on port 8080 of Service \"api\""},
		{"shared port", "[web, api]", `  strategy: {blueGreen: {preview: {domain: preview.example}}}`,
			"is already the preview domain of Service \"web\""},
		{"no port", "[rpc]", `  strategy: {blueGreen: {preview: {domain: preview.example}}}`,
			"Service \"rpc\" has no gateway port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := bgErrors(t, tc.services, tc.strategy)
			if tc.want == "" {
				require.Empty(t, got)
				return
			}
			require.Contains(t, got, tc.want)
		})
	}
}

func TestBlueGreenDefaults(t *testing.T) {
	spec := ReleasePolicySpec{Services: []string{"web"}, Strategy: &StrategySpec{BlueGreen: &BlueGreenSpec{PostSwitchBake: dur("1m")}}}
	out := PolicyDefaults(&spec)
	bg := out.BlueGreen()
	require.NotNil(t, bg)
	require.Equal(t, &PreviewSpec{Header: &PreviewHeader{Name: DefaultPreviewHeader, Value: DefaultPreviewValue}}, bg.Preview)
	require.Equal(t, Duration(DefaultPreviewBake), bg.PreviewBake)
	require.Equal(t, dur("1m"), bg.PostSwitchBake)
	require.Equal(t, Duration(DefaultKeepOldFor), bg.KeepOldFor)
	require.Equal(t, []StepSpec{{Weight: 0, Bake: Duration(2 * time.Minute)}, {Weight: 100, Bake: dur("1m")}}, out.Steps)
	require.Nil(t, spec.Strategy.BlueGreen.Preview, "the input is not changed")

	// The copy shares no memory with the input.
	spec.Strategy.BlueGreen.Preview = &PreviewSpec{Header: &PreviewHeader{Name: "x", Value: "1"}}
	out = PolicyDefaults(&spec)
	out.BlueGreen().Preview.Header.Value = "2"
	require.Equal(t, "1", spec.Strategy.BlueGreen.Preview.Header.Value)
}
