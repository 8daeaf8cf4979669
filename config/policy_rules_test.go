package config

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	goodQ  = `sum(increase(requests_total{service="{{service}}",version="{{version}}",code="OK"}[{{window}}])) or vector(0)`
	totalQ = `sum(increase(requests_total{service="{{service}}",version="{{version}}"}[{{window}}]))`
	ratioQ = `(sum(rate(requests_total{version="{{version}}",code="UNAVAILABLE"}[{{window}}])) or vector(0)) / sum(rate(requests_total{version="{{version}}"}[{{window}}]))`
	latQ   = `histogram_quantile(0.99, sum by (le) (rate(request_duration_seconds_bucket{version="{{version}}"}[{{window}}])))`
)

func dur(s string) Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return Duration(d)
}

// fullPolicySpec sets every analysis field to a valid value.
func fullPolicySpec() ReleasePolicySpec {
	return ReleasePolicySpec{
		Services:   []string{"web"},
		Prometheus: &PrometheusSpec{URL: "http://prometheus:9090"},
		SLO: &SLOSpec{
			Objective:  99.9,
			GoodQuery:  goodQ,
			TotalQuery: totalQ,
			Latency:    &LatencySLO{Query: latQ, Threshold: dur("300ms")},
		},
		Analysis: &AnalysisSpec{
			Interval: dur("2s"),
			BurnRules: []BurnRule{
				{Name: "fast", LongWindow: dur("1m"), ShortWindow: dur("10s"), BurnRate: 14.4},
				{Name: "slow", LongWindow: dur("5m"), ShortWindow: dur("30s"), BurnRate: 6},
			},
			Baseline:          &BaselineSpec{Window: dur("2m"), MinRequests: 100, MaxRatio: 1.5, MinDelta: 0.005, ZScore: 2.5},
			FailureLimit:      2,
			InconclusiveLimit: 10,
			ErrorLimit:        5,
			QueryTimeout:      dur("1s"),
		},
		Steps:      []StepSpec{{Weight: 10, Bake: dur("30s")}, {Weight: 100}},
		AckTimeout: dur("10s"),
	}
}

// policyErrors validates spec as a document without positions and
// returns the messages, without the `ReleasePolicy "p": ` prefix.
func policyErrors(spec ReleasePolicySpec) []string {
	d := Document{Kind: KindReleasePolicy, Name: "p", ReleasePolicy: &ReleasePolicy{
		APIVersion: APIVersion, Kind: KindReleasePolicy, Metadata: Metadata{Name: "p"}, Spec: spec,
	}}
	var out []string
	for _, e := range validateDocument(&d, nil) {
		out = append(out, strings.TrimPrefix(e.Error(), `ReleasePolicy "p": `))
	}
	return out
}

