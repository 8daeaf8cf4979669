package analysis

import (
	"context"
	"encoding/json"
	"math"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

// Worked examples. The canary v2 serves 10 requests/s (100 in 10s, 600 in
// 1m, 3000 in 5m); the stable v1 serves 6000 requests/min at 0.1% errors.
// The objective is 99.9%, so the error budget is 0.1% and a burn rate of
// 14.4 is an error ratio of 1.44%.
func TestJudge(t *testing.T) {
	noBaseline := func(s *config.ReleasePolicySpec) {
		s.Analysis = &config.AnalysisSpec{Baseline: &config.BaselineSpec{Disabled: true}}
	}
	tests := []struct {
		name       string
		spec       func(s *config.ReleasePolicySpec) // nil: testSpec as is
		ratioStyle bool
		prom       func(f *fakeProm) // changes to the healthy answers
		want       Phase
		reason     string
	}{
		{
			name: "healthy canary: no errors, 50ms, 600 requests in 1m -> Successful",
			want: PhaseSuccessful,
			reason: "all checks passed: fast: burn 0.0 (1m), 0.0 (10s), fires above 14.4 in both; " +
				"slow: burn 0.0 (5m), 0.0 (30s), fires above 6 in both; " +
				"latency 50.0ms (1m), 48.0ms (10s), fails above 300ms in both; " +
				"baseline: canary 0 errors in 600 requests (0.00%) vs stable 6 in 6000 (0.10%) over 1m; limit 2 x stable + 0.50% = 0.70%; " +
				"sequential test of canary <= 2 x stable: log evidence -1.9, fails at 6.6 (alpha 0.13%); " +
				"canary served 600 requests in 1m (needs 50)",
		},
		{
			name: "no data: the canary's total over 10s is an empty vector -> Inconclusive",
			prom: func(f *fakeProm) { f.set(q(tTotal, "v2", "10s"), empty()) },
			want: PhaseInconclusive,
			// Only the fast rule uses the 10s error ratio.
			reason: "burn rule fast: no data for canary burnRate over 10s: total: empty result (no series matched)",
		},
		{
			name:       "NaN: the error ratio over 30s is 0/0 -> Inconclusive",
			ratioStyle: true,
			prom:       func(f *fakeProm) { f.set(q(tRatio, "v2", "30s"), num(math.NaN())) },
			want:       PhaseInconclusive,
			reason:     "burn rule slow: no data for canary burnRate over 30s: NaN (for example 0/0: no requests in the window)",
		},
		{
			name:       "+Inf: the error ratio over 5m divides by zero -> Inconclusive",
			ratioStyle: true,
			prom:       func(f *fakeProm) { f.set(q(tRatio, "v2", "5m"), num(math.Inf(1))) },
			want:       PhaseInconclusive,
			reason:     "burn rule slow: no data for canary burnRate over 5m: +Inf (division by zero)",
		},
		{
			name: "a metric that does not exist: every total is empty -> Inconclusive, never Failed",
			prom: func(f *fakeProm) {
				for _, w := range []string{"10s", "30s", "1m", "5m"} {
					f.set(q(tTotal, "v2", w), empty())
					f.set(q(tGood, "v2", w), num(0)) // "or vector(0)"
				}
			},
			want:   PhaseInconclusive,
			reason: "burn rule fast: no data for canary burnRate over 1m: total: empty result (no series matched) (and 2 more)",
		},
		{
			name:   "no traffic: total is 0 over 10s -> Inconclusive",
			prom:   func(f *fakeProm) { f.counts("v2", "10s", 0, 0) },
			want:   PhaseInconclusive,
			reason: "burn rule fast: no data for canary burnRate over 10s: no requests in the window (total is 0)",
		},
		{
			name: "good returns nothing while total has data -> Inconclusive with a hint",
			prom: func(f *fakeProm) { f.set(q(tGood, "v2", "30s"), empty()) },
			want: PhaseInconclusive,
			reason: "burn rule slow: no data for canary burnRate over 30s: good: empty result (no series matched); " +
				"a good query must return 0, not nothing, when no request succeeded (append `or vector(0)`)",
		},
		{
			name:   "too few requests: 12 in 1m < 50 -> Inconclusive",
			prom:   func(f *fakeProm) { f.counts("v2", "1m", 12, 12) },
			want:   PhaseInconclusive,
			reason: "too few requests: canary served 12 in 1m, needs 50",
		},
		{
			name:   "fast fires: 20% errors in 1m and 10s = burn 200 > 14.4 -> Failed",
			spec:   noBaseline,
			prom:   func(f *fakeProm) { f.errorRatio("1m", 0.2); f.errorRatio("10s", 0.2) },
			want:   PhaseFailed,
			reason: "burn rule fast fired: 1m burn 200.0 > 14.4 and 10s burn 200.0 > 14.4 (120 errors in 600 requests over 1m, p <0.0001% at the allowed 1.44%, fires below 0.13%)",
		},
		{
			name: "fast fires with the baseline on: both are named",
			prom: func(f *fakeProm) { f.errorRatio("1m", 0.2); f.errorRatio("10s", 0.2) },
			want: PhaseFailed,
			reason: "burn rule fast fired: 1m burn 200.0 > 14.4 and 10s burn 200.0 > 14.4 (120 errors in 600 requests over 1m, p <0.0001% at the allowed 1.44%, fires below 0.13%); " +
				"baseline: canary significantly worse than stable: canary 120 errors in 600 requests (20.00%) vs stable 6 in 6000 (0.10%) over 1m; " +
				"limit 2 x stable + 0.50% = 0.70%; sequential test of canary <= 2 x stable: log evidence 189.1, fails at 6.6 (alpha 0.13%)",
		},
		{
			name:   "slow fires: 2% errors in 5m and 30s = burn 20 > 6, fast quiet -> Failed",
			prom:   func(f *fakeProm) { f.errorRatio("5m", 0.02); f.errorRatio("30s", 0.02) },
			want:   PhaseFailed,
			reason: "burn rule slow fired: 5m burn 20.0 > 6 and 30s burn 20.0 > 6 (60 errors in 3000 requests over 5m, p <0.0001% at the allowed 0.60%, fires below 0.13%)",
		},
		{
			name:   "slow above its rate without evidence: 30 errors in 3000 requests where 18 are allowed -> Inconclusive",
			prom:   func(f *fakeProm) { f.errorRatio("5m", 0.01); f.errorRatio("30s", 0.01) },
			want:   PhaseInconclusive,
			reason: "burn rule slow: burn 10.0 (5m), 10.0 (30s) above 6, but too few requests to tell: 30 errors in 3000 requests over 5m, p 0.58% at the allowed 0.60%, fires below 0.13%",
		},
		{
			name: "only the long window over: 20% in 1m, 10s clean -> not fired, Successful",
			spec: noBaseline,
			prom: func(f *fakeProm) { f.errorRatio("1m", 0.2) },
			want: PhaseSuccessful,
		},
		{
			name: "only the short window over: 20% in 10s, 1m clean -> not fired, Successful",
			spec: noBaseline,
			prom: func(f *fakeProm) { f.errorRatio("10s", 0.2) },
			want: PhaseSuccessful,
		},
		{
			name:   "a burn rule fires below the minimum sample: 3 of 5 requests failed in both windows -> Failed",
			spec:   noBaseline,
			prom:   func(f *fakeProm) { f.counts("v2", "1m", 2, 5); f.counts("v2", "10s", 2, 5) },
			want:   PhaseFailed,
			reason: "burn rule fast fired: 1m burn 600.0 > 14.4 and 10s burn 600.0 > 14.4 (3 errors in 5 requests over 1m, p 0.0029% at the allowed 1.44%, fires below 0.13%)",
		},
		{
			name: "latency 400ms in 1m and 350ms in 10s > 300ms -> Failed",
			prom: func(f *fakeProm) {
				f.set(q(tLatency, "v2", "1m"), num(0.4))
				f.set(q(tLatency, "v2", "10s"), num(0.35))
			},
			want:   PhaseFailed,
			reason: "latency over 300ms in both windows: 1m 400.0ms and 10s 350.0ms",
		},
		{
			name: "latency over in the short window only -> Successful",
			prom: func(f *fakeProm) { f.set(q(tLatency, "v2", "10s"), num(0.9)) },
			want: PhaseSuccessful,
		},
		{
			name:   "latency NaN (no requests for the histogram) -> Inconclusive",
			prom:   func(f *fakeProm) { f.set(q(tLatency, "v2", "1m"), num(math.NaN())) },
			want:   PhaseInconclusive,
			reason: "latency: no data for canary latency over 1m: NaN (for example 0/0: no requests in the window)",
		},
		{
			name: "baseline significant: canary 5% of 600 vs stable 0.1% of 6000 over 1m -> Failed",
			// The fast rule's long window (1m) burns at 50, its short one is clean.
			prom: func(f *fakeProm) { f.errorRatio("1m", 0.05) },
			want: PhaseFailed,
			reason: "baseline: canary significantly worse than stable: canary 30 errors in 600 requests (5.00%) vs stable 6 in 6000 (0.10%) over 1m; " +
				"limit 2 x stable + 0.50% = 0.70%; sequential test of canary <= 2 x stable: log evidence 36.9, fails at 6.6 (alpha 0.13%)",
		},
		{
			name: "baseline insignificant: canary 4 of 100 vs stable 1% of 10000 -> z 2.96 < 3, Successful",
			spec: func(s *config.ReleasePolicySpec) { s.SLO.Objective = 90 }, // keep the burn rules quiet
			prom: func(f *fakeProm) {
				f.counts("v2", "1m", 96, 100)
				f.counts("v1", "1m", 9900, 10000)
			},
			want: PhaseSuccessful,
		},
		{
			name: "baseline below the minimum sample: stable served 20 in 1m (the 100% step) -> skipped, Successful",
			prom: func(f *fakeProm) { f.counts("v1", "1m", 20, 20) },
			want: PhaseSuccessful,
		},
		{
			name: "baseline without stable data (stable gets no traffic) -> skipped, Successful",
			prom: func(f *fakeProm) { f.set(q(tTotal, "v1", "1m"), empty()) },
			want: PhaseSuccessful,
		},
		{
			name: "firing burn rule wins over a failed query: fast fires, the 5m query errors -> Failed",
			spec: noBaseline,
			prom: func(f *fakeProm) {
				f.errorRatio("1m", 0.2)
				f.errorRatio("10s", 0.2)
				f.set(q(tTotal, "v2", "5m"), fail("bad_data: parse error"))
			},
			want:   PhaseFailed,
			reason: "burn rule fast fired: 1m burn 200.0 > 14.4 and 10s burn 200.0 > 14.4 (120 errors in 600 requests over 1m, p <0.0001% at the allowed 1.44%, fires below 0.13%)",
		},
		{
			name:   "a failed query, nothing fired -> Error",
			prom:   func(f *fakeProm) { f.set(q(tTotal, "v2", "5m"), fail("bad_data: parse error")) },
			want:   PhaseError,
			reason: "burn rule slow: query failed for canary burnRate over 5m: total: prometheus query failed: bad_data: parse error",
		},
		{
			name: "Error wins over no data",
			prom: func(f *fakeProm) {
				f.set(q(tTotal, "v2", "10s"), empty())
				f.set(q(tLatency, "v2", "1m"), fail("timeout"))
			},
			want:   PhaseError,
			reason: "latency: query failed for canary latency over 1m: prometheus query failed: timeout",
		},
		{
			name: "Prometheus unreachable: every query fails -> Error",
			prom: func(f *fakeProm) {
				for k := range f.answers {
					f.answers[k] = fail("connection refused")
				}
			},
			want:   PhaseError,
			reason: "burn rule fast: query failed for canary burnRate over 1m: good: prometheus query failed: connection refused (and 4 more)",
		},
		{
			name:   "the stable version's query fails -> Error",
			prom:   func(f *fakeProm) { f.set(q(tTotal, "v1", "1m"), fail("timeout")) },
			want:   PhaseError,
			reason: "baseline: query failed for stable errorRatio over 1m: total: prometheus query failed: timeout",
		},
		{
			name: "two series where one number is expected -> Error",
			prom: func(f *fakeProm) {
				f.set(q(tTotal, "v2", "30s"), answer{v: model.Vector{
					{Metric: model.Metric{"code": "OK"}, Value: 1}, {Metric: model.Metric{"code": "UNAVAILABLE"}, Value: 2},
				}})
			},
			want: PhaseError,
			reason: "burn rule slow: query failed for canary burnRate over 30s: total: query result is not a single number: " +
				"2 series; aggregate them into one, e.g. with sum(...)",
		},
		{
			name:       "an error ratio outside 0..1 -> Error",
			ratioStyle: true,
			prom:       func(f *fakeProm) { f.set(q(tRatio, "v2", "30s"), num(57)) },
			want:       PhaseError,
			reason:     "burn rule slow: query failed for canary burnRate over 30s: error ratio 57 is outside 0..1: errorRatioQuery must return failed/all requests",
		},
		{
			name:       "error ratio style, healthy -> Successful",
			ratioStyle: true,
			want:       PhaseSuccessful,
		},
		{
			name:       "error ratio style: fast fires at 20% -> Failed",
			ratioStyle: true,
			spec:       noBaseline,
			prom: func(f *fakeProm) {
				f.set(q(tRatio, "v2", "1m"), num(0.2))
				f.set(q(tRatio, "v2", "10s"), num(0.2))
			},
			want:   PhaseFailed,
			reason: "burn rule fast fired: 1m burn 200.0 > 14.4 and 10s burn 200.0 > 14.4 (120 errors in 600 requests over 1m, p <0.0001% at the allowed 1.44%, fires below 0.13%)",
		},
		{
			name:       "error ratio style: too few requests -> Inconclusive",
			ratioStyle: true,
			prom:       func(f *fakeProm) { f.set(q(tTotal, "v2", "1m"), num(49.6)) },
			want:       PhaseInconclusive,
			reason:     "too few requests: canary served 49 in 1m, needs 50",
		},
		{
			name:   "no SLO -> Inconclusive",
			spec:   func(s *config.ReleasePolicySpec) { s.SLO = nil },
			want:   PhaseInconclusive,
			reason: "the policy has no SLO: there is nothing to judge the canary by",
		},
		{
			name:   "objective of 100 (no error budget) -> Error",
			spec:   func(s *config.ReleasePolicySpec) { s.SLO.Objective = 100 },
			want:   PhaseError,
			reason: "the SLO objective must be between 0 and 100 exclusive, got 100",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, f := testSpec(), healthy()
			if tc.ratioStyle {
				spec, f = ratioSpec(), healthyRatio()
			}
			if tc.spec != nil {
				tc.spec(&spec)
			}
			if tc.prom != nil {
				tc.prom(f)
			}
			v := judgeWith(f, spec)
			require.Equal(t, tc.want, v.Phase, v.Reason)
			if tc.reason != "" {
				require.Equal(t, tc.reason, v.Reason)
			}
		})
	}
}

