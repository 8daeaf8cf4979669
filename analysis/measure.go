package analysis

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sluicehq/sluice/config"
)

// MaxConcurrentQueries bounds how many queries one Measure runs at once.
const MaxConcurrentQueries = 4

// Subject is what an analysis looks at: the new version of a service (the
// canary) and the version it replaces (stable, used as the baseline).
type Subject struct {
	Service string `json:"service"`
	Canary  string `json:"canary"`
	Stable  string `json:"stable,omitempty"`
	// Since is when the canary's current share of traffic began (the
	// step's routes acknowledged everywhere). When set, canary and stable
	// are compared over everything since then, which makes the comparison
	// a sequential test with a bounded error rate however often it runs
	// (see sequential.go); when zero, over analysis.baseline.window.
	Since time.Time `json:"since,omitzero"`
}

// Role says which side of a release a measurement is about.
type Role string

// Roles.
const (
	RoleCanary Role = "canary"
	RoleStable Role = "stable"
)

// Quantity is what a query measures.
type Quantity string

// Quantities, each from one query template of the SLO.
const (
	// QuantityErrorRatio is from errorRatioQuery: failed / all, 0..1.
	QuantityErrorRatio Quantity = "errorRatio"
	// QuantityGood and QuantityTotal are from goodQuery and totalQuery.
	QuantityGood  Quantity = "good"
	QuantityTotal Quantity = "total"
	// QuantityRequests is from requestsQuery (when it differs from
	// totalQuery): how many requests there were.
	QuantityRequests Quantity = "requests"
	// QuantityLatency is from latency.query, in seconds.
	QuantityLatency Quantity = "latency"
)

// quantityRank is the order of quantities within one window.
func quantityRank(q Quantity) int {
	switch q {
	case QuantityErrorRatio:
		return 0
	case QuantityGood:
		return 1
	case QuantityTotal:
		return 2
	case QuantityRequests:
		return 3
	}
	return 4
}

// Outcome says whether a query produced a usable number.
type Outcome string

// Outcomes.
const (
	// OutcomeValue: one finite number.
	OutcomeValue Outcome = "value"
	// OutcomeNoData: an empty result, NaN or an infinity (for example
	// 0/0 when there was no traffic). Never read as a good or a bad value.
	OutcomeNoData Outcome = "noData"
	// OutcomeError: no answer (Prometheus unreachable, timeout, rejected
	// query) or an answer that is not one number.
	OutcomeError Outcome = "error"
)

// Measurement is the answer to one query.
type Measurement struct {
	Role     Role            `json:"role"`
	Version  string          `json:"version"`
	Quantity Quantity        `json:"quantity"`
	Window   config.Duration `json:"window"`
	// Query is the exact PromQL sent.
	Query   string  `json:"query"`
	Outcome Outcome `json:"outcome"`
	// Value is set when Outcome is OutcomeValue.
	Value *float64 `json:"value,omitempty"`
	// Detail says why there is no value: the kind of empty answer, or the
	// error text.
	Detail string `json:"detail,omitempty"`
}

// Measurements is everything one analysis asked Prometheus, sorted by
// role (canary first), window and quantity.
type Measurements struct {
	Subject Subject       `json:"subject"`
	Time    time.Time     `json:"time"`
	Items   []Measurement `json:"items"`
}

// key identifies a measurement within one analysis.
type key struct {
	role     Role
	quantity Quantity
	window   time.Duration
}

// planned is one measurement to take.
type planned struct {
	key
	version string
	query   string
}

// Measure runs every query spec needs to judge subject at time now: for
// the canary, the error ratio and request count over each burn-rule window
// and over the baseline window, and the latency over the long and short
// windows of the first burn rule; for the stable version, the error ratio
// and request count over the baseline window (unless the baseline is
// disabled or there is no stable version). Identical queries run once.
// Queries run concurrently, at most MaxConcurrentQueries at a time, each
// bounded by the policy's queryTimeout.
//
// spec must hold its defaults (config.PolicyDefaults), as a release's
// stored spec does. Measure never fails: a query that did not give a number is
// recorded with OutcomeNoData or OutcomeError and judged by Judge.
func Measure(ctx context.Context, q Querier, spec config.ReleasePolicySpec, subject Subject, now time.Time) Measurements {
	plan := planFor(&spec, subject, now)
	out := Measurements{Subject: subject, Time: now, Items: make([]Measurement, len(plan))}

	// Run each distinct query once.
	index := map[string]int{}
	var queries []string
	for _, p := range plan {
		if _, ok := index[p.query]; !ok {
			index[p.query] = len(queries)
			queries = append(queries, p.query)
		}
	}
	results := make([]Measurement, len(queries))
	timeout := spec.Analysis.QueryTimeout.D()
	sem := make(chan struct{}, MaxConcurrentQueries)
	var wg sync.WaitGroup
	for i, query := range queries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = runQuery(ctx, q, query, now, timeout)
		}()
	}
	wg.Wait()

	for i, p := range plan {
		r := results[index[p.query]]
		r.Role, r.Version, r.Quantity, r.Window = p.role, p.version, p.quantity, config.Duration(p.window)
		if r.Value != nil {
			v := *r.Value
			r.Value = &v // no sharing between measurements of one query
		}
		out.Items[i] = r
	}
	return out
}