func TestPolicyAnalysisRules(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *ReleasePolicySpec)
		want   []string
	}{
		{name: "every field set and valid", mutate: func(*ReleasePolicySpec) {}},
		{name: "services only: everything defaults", mutate: func(s *ReleasePolicySpec) {
			*s = ReleasePolicySpec{Services: []string{"web"}}
		}},
		{name: "error ratio style with requests", mutate: func(s *ReleasePolicySpec) {
			s.SLO.GoodQuery, s.SLO.TotalQuery = "", ""
			s.SLO.ErrorRatioQuery, s.SLO.RequestsQuery = ratioQ, totalQ
		}},
		{name: "https URL with a path prefix", mutate: func(s *ReleasePolicySpec) {
			s.Prometheus.URL = "https://metrics.example.com/prometheus"
		}},
		{name: "empty URL means the server's", mutate: func(s *ReleasePolicySpec) { s.Prometheus.URL = "" }},

		// prometheus.url
		{name: "URL without scheme", mutate: func(s *ReleasePolicySpec) { s.Prometheus.URL = "prometheus:9090" },
			want: []string{`spec.prometheus.url: invalid URL "prometheus:9090": want http:// or https:// followed by host[:port], e.g. "http://prometheus:9090"`}},
		{name: "URL with another scheme", mutate: func(s *ReleasePolicySpec) { s.Prometheus.URL = "ftp://prometheus" },
			want: []string{`spec.prometheus.url: invalid URL "ftp://prometheus": want http:// or https:// followed by host[:port], e.g. "http://prometheus:9090"`}},
		{name: "URL without host", mutate: func(s *ReleasePolicySpec) { s.Prometheus.URL = "http://" },
			want: []string{`spec.prometheus.url: invalid URL "http://": want http:// or https:// followed by host[:port], e.g. "http://prometheus:9090"`}},
		{name: "URL that does not parse", mutate: func(s *ReleasePolicySpec) { s.Prometheus.URL = "http://[::1" },
			want: []string{`spec.prometheus.url: invalid URL "http://[::1": want http:// or https:// followed by host[:port], e.g. "http://prometheus:9090"`}},
		{name: "URL with credentials", mutate: func(s *ReleasePolicySpec) { s.Prometheus.URL = "http://u:p@prometheus:9090" },
			want: []string{`spec.prometheus.url: invalid URL "http://u:p@prometheus:9090": credentials in the URL are not supported`}},
		{name: "URL with a query", mutate: func(s *ReleasePolicySpec) { s.Prometheus.URL = "http://prometheus:9090/?a=b" },
			want: []string{`spec.prometheus.url: invalid URL "http://prometheus:9090/?a=b": must not have a query or fragment`}},

		// slo.objective
		{name: "objective missing", mutate: func(s *ReleasePolicySpec) { s.SLO.Objective = 0 },
			want: []string{`spec.slo.objective: required: the target success percentage, between 0 and 100 exclusive, e.g. 99.9`}},
		{name: "objective 100", mutate: func(s *ReleasePolicySpec) { s.SLO.Objective = 100 },
			want: []string{`spec.slo.objective: must be between 0 and 100 exclusive, e.g. 99.9; got 100`}},
		{name: "objective negative", mutate: func(s *ReleasePolicySpec) { s.SLO.Objective = -1 },
			want: []string{`spec.slo.objective: must be between 0 and 100 exclusive, e.g. 99.9; got -1`}},
		{name: "objective as a ratio is fine (0.999%)", mutate: func(s *ReleasePolicySpec) { s.SLO.Objective = 0.999 }},

		// slo queries
		{name: "no queries", mutate: func(s *ReleasePolicySpec) { s.SLO.GoodQuery, s.SLO.TotalQuery = "", "" },
			want: []string{`spec.slo: set errorRatioQuery (with requestsQuery), or goodQuery and totalQuery`}},
		{name: "blank queries count as missing", mutate: func(s *ReleasePolicySpec) { s.SLO.GoodQuery, s.SLO.TotalQuery = " ", "\n" },
			want: []string{`spec.slo: set errorRatioQuery (with requestsQuery), or goodQuery and totalQuery`}},
		{name: "both styles", mutate: func(s *ReleasePolicySpec) { s.SLO.ErrorRatioQuery, s.SLO.RequestsQuery = ratioQ, totalQ },
			want: []string{`spec.slo: set either errorRatioQuery, or goodQuery and totalQuery, not both`}},
		{name: "good without total", mutate: func(s *ReleasePolicySpec) { s.SLO.TotalQuery = "" },
			want: []string{`spec.slo.totalQuery: required with goodQuery`}},
		{name: "total without good", mutate: func(s *ReleasePolicySpec) { s.SLO.GoodQuery = "" },
			want: []string{`spec.slo.goodQuery: required with totalQuery`}},
		{name: "error ratio without requests", mutate: func(s *ReleasePolicySpec) {
			s.SLO.GoodQuery, s.SLO.TotalQuery, s.SLO.ErrorRatioQuery = "", "", ratioQ
		}, want: []string{`spec.slo.requestsQuery: required with errorRatioQuery: the number of requests over {{window}}, so that no traffic is never mistaken for no errors`}},

		// templates
		{name: "misspelt placeholder", mutate: func(s *ReleasePolicySpec) {
			s.SLO.TotalQuery = `sum(increase(requests_total{version="{{verison}}"}[{{window}}]))`
		}, want: []string{
			`spec.slo.totalQuery: unknown placeholder "{{verison}}": use {{service}}, {{version}} and {{window}}`,
			`spec.slo.totalQuery: must use {{version}}: without it the canary and the stable version would be judged by the same numbers`,
		}},
		{name: "placeholder with spaces", mutate: func(s *ReleasePolicySpec) {
			s.SLO.GoodQuery = `sum(increase(requests_total{version="{{ version }}"}[{{window}}]))`
		}, want: []string{
			`spec.slo.goodQuery: unknown placeholder "{{ version }}": use {{service}}, {{version}} and {{window}}`,
			`spec.slo.goodQuery: must use {{version}}: without it the canary and the stable version would be judged by the same numbers`,
		}},
		{name: "unterminated placeholder", mutate: func(s *ReleasePolicySpec) {
			s.SLO.TotalQuery = `sum(increase(requests_total{version="{{version}}"}[{{window]))`
		}, want: []string{`spec.slo.totalQuery: unterminated placeholder "{{window]))": use {{service}}, {{version}} and {{window}}`}},
		{name: "unterminated placeholder is clipped", mutate: func(s *ReleasePolicySpec) {
			s.SLO.TotalQuery = `sum(x{version="{{version}}"}[{{window] + sum(y[5m])))`
		}, want: []string{`spec.slo.totalQuery: unterminated placeholder "{{window] + sum(y[5m...": use {{service}}, {{version}} and {{window}}`}},
		{name: "template without version", mutate: func(s *ReleasePolicySpec) {
			s.SLO.GoodQuery = `sum(increase(requests_total{service="{{service}}",code="OK"}[{{window}}]))`
		}, want: []string{`spec.slo.goodQuery: must use {{version}}: without it the canary and the stable version would be judged by the same numbers`}},
		{name: "requests query is checked too", mutate: func(s *ReleasePolicySpec) { s.SLO.RequestsQuery = `sum(requests_total)` },
			want: []string{`spec.slo.requestsQuery: must use {{version}}: without it the canary and the stable version would be judged by the same numbers`}},
		{name: "template without service or window is fine", mutate: func(s *ReleasePolicySpec) {
			s.SLO.GoodQuery = `job:good:rate1m{version="{{version}}"} or vector(0)`
		}},

		// slo.latency
		{name: "latency without query and threshold", mutate: func(s *ReleasePolicySpec) { s.SLO.Latency = &LatencySLO{} },
			want: []string{
				`spec.slo.latency.query: required: the latency in seconds over {{window}}, e.g. a histogram_quantile`,
				`spec.slo.latency.threshold: required: the highest acceptable latency, e.g. "300ms"`,
			}},
		{name: "latency query without version", mutate: func(s *ReleasePolicySpec) { s.SLO.Latency.Query = "histogram_quantile(0.99, x)" },
			want: []string{`spec.slo.latency.query: must use {{version}}: without it the canary and the stable version would be judged by the same numbers`}},

		// analysis.burnRules
		{name: "burn rule without name", mutate: func(s *ReleasePolicySpec) { s.Analysis.BurnRules[1].Name = "" },
			want: []string{`spec.analysis.burnRules[1].name: required`}},
		{name: "duplicate burn rule", mutate: func(s *ReleasePolicySpec) { s.Analysis.BurnRules[1].Name = "fast" },
			want: []string{`spec.analysis.burnRules[1].name: duplicate burn rule name "fast" (also spec.analysis.burnRules[0])`}},
		{name: "short window not shorter", mutate: func(s *ReleasePolicySpec) { s.Analysis.BurnRules[0].ShortWindow = dur("1m") },
			want: []string{`spec.analysis.burnRules[0].shortWindow: must be shorter than longWindow (1m0s), got 1m0s`}},
		{name: "windows missing", mutate: func(s *ReleasePolicySpec) {
			s.Analysis.BurnRules[0].LongWindow, s.Analysis.BurnRules[0].ShortWindow = 0, 0
		}, want: []string{
			`spec.analysis.burnRules[0].longWindow: required, e.g. "1m"`,
			`spec.analysis.burnRules[0].shortWindow: required, e.g. "1m"`,
		}},
		{name: "window under a second", mutate: func(s *ReleasePolicySpec) { s.Analysis.BurnRules[0].ShortWindow = dur("500ms") },
			want: []string{`spec.analysis.burnRules[0].shortWindow: must be at least 1s, got 500ms`}},
		{name: "window finer than a millisecond", mutate: func(s *ReleasePolicySpec) { s.Analysis.BurnRules[0].ShortWindow = dur("1.0005s") },
			want: []string{`spec.analysis.burnRules[0].shortWindow: must be a whole number of milliseconds (Prometheus ranges have no finer resolution), got 1.0005s`}},
		{name: "burn rate zero", mutate: func(s *ReleasePolicySpec) { s.Analysis.BurnRules[0].BurnRate = 0 },
			want: []string{`spec.analysis.burnRules[0].burnRate: must be greater than 0 (a multiple of the sustainable error rate, e.g. 14.4), got 0`}},
		{name: "burn rate negative", mutate: func(s *ReleasePolicySpec) { s.Analysis.BurnRules[1].BurnRate = -2 },
			want: []string{`spec.analysis.burnRules[1].burnRate: must be greater than 0 (a multiple of the sustainable error rate, e.g. 14.4), got -2`}},

		// analysis.baseline
		{name: "baseline all defaults", mutate: func(s *ReleasePolicySpec) { s.Analysis.Baseline = &BaselineSpec{} }},
		{name: "baseline disabled", mutate: func(s *ReleasePolicySpec) { s.Analysis.Baseline = &BaselineSpec{Disabled: true} }},
		{name: "baseline window too short", mutate: func(s *ReleasePolicySpec) { s.Analysis.Baseline.Window = dur("100ms") },
			want: []string{`spec.analysis.baseline.window: must be at least 1s, got 100ms`}},
		{name: "baseline numbers out of range", mutate: func(s *ReleasePolicySpec) {
			s.Analysis.Baseline = &BaselineSpec{MinRequests: -1, MaxRatio: 0.5, MinDelta: -0.1, ZScore: -3}
		}, want: []string{
			`spec.analysis.baseline.minRequests: must not be negative, got -1`,
			`spec.analysis.baseline.maxRatio: must be at least 1 when set (a canary is compared with a multiple of the stable error ratio), got 0.5`,
			`spec.analysis.baseline.minDelta: must not be negative, got -0.1`,
			`spec.analysis.baseline.zScore: must not be negative, got -3`,
		}},
		{name: "baseline margin of 1 turns it off", mutate: func(s *ReleasePolicySpec) { s.Analysis.Baseline.MinDelta = 1 },
			want: []string{`spec.analysis.baseline.minDelta: must be less than 1 (an error-ratio margin; 1 or more would turn the comparison off: use disabled: true), got 1`}},
		{name: "maxRatio exactly 1", mutate: func(s *ReleasePolicySpec) { s.Analysis.Baseline.MaxRatio = 1 }},

		// analysis limits and timing
		{name: "negative limits", mutate: func(s *ReleasePolicySpec) {
			s.Analysis.FailureLimit, s.Analysis.InconclusiveLimit, s.Analysis.ErrorLimit = -1, -2, -3
		}, want: []string{
			`spec.analysis.failureLimit: must be at least 1 (or unset for the default, 1), got -1`,
			`spec.analysis.inconclusiveLimit: must be at least 1 (or unset for the default, 24), got -2`,
			`spec.analysis.errorLimit: must be at least 1 (or unset for the default, 12), got -3`,
		}},
		{name: "interval too short", mutate: func(s *ReleasePolicySpec) { s.Analysis.Interval = dur("50ms") },
			want: []string{`spec.analysis.interval: must be at least 100ms when set, got 50ms`}},
		{name: "interval at the minimum", mutate: func(s *ReleasePolicySpec) { s.Analysis.Interval = dur("100ms") }},
		{name: "query timeout too short", mutate: func(s *ReleasePolicySpec) { s.Analysis.QueryTimeout = dur("10ms") },
			want: []string{`spec.analysis.queryTimeout: must be at least 100ms when set, got 10ms`}},

		// steps
		{name: "too many steps", mutate: func(s *ReleasePolicySpec) {
			s.Steps = nil
			for w := uint32(1); w <= 21; w++ {
				s.Steps = append(s.Steps, StepSpec{Weight: w})
			}
		}, want: []string{`spec.steps: at most 20 steps are allowed, got 21`}},
		{name: "twenty steps", mutate: func(s *ReleasePolicySpec) {
			s.Steps = nil
			for w := uint32(5); w <= 100; w += 5 {
				s.Steps = append(s.Steps, StepSpec{Weight: w})
			}
		}},
		{name: "weight missing", mutate: func(s *ReleasePolicySpec) { s.Steps[0].Weight = 0 },
			want: []string{`spec.steps[0].weight: must be 1-100 (the new version's share of traffic in percent), got 0`}},
		{name: "weight over 100", mutate: func(s *ReleasePolicySpec) { s.Steps[1].Weight = 101 },
			want: []string{`spec.steps[1].weight: must be 1-100 (the new version's share of traffic in percent), got 101`}},
		{name: "weights not increasing", mutate: func(s *ReleasePolicySpec) {
			s.Steps = []StepSpec{{Weight: 10}, {Weight: 10}, {Weight: 5}, {Weight: 50}}
		}, want: []string{
			`spec.steps[1].weight: must be greater than the previous step's weight (10): steps only move traffic forward, got 10`,
			`spec.steps[2].weight: must be greater than the previous step's weight (10): steps only move traffic forward, got 5`,
		}},
		{name: "plan not ending at 100 is allowed", mutate: func(s *ReleasePolicySpec) { s.Steps = []StepSpec{{Weight: 50}} }},

		// ackTimeout
		{name: "ack timeout too short", mutate: func(s *ReleasePolicySpec) { s.AckTimeout = dur("500ms") },
			want: []string{`spec.ackTimeout: must be at least 1s when set, got 500ms`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := fullPolicySpec()
			tc.mutate(&spec)
			require.Equal(t, tc.want, policyErrors(spec))
		})
	}
}