// TestJudgeFailedNamesEverything: a Failed verdict carries the rule, the
// windows, the values, the thresholds and the queries.
func TestJudgeFailedNamesEverything(t *testing.T) {
	f := healthy()
	f.errorRatio("1m", 0.2)
	f.errorRatio("10s", 0.2)
	v := judgeWith(f, testSpec())
	require.Equal(t, PhaseFailed, v.Phase)
	fast := checkNamed(v, "fast")
	require.Equal(t, ResultFailed, fast.Result)
	require.Equal(t, CheckBurnRule, fast.Kind)
	require.Len(t, fast.Observations, 4, "two burn rates, the long window's requests and the p-value")
	require.Equal(t, ObservedRequests, fast.Observations[2].Observed)
	require.InDelta(t, 600, *fast.Observations[2].Value, 1e-9)
	pv := fast.Observations[3]
	require.Equal(t, ObservedPValue, pv.Observed)
	require.Less(t, *pv.Value, *pv.Threshold)
	require.InDelta(t, 0.00135, *pv.Threshold, 1e-5, "alpha for zScore 3")
	for i, w := range []string{"1m", "10s"} {
		o := fast.Observations[i]
		require.Equal(t, ObservedBurnRate, o.Observed)
		require.Equal(t, dur(w), o.Window)
		require.Equal(t, "v2", o.Version)
		require.Equal(t, OutcomeValue, o.Outcome)
		require.InDelta(t, 200, *o.Value, 1e-6)
		require.Equal(t, 14.4, *o.Threshold)
		require.False(t, o.Passed)
		require.Equal(t, []string{q(tGood, "v2", w), q(tTotal, "v2", w)}, o.Queries)
	}
	slow := checkNamed(v, "slow")
	require.Equal(t, ResultPassed, slow.Result)
	require.True(t, slow.Observations[0].Passed)

	base := checkNamed(v, "baseline")
	require.Equal(t, ResultFailed, base.Result)
	require.Len(t, base.Observations, 7)
	require.Equal(t, ObservedErrors, base.Observations[4].Observed)
	require.InDelta(t, 120, *base.Observations[4].Value, 1e-6, "20% of 600")
	require.InDelta(t, 6, *base.Observations[5].Value, 1e-6, "0.1% of 6000")
	ev := base.Observations[6]
	require.Equal(t, ObservedEvidence, ev.Observed)
	require.Greater(t, *ev.Value, *ev.Threshold)
	require.InDelta(t, math.Log(1/0.00135), *ev.Threshold, 1e-3)
	require.InDelta(t, 0.007, *base.Observations[0].Threshold, 1e-9, "2 x 0.1% + 0.5%")
}

