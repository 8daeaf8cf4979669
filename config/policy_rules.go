package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Placeholders a query template may use. Sluice substitutes them before a
// query is sent: the service name, the version being judged and the range
// of the window as a Prometheus duration ("30s", "1m30s").
const (
	PlaceholderService = "{{service}}"
	PlaceholderVersion = "{{version}}"
	PlaceholderWindow  = "{{window}}"
)

// placeholderList renders the placeholders for messages.
const placeholderList = PlaceholderService + ", " + PlaceholderVersion + " and " + PlaceholderWindow

// checkPolicyAnalysis applies the rules for the parts of a ReleasePolicy
// that drive progressive releases: prometheus, slo, analysis, steps and
// ackTimeout. A zero value means "use the default" everywhere it has one.
func checkPolicyAnalysis(r *reporter, spec *ReleasePolicySpec) {
	if spec.Prometheus != nil {
		checkPrometheusURL(r, "spec.prometheus.url", spec.Prometheus.URL)
	}
	if spec.SLO != nil {
		checkSLO(r, spec.SLO)
	}
	if spec.Analysis != nil {
		checkAnalysis(r, spec.Analysis)
	}
	checkSteps(r, spec.Steps)
	checkMirror(r, spec)
	checkCohorts(r, spec)
	checkStrategy(r, spec)
	checkRollback(r, spec.Rollback)
	if rp := spec.RiskPlan; rp != nil {
		if rp.MaxStep > TotalWeight {
			r.addf("spec.riskPlan.maxStep", "must be 1-%d percentage points, got %d", TotalWeight, rp.MaxStep)
		}
	}
	if spec.AckTimeout != 0 && spec.AckTimeout.D() < MinAckTimeout {
		r.addf("spec.ackTimeout", "must be at least %s when set, got %s", MinAckTimeout, spec.AckTimeout.D())
	}
}

func checkPrometheusURL(r *reporter, path, raw string) {
	if raw == "" {
		return // the server's --prometheus-url
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil, u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.Opaque != "":
		r.addf(path, "invalid URL %q: want http:// or https:// followed by host[:port], e.g. \"http://prometheus:9090\"", raw)
	case u.User != nil:
		r.addf(path, "invalid URL %q: credentials in the URL are not supported", raw)
	case u.RawQuery != "" || u.Fragment != "":
		r.addf(path, "invalid URL %q: must not have a query or fragment", raw)
	}
}

func checkSLO(r *reporter, slo *SLOSpec) {
	switch o := slo.Objective; {
	case o == 0:
		r.addf("spec.slo.objective", "required: the target success percentage, between 0 and 100 exclusive, e.g. 99.9")
	case !(o > 0 && o < 100):
		r.addf("spec.slo.objective", "must be between 0 and 100 exclusive, e.g. 99.9; got %v", o)
	}

	hasRatio := strings.TrimSpace(slo.ErrorRatioQuery) != ""
	hasGood := strings.TrimSpace(slo.GoodQuery) != ""
	hasTotal := strings.TrimSpace(slo.TotalQuery) != ""
	switch {
	case hasRatio && (hasGood || hasTotal):
		r.addf("spec.slo", "set either errorRatioQuery, or goodQuery and totalQuery, not both")
	case hasRatio:
		if strings.TrimSpace(slo.RequestsQuery) == "" {
			r.addf("spec.slo.requestsQuery", "required with errorRatioQuery: the number of requests over %s, "+
				"so that no traffic is never mistaken for no errors", PlaceholderWindow)
		}
	case hasGood && !hasTotal:
		r.addf("spec.slo.totalQuery", "required with goodQuery")
	case hasTotal && !hasGood:
		r.addf("spec.slo.goodQuery", "required with totalQuery")
	case !hasGood && !hasTotal:
		r.addf("spec.slo", "set errorRatioQuery (with requestsQuery), or goodQuery and totalQuery")
	}
	checkTemplate(r, "spec.slo.errorRatioQuery", slo.ErrorRatioQuery)
	checkTemplate(r, "spec.slo.goodQuery", slo.GoodQuery)
	checkTemplate(r, "spec.slo.totalQuery", slo.TotalQuery)
	checkTemplate(r, "spec.slo.requestsQuery", slo.RequestsQuery)

	if lat := slo.Latency; lat != nil {
		if strings.TrimSpace(lat.Query) == "" {
			r.addf("spec.slo.latency.query", "required: the latency in seconds over %s, e.g. a histogram_quantile", PlaceholderWindow)
		} else {
			checkTemplate(r, "spec.slo.latency.query", lat.Query)
		}
		if lat.Threshold <= 0 {
			r.addf("spec.slo.latency.threshold", "required: the highest acceptable latency, e.g. \"300ms\"")
		}
	}
}

// checkTemplate reports unknown or unterminated placeholders in a query
// template, and a template that does not use {{version}}. An empty
// template is not checked (whether it is required is decided elsewhere).
func checkTemplate(r *reporter, path, tmpl string) {
	if strings.TrimSpace(tmpl) == "" {
		return
	}
	checkQueryTemplate(r, path, tmpl, PlaceholderService, PlaceholderVersion, PlaceholderWindow)
	if !strings.Contains(tmpl, PlaceholderVersion) {
		r.addf(path, "must use %s: without it the canary and the stable version would be judged by the same numbers", PlaceholderVersion)
	}
}