// TestPolicyAnalysisRulesPositions: problems in a file point at the value.
func TestPolicyAnalysisRulesPositions(t *testing.T) {
	src := policy("p", "web") + `  slo:
    objective: 100
    goodQuery: 'sum(x{v="{{ver}}"})'
    totalQuery: 'sum(y{v="{{version}}"})'
  analysis:
    burnRules:
      - name: fast
        longWindow: 10s
        shortWindow: 1m
        burnRate: 14.4
  steps:
    - weight: 50
    - weight: 20
`
	_, err := Parse("p.yaml", []byte(src))
	require.ErrorIs(t, err, ErrInvalid)
	require.Equal(t, []string{
		`p.yaml:8:16: ReleasePolicy "p": spec.slo.objective: must be between 0 and 100 exclusive, e.g. 99.9; got 100`,
		`p.yaml:9:16: ReleasePolicy "p": spec.slo.goodQuery: unknown placeholder "{{ver}}": use {{service}}, {{version}} and {{window}}`,
		`p.yaml:9:16: ReleasePolicy "p": spec.slo.goodQuery: must use {{version}}: without it the canary and the stable version would be judged by the same numbers`,
		`p.yaml:15:22: ReleasePolicy "p": spec.analysis.burnRules[0].shortWindow: must be shorter than longWindow (10s), got 1m0s`,
		`p.yaml:19:15: ReleasePolicy "p": spec.steps[1].weight: must be greater than the previous step's weight (50): steps only move traffic forward, got 20`,
	}, errorLines(t, err))
}