// TestJudgeOnlyOneWindowOver shows the per-window detail of a rule that
// did not fire: the long window did not pass, the rule did.
func TestJudgeOnlyOneWindowOver(t *testing.T) {
	f := healthy()
	f.errorRatio("1m", 0.2)
	spec := testSpec()
	spec.Analysis = &config.AnalysisSpec{Baseline: &config.BaselineSpec{Disabled: true}}
	fast := checkNamed(judgeWith(f, spec), "fast")
	require.Equal(t, ResultPassed, fast.Result)
	require.False(t, fast.Observations[0].Passed, "1m over")
	require.True(t, fast.Observations[1].Passed, "10s under")
	require.Equal(t, "fast: burn 200.0 (1m), 0.0 (10s), fires above 14.4 in both", fast.Reason)
}

func TestJudgeBaselineChecks(t *testing.T) {
	t.Run("insignificant: the numbers", func(t *testing.T) {
		spec := testSpec()
		spec.SLO.Objective = 90
		f := healthy()
		f.counts("v2", "1m", 96, 100)
		f.counts("v1", "1m", 9900, 10000)
		base := checkNamed(judgeWith(f, spec), "baseline")
		require.Equal(t, ResultPassed, base.Result)
		require.False(t, base.Observations[0].Passed, "4% is over 2 x 1% + 0.5%")
		ev := base.Observations[6]
		require.Equal(t, ObservedEvidence, ev.Observed)
		require.True(t, ev.Passed, "but 4 errors against 100 do not yet show 4%% is over twice 1%%: log evidence %.2f", *ev.Value)
	})
	t.Run("below the minimum sample is skipped", func(t *testing.T) {
		f := healthy()
		f.counts("v1", "1m", 20, 20)
		base := checkNamed(judgeWith(f, testSpec()), "baseline")
		require.Equal(t, ResultSkipped, base.Result)
		require.Equal(t, "baseline skipped: too few stable requests in 1m (20 < 50)", base.Reason)
	})
	t.Run("canary below the minimum: skipped here, Inconclusive overall", func(t *testing.T) {
		f := healthy()
		f.counts("v2", "1m", 10, 10)
		v := judgeWith(f, testSpec())
		require.Equal(t, PhaseInconclusive, v.Phase)
		require.Equal(t, ResultSkipped, checkNamed(v, "baseline").Result)
		require.Equal(t, "baseline skipped: too few canary requests in 1m (10 < 50)", checkNamed(v, "baseline").Reason)
	})
	t.Run("no stable version", func(t *testing.T) {
		f := healthy()
		m := measureD(context.Background(), f, testSpec(), Subject{Service: "checkout", Canary: "v2"}, evalAt)
		v := judgeD(m, testSpec())
		require.Equal(t, PhaseSuccessful, v.Phase)
		require.Equal(t, "baseline skipped: no stable version to compare with", checkNamed(v, "baseline").Reason)
	})
	t.Run("disabled: no baseline check, the minimum sample stays", func(t *testing.T) {
		spec := testSpec()
		spec.Analysis = &config.AnalysisSpec{Baseline: &config.BaselineSpec{Disabled: true}}
		f := healthy()
		f.counts("v2", "1m", 10, 10)
		v := judgeWith(f, spec)
		require.Equal(t, PhaseInconclusive, v.Phase)
		for _, c := range v.Checks {
			require.NotEqual(t, CheckBaseline, c.Kind)
		}
	})
}