// runQuery asks one query and classifies the answer.
func runQuery(ctx context.Context, q Querier, query string, now time.Time, timeout time.Duration) Measurement {
	m := Measurement{Query: query}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	v, err := q.Query(ctx, query, now)
	if err != nil {
		m.Outcome, m.Detail = OutcomeError, err.Error()
		return m
	}
	f, noData, err := singleValue(v)
	switch {
	case err != nil:
		m.Outcome, m.Detail = OutcomeError, err.Error()
	case noData != "":
		m.Outcome, m.Detail = OutcomeNoData, noData
	default:
		m.Outcome, m.Value = OutcomeValue, &f
	}
	return m
}

// singleValue extracts the one number of a query result. It returns a
// description of the emptiness for results that hold no number, or an
// error for results that are not one number.
func singleValue(v model.Value) (float64, string, error) {
	var f float64
	switch r := v.(type) {
	case nil:
		return 0, "", fmt.Errorf("%w: the answer holds no result", ErrNotANumber)
	case *model.Scalar:
		f = float64(r.Value)
	case model.Vector:
		switch len(r) {
		case 0:
			return 0, "empty result (no series matched)", nil
		case 1:
			f = float64(r[0].Value)
		default:
			return 0, "", fmt.Errorf("%w: %d series; aggregate them into one, e.g. with sum(...)", ErrNotANumber, len(r))
		}
	case model.Matrix:
		return 0, "", fmt.Errorf("%w: a range vector; the query must return an instant vector or a scalar", ErrNotANumber)
	default:
		return 0, "", fmt.Errorf("%w: a %s", ErrNotANumber, v.Type())
	}
	switch {
	case math.IsNaN(f):
		return 0, "NaN (for example 0/0: no requests in the window)", nil
	case math.IsInf(f, 0):
		return 0, strconv.FormatFloat(f, 'g', -1, 64) + " (division by zero)", nil
	}
	return f, "", nil
}

// planFor lists the measurements spec (with defaults) needs for subject,
// in the order of Measurements.Items.
func planFor(spec *config.ReleasePolicySpec, sub Subject, now time.Time) []planned {
	slo := spec.SLO
	if slo == nil || sub.Canary == "" {
		return nil
	}
	a := spec.Analysis
	var plan []planned
	add := func(role Role, version string, q Quantity, w time.Duration, tmpl string) {
		plan = append(plan, planned{
			key:     key{role: role, quantity: q, window: w},
			version: version,
			query:   Expand(tmpl, sub.Service, version, w),
		})
	}
	addRatio := func(role Role, version string, w time.Duration) {
		if slo.ErrorRatioQuery != "" {
			add(role, version, QuantityErrorRatio, w, slo.ErrorRatioQuery)
		} else {
			add(role, version, QuantityGood, w, slo.GoodQuery)
			add(role, version, QuantityTotal, w, slo.TotalQuery)
		}
		if ownRequestsQuery(slo) {
			add(role, version, QuantityRequests, w, slo.RequestsQuery)
		}
	}

	var windows []time.Duration
	for _, r := range a.BurnRules {
		windows = append(windows, r.LongWindow.D(), r.ShortWindow.D())
	}
	compare := comparisonWindow(a.Baseline.Window.D(), sub, now)
	windows = append(windows, compare)
	slices.Sort(windows)
	windows = slices.Compact(windows)
	for _, w := range windows {
		addRatio(RoleCanary, sub.Canary, w)
	}
	if slo.Latency != nil && len(a.BurnRules) > 0 {
		for _, w := range latencyWindows(a) {
			add(RoleCanary, sub.Canary, QuantityLatency, w, slo.Latency.Query)
		}
	}
	if baselineEnabled(spec, sub) {
		addRatio(RoleStable, sub.Stable, compare)
	}
	slices.SortStableFunc(plan, func(x, y planned) int { return compareKeys(x.key, y.key) })
	return plan
}

// ownRequestsQuery says whether request counts come from requestsQuery
// rather than from totalQuery.
func ownRequestsQuery(slo *config.SLOSpec) bool {
	return slo.RequestsQuery != "" && (slo.ErrorRatioQuery != "" || slo.RequestsQuery != slo.TotalQuery)
}

// latencyWindows are the long and short windows of the first burn rule.
func latencyWindows(a *config.AnalysisSpec) []time.Duration {
	r := a.BurnRules[0]
	return []time.Duration{r.LongWindow.D(), r.ShortWindow.D()}
}

// baselineEnabled says whether the stable version is measured.
func baselineEnabled(spec *config.ReleasePolicySpec, sub Subject) bool {
	return !spec.Analysis.Baseline.Disabled && sub.Stable != "" && sub.Stable != sub.Canary
}

func compareKeys(x, y key) int {
	return cmp.Or(
		cmp.Compare(roleOrder(x.role), roleOrder(y.role)),
		cmp.Compare(x.window, y.window),
		cmp.Compare(quantityRank(x.quantity), quantityRank(y.quantity)),
	)
}

func roleOrder(r Role) int {
	if r == RoleCanary {
		return 0
	}
	return 1
}
