package config

// This file holds the parts of a ReleasePolicy that drive progressive
// releases: the SLO, the analysis, and the step plan. Their defaults live
// in defaults.go, their rules in rules.go / policy_rules.go.

// PrometheusSpec says where to ask for metrics.
type PrometheusSpec struct {
	// URL of the Prometheus HTTP API, e.g. "http://prometheus:9090".
	// Empty means the server's --prometheus-url.
	URL string `json:"url,omitempty"`
}

// SLOSpec is the service level objective releases are judged against.
//
// Query templates may use {{service}}, {{version}} and {{window}}; Sluice
// substitutes the service name, the version being judged (canary or
// stable) and a Prometheus range such as "30s".
type SLOSpec struct {
	// Objective is the target success percentage, e.g. 99.9. The error
	// budget is 1 - Objective/100.
	Objective float64 `json:"objective"`
	// ErrorRatioQuery returns the ratio of failed requests (0..1) over
	// {{window}}. Either it, or GoodQuery and TotalQuery, must be set.
	ErrorRatioQuery string `json:"errorRatioQuery,omitempty"`
	// GoodQuery and TotalQuery return good and total request counts over
	// {{window}} (e.g. with increase()); the error ratio is 1 - good/total.
	GoodQuery  string `json:"goodQuery,omitempty"`
	TotalQuery string `json:"totalQuery,omitempty"`
	// RequestsQuery returns the number of requests over {{window}}; it
	// decides whether there were enough requests to judge. Defaults to
	// TotalQuery when that is set.
	RequestsQuery string `json:"requestsQuery,omitempty"`
	// Latency is an optional latency objective.
	Latency *LatencySLO `json:"latency,omitempty"`
}

// LatencySLO bounds a latency percentile.
type LatencySLO struct {
	// Query returns the latency in seconds over {{window}}, e.g. a
	// histogram_quantile over a duration histogram.
	Query string `json:"query"`
	// Threshold is the highest acceptable value, e.g. "300ms".
	Threshold Duration `json:"threshold"`
}

// BurnRule is one multiwindow burn-rate alert (Google SRE Workbook, ch. 5):
// it fires only when the burn rate over both the long and the short window
// exceeds BurnRate. Rules are ORed.
type BurnRule struct {
	Name        string   `json:"name"`
	LongWindow  Duration `json:"longWindow"`
	ShortWindow Duration `json:"shortWindow"`
	// BurnRate is the multiple of the sustainable error rate, e.g. 14.4.
	BurnRate float64 `json:"burnRate" max:"1000000"`
}

// BaselineSpec compares the canary with the stable version over the same
// window, so a canary clearly worse than stable fails even while under the
// absolute burn thresholds.
type BaselineSpec struct {
	// Disabled turns the comparison off.
	Disabled bool `json:"disabled,omitempty"`
	// Window is the range both versions are measured over.
	Window Duration `json:"window,omitempty"`
	// MinRequests each version needs in Window before they are compared.
	MinRequests float64 `json:"minRequests,omitempty" max:"1000000000000"`
	// MaxRatio: the canary fails when its error ratio exceeds stable's
	// times MaxRatio (plus MinDelta) and the difference is significant.
	MaxRatio float64 `json:"maxRatio,omitempty" max:"1000000"`
	// MinDelta is an absolute error-ratio margin, so a stable version at
	// 0 errors does not make a single canary error a failure.
	MinDelta float64 `json:"minDelta,omitempty"`
	// ZScore is the one-sided significance a two-proportion z-test must
	// reach, e.g. 3.
	ZScore float64 `json:"zScore,omitempty" max:"1000"`
}

// AnalysisSpec says how often and how strictly releases are judged.
type AnalysisSpec struct {
	// Interval between analyses while a step bakes.
	Interval Duration `json:"interval,omitempty"`
	// BurnRules replace the default multiwindow rules when set.
	BurnRules []BurnRule `json:"burnRules,omitempty"`
	// Baseline configures the canary-versus-stable comparison.
	Baseline *BaselineSpec `json:"baseline,omitempty"`
	// FailureLimit is how many Failed analyses roll the release back.
	FailureLimit int `json:"failureLimit,omitempty" max:"10000"`
	// InconclusiveLimit is how many consecutive Inconclusive analyses (no
	// data, too few requests) roll the release back; until then it holds.
	InconclusiveLimit int `json:"inconclusiveLimit,omitempty" max:"10000"`
	// ErrorLimit is how many consecutive Error analyses (Prometheus
	// unreachable, bad query) roll the release back; until then it holds.
	ErrorLimit int `json:"errorLimit,omitempty" max:"10000"`
	// QueryTimeout bounds each Prometheus query.
	QueryTimeout Duration `json:"queryTimeout,omitempty"`
}

// StepSpec is one step of a release plan: a share of all traffic
// (Weight), a named cohort stage (Cohort), or a share of requests shadowed
// to the new version while every user is served by stable (Mirror).
type StepSpec struct {
	// Weight is the canary's share of traffic in percent (1-100).
	Weight uint32 `json:"weight,omitempty"`
	// Cohort names a stage of the policy's cohorts.
	Cohort string `json:"cohort,omitempty"`
	// Mirror is the share of requests (percent, 1-100) copied to the new
	// version, whose answers are discarded; the new version serves no
	// user (its weight is 0). See mirror.go.
	Mirror uint32 `json:"mirror,omitempty"`
	// Bake is how long the step is observed before it may advance.
	Bake Duration `json:"bake,omitempty"`
}

// RiskPlanSpec bounds the plan Sluice derives from a release's risk when
// the policy has no explicit steps (see analysis/risk.Plan).
type RiskPlanSpec struct {
	// MinBake raises every step's bake to at least this.
	MinBake Duration `json:"minBake,omitempty"`
	// MaxStep is the largest increase of the new version's share in one
	// step, in percentage points (1-100).
	MaxStep uint32 `json:"maxStep,omitempty"`
	// Bakes per risk level replace the default bakes.
	Bakes *LevelDurations `json:"bakes,omitempty"`
	// ApproveHighRisk requires a person's approval before a high-risk
	// release leaves its first step (default true).
	ApproveHighRisk *bool `json:"approveHighRisk,omitempty"`
}

// LevelDurations is one duration per risk level.
type LevelDurations struct {
	Low    Duration `json:"low,omitempty"`
	Medium Duration `json:"medium,omitempty"`
	High   Duration `json:"high,omitempty"`
}