// TestVerdictJSON: the verdict serialises deterministically and reads back
// equal, without NaN or Inf even when the data had them.
func TestVerdictJSON(t *testing.T) {
	f := healthy()
	f.set(q(tTotal, "v2", "30s"), num(math.NaN()))
	f.set(q(tTotal, "v2", "5m"), num(math.Inf(-1)))
	f.set(q(tLatency, "v2", "1m"), fail("timeout"))
	spec := testSpec()
	v := judgeWith(f, spec)
	a, err := json.Marshal(v)
	require.NoError(t, err)
	for range 5 {
		b, err := json.Marshal(judgeWith(f, spec))
		require.NoError(t, err)
		require.Equal(t, string(a), string(b))
	}
	var back Verdict
	require.NoError(t, json.Unmarshal(a, &back))
	require.Equal(t, v, back)

	// Measurements come sorted: canary before stable, then by window.
	var last key
	for i, m := range v.Measurements {
		k := key{m.Role, m.Quantity, m.Window.D()}
		if i > 0 {
			require.Negative(t, compareKeys(last, k), "item %d out of order", i)
		}
		last = k
	}
}

// TestJudgeIsPure: Judge does not modify its input, and shuffled
// measurements give the same verdict.
func TestJudgeIsPure(t *testing.T) {
	f := healthy()
	f.errorRatio("10s", 0.3)
	spec := testSpec()
	m := measureD(context.Background(), f, spec, subject, evalAt)
	before, err := json.Marshal(m)
	require.NoError(t, err)
	v1 := judgeD(m, spec)
	after, err := json.Marshal(m)
	require.NoError(t, err)
	require.JSONEq(t, string(before), string(after))

	reversed := m
	reversed.Items = nil
	for i := len(m.Items) - 1; i >= 0; i-- {
		reversed.Items = append(reversed.Items, m.Items[i])
	}
	require.Equal(t, v1, judgeD(reversed, spec))
}