// clip shortens s for a message.
func clip(s string) string {
	const maxLen = 20
	if len(s) <= maxLen {
		return s
	}
	return s[:maxLen] + "..."
}

func checkAnalysis(r *reporter, a *AnalysisSpec) {
	if a.Interval != 0 && a.Interval.D() < MinAnalysisInterval {
		r.addf("spec.analysis.interval", "must be at least %s when set, got %s", MinAnalysisInterval, a.Interval.D())
	}
	if a.QueryTimeout != 0 && a.QueryTimeout.D() < MinQueryTimeout {
		r.addf("spec.analysis.queryTimeout", "must be at least %s when set, got %s", MinQueryTimeout, a.QueryTimeout.D())
	}
	checkLimit(r, "spec.analysis.failureLimit", a.FailureLimit, DefaultFailureLimit)
	checkLimit(r, "spec.analysis.inconclusiveLimit", a.InconclusiveLimit, DefaultInconclusiveLimit)
	checkLimit(r, "spec.analysis.errorLimit", a.ErrorLimit, DefaultErrorLimit)

	names := map[string]int{}
	for i, rule := range a.BurnRules {
		path := fmt.Sprintf("spec.analysis.burnRules[%d]", i)
		switch first, dup := names[rule.Name]; {
		case strings.TrimSpace(rule.Name) == "":
			r.addf(path+".name", "required")
		case dup:
			r.addf(path+".name", "duplicate burn rule name %q (also spec.analysis.burnRules[%d])", rule.Name, first)
		default:
			names[rule.Name] = i
		}
		longOK := checkWindow(r, path+".longWindow", rule.LongWindow, true)
		shortOK := checkWindow(r, path+".shortWindow", rule.ShortWindow, true)
		if longOK && shortOK && rule.ShortWindow >= rule.LongWindow {
			r.addf(path+".shortWindow", "must be shorter than longWindow (%s), got %s", rule.LongWindow.D(), rule.ShortWindow.D())
		}
		if !(rule.BurnRate > 0) {
			r.addf(path+".burnRate", "must be greater than 0 (a multiple of the sustainable error rate, e.g. 14.4), got %v", rule.BurnRate)
		}
	}

	if b := a.Baseline; b != nil {
		const bp = "spec.analysis.baseline"
		if b.Window != 0 {
			checkWindow(r, bp+".window", b.Window, false)
		}
		if b.MinRequests < 0 {
			r.addf(bp+".minRequests", "must not be negative, got %v", b.MinRequests)
		}
		if b.MaxRatio != 0 && b.MaxRatio < 1 {
			r.addf(bp+".maxRatio", "must be at least 1 when set (a canary is compared with a multiple of the stable error ratio), got %v", b.MaxRatio)
		}
		switch {
		case b.MinDelta < 0:
			r.addf(bp+".minDelta", "must not be negative, got %v", b.MinDelta)
		case b.MinDelta >= 1:
			r.addf(bp+".minDelta", "must be less than 1 (an error-ratio margin; 1 or more would turn the comparison off: use disabled: true), got %v", b.MinDelta)
		}
		if b.ZScore < 0 {
			r.addf(bp+".zScore", "must not be negative, got %v", b.ZScore)
		}
	}
}

// checkLimit: a limit is at least 1; 0 (unset) means the default.
func checkLimit(r *reporter, path string, v, def int) {
	if v < 0 {
		r.addf(path, "must be at least 1 (or unset for the default, %d), got %d", def, v)
	}
}

// checkWindow checks a Prometheus range: at least MinBurnWindow and a
// whole number of milliseconds (the resolution of Prometheus durations).
// required says whether 0 is an error rather than "the default".
func checkWindow(r *reporter, path string, d Duration, required bool) bool {
	switch {
	case d == 0 && required:
		r.addf(path, "required, e.g. \"1m\"")
	case d.D() < MinBurnWindow:
		r.addf(path, "must be at least %s, got %s", MinBurnWindow, d.D())
	case d.D()%time.Millisecond != 0:
		r.addf(path, "must be a whole number of milliseconds (Prometheus ranges have no finer resolution), got %s", d.D())
	default:
		return true
	}
	return false
}

func checkSteps(r *reporter, steps []StepSpec) {
	if len(steps) > MaxSteps {
		r.addf("spec.steps", "at most %d steps are allowed, got %d", MaxSteps, len(steps))
	}
	prev := uint32(0)
	for i, st := range steps {
		if st.Cohort != "" || st.Mirror != 0 {
			continue // a cohort stage or a mirror; checked with them
		}
		path := fmt.Sprintf("spec.steps[%d].weight", i)
		switch {
		case st.Weight == 0 || st.Weight > TotalWeight:
			r.addf(path, "must be 1-%d (the new version's share of traffic in percent), got %d", TotalWeight, st.Weight)
		case st.Weight <= prev:
			r.addf(path, "must be greater than the previous step's weight (%d): steps only move traffic forward, got %d", prev, st.Weight)
		}
		if st.Weight <= TotalWeight && st.Weight > prev {
			prev = st.Weight
		}
	}
}