func TestPolicyDefaults(t *testing.T) {
	t.Run("empty policy gets every default", func(t *testing.T) {
		in := ReleasePolicySpec{Services: []string{"web"}}
		got := PolicyDefaults(&in)
		require.Equal(t, ReleasePolicySpec{
			Services: []string{"web"},
			Analysis: &AnalysisSpec{
				Interval:  Duration(5 * time.Second),
				BurnRules: DefaultBurnRules(),
				Baseline: &BaselineSpec{
					Window: Duration(time.Minute), MinRequests: 50, MaxRatio: 2, MinDelta: 0.005, ZScore: 3,
				},
				FailureLimit:      1,
				InconclusiveLimit: 24,
				ErrorLimit:        12,
				QueryTimeout:      Duration(5 * time.Second),
			},
			Steps: []StepSpec{
				{Weight: 1, Bake: Duration(time.Minute)},
				{Weight: 5, Bake: Duration(time.Minute)},
				{Weight: 25, Bake: Duration(time.Minute)},
				{Weight: 50, Bake: Duration(time.Minute)},
				{Weight: 100, Bake: Duration(time.Minute)},
			},
			AckTimeout: Duration(30 * time.Second),
		}, got)
		require.Equal(t, ReleasePolicySpec{Services: []string{"web"}}, in, "input unchanged")
		require.Empty(t, policyErrors(got), "the defaults pass the rules")
	})

	t.Run("explicit values are kept, zeros filled, input untouched", func(t *testing.T) {
		in := fullPolicySpec()
		in.SLO.RequestsQuery = ""
		in.Analysis.Baseline = &BaselineSpec{Disabled: true, ZScore: 4}
		in.Analysis.ErrorLimit = 0
		before, err := json.Marshal(in)
		require.NoError(t, err)

		got := PolicyDefaults(&in)
		require.Equal(t, totalQ, got.SLO.RequestsQuery, "requestsQuery defaults to totalQuery")
		require.Equal(t, &BaselineSpec{Disabled: true, Window: Duration(time.Minute), MinRequests: 50, MaxRatio: 2, MinDelta: 0.005, ZScore: 4},
			got.Analysis.Baseline)
		require.Equal(t, DefaultErrorLimit, got.Analysis.ErrorLimit)
		require.Equal(t, 2, got.Analysis.FailureLimit)
		require.Equal(t, in.Analysis.BurnRules, got.Analysis.BurnRules)
		require.Equal(t, []StepSpec{{Weight: 10, Bake: dur("30s")}, {Weight: 100, Bake: Duration(DefaultStepBake)}}, got.Steps)
		require.Equal(t, dur("10s"), got.AckTimeout)
		require.Equal(t, "http://prometheus:9090", got.Prometheus.URL)

		// The copy shares nothing with the input.
		got.Services[0] = "changed"
		got.Prometheus.URL = "changed"
		got.SLO.Objective = 1
		got.SLO.Latency.Threshold = 1
		got.Analysis.BurnRules[0].BurnRate = 1
		got.Analysis.Baseline.ZScore = 1
		got.Steps[0].Weight = 1
		after, err := json.Marshal(in)
		require.NoError(t, err)
		require.JSONEq(t, string(before), string(after))
	})

	t.Run("idempotent", func(t *testing.T) {
		in := fullPolicySpec()
		once := PolicyDefaults(&in)
		require.Equal(t, once, PolicyDefaults(&once))
	})

	t.Run("default slices are fresh", func(t *testing.T) {
		s := DefaultSteps()
		s[0].Weight = 99
		require.Equal(t, uint32(1), DefaultSteps()[0].Weight)
		r := DefaultBurnRules()
		r[0].Name = "x"
		require.Equal(t, "fast", DefaultBurnRules()[0].Name)
	})
}