// TestJudgeMissingMeasurement: measurements taken with another spec do not
// count as data.
func TestJudgeMissingMeasurement(t *testing.T) {
	m := measureD(context.Background(), healthy(), testSpec(), subject, evalAt)
	spec := testSpec()
	spec.Analysis = &config.AnalysisSpec{BurnRules: []config.BurnRule{
		{Name: "other", LongWindow: dur("2m"), ShortWindow: dur("20s"), BurnRate: 3},
	}}
	v := judgeD(m, spec)
	require.Equal(t, PhaseError, v.Phase)
	require.Equal(t, "burn rule other: query failed for canary burnRate over 2m: good: canary good over 2m was not measured (and 1 more)", v.Reason)
}

// TestWorkedExample is the worked example of docs/analysis.md: a canary at
// 20 requests/s next to a stable version at 380 requests/s, objective
// 99.9%, default rules, baseline and limits.
func TestWorkedExample(t *testing.T) {
	spec := testSpec()
	spec.SLO.Latency = nil
	prom := func(canary map[string][2]float64) *fakeProm {
		f := newFake()
		for w, c := range canary {
			f.counts("v2", w, c[1]-c[0], c[1])
		}
		f.counts("v1", "1m", 22800-23, 22800)
		return f
	}

	// Analysis A, a healthy minute: [errors, requests] per window.
	a := judgeWith(prom(map[string][2]float64{
		"10s": {0, 200}, "30s": {0, 600}, "1m": {1, 1200}, "5m": {2, 4000},
	}), spec)
	require.Equal(t, PhaseSuccessful, a.Phase)
	require.Equal(t, "all checks passed: fast: burn 0.8 (1m), 0.0 (10s), fires above 14.4 in both; "+
		"slow: burn 0.5 (5m), 0.0 (30s), fires above 6 in both; "+
		"baseline: canary 1 errors in 1200 requests (0.08%) vs stable 23 in 22800 (0.10%) over 1m; limit 2 x stable + 0.50% = 0.70%; "+
		"sequential test of canary <= 2 x stable: log evidence -2.9, fails at 6.6 (alpha 0.13%); "+
		"canary served 1200 requests in 1m (needs 50)", a.Reason)
	c, action, _ := decideD(Counters{}, a, spec)
	require.Equal(t, ActionAdvance, action)

	// Analysis B, 30 s after the canary started failing 3% of requests.
	b := judgeWith(prom(map[string][2]float64{
		"10s": {6, 200}, "30s": {18, 600}, "1m": {18, 1200}, "5m": {20, 4000},
	}), spec)
	require.Equal(t, PhaseFailed, b.Phase)
	// 18 errors in 1,200 requests is just over what the fast rule allows
	// (1.44%, 17.3): no evidence for it; but 18 against stable's 23 in
	// 22,800 is evidence against the canary.
	require.Equal(t, "baseline: canary significantly worse than stable: canary 18 errors in 1200 requests (1.50%) vs stable 23 in 22800 (0.10%) over 1m; "+
		"limit 2 x stable + 0.50% = 0.70%; sequential test of canary <= 2 x stable: log evidence 15.0, fails at 6.6 (alpha 0.13%)", b.Reason)
	require.Equal(t, ResultInconclusive, checkNamed(b, "fast").Result)
	require.Equal(t, ResultPassed, checkNamed(b, "slow").Result, "5m burns at 5.0 < 6")
	_, action, reason := decideD(c, b, spec)
	require.Equal(t, ActionRollBack, action)
	require.Equal(t, "analysis failed once (failure limit 1): "+b.Reason, reason)

	// At the start of a step: too few requests in the baseline window.
	s := judgeWith(prom(map[string][2]float64{
		"10s": {0, 20}, "30s": {0, 30}, "1m": {0, 30}, "5m": {0, 30},
	}), spec)
	require.Equal(t, PhaseInconclusive, s.Phase)
	require.Equal(t, "too few requests: canary served 30 in 1m, needs 50", s.Reason)
}
