package analysis

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/config"
)

// Phase is the outcome of one analysis, as in Argo Rollouts' analysis runs.
type Phase string

// Phases, from the strongest to the weakest when checks disagree.
const (
	// PhaseFailed: the canary was measured to be bad (a burn rule fired,
	// latency over its threshold in both windows, or clearly worse than
	// the stable version).
	PhaseFailed Phase = "Failed"
	// PhaseError: a query needed for the verdict got no answer
	// (Prometheus unreachable, timeout, rejected or malformed query).
	PhaseError Phase = "Error"
	// PhaseInconclusive: the answers were there but hold no evidence: no
	// data, NaN, an empty result, or too few requests.
	PhaseInconclusive Phase = "Inconclusive"
	// PhaseSuccessful: every needed number was there and nothing fired.
	PhaseSuccessful Phase = "Successful"
)

// CheckKind names a rule of the judgement.
type CheckKind string

// Check kinds, in the order they appear in a Verdict.
const (
	CheckBurnRule    CheckKind = "burnRule"
	CheckLatency     CheckKind = "latency"
	CheckBaseline    CheckKind = "baseline"
	CheckMinRequests CheckKind = "minRequests"
)

// Result is the outcome of one check.
type Result string

// Check results. Passed, Failed, Inconclusive and Error map to the phases
// of the same name; Skipped is a check that did not apply and counts for
// nothing (a baseline comparison without enough stable traffic).
const (
	ResultPassed       Result = "Passed"
	ResultFailed       Result = "Failed"
	ResultInconclusive Result = "Inconclusive"
	ResultError        Result = "Error"
	ResultSkipped      Result = "Skipped"
)

// Observed is the kind of number an Observation holds.
type Observed string

// Observed numbers.
const (
	// ObservedBurnRate: error ratio / (1 - objective/100).
	ObservedBurnRate Observed = "burnRate"
	// ObservedLatency: seconds.
	ObservedLatency Observed = "latency"
	// ObservedErrorRatio: 0..1.
	ObservedErrorRatio Observed = "errorRatio"
	// ObservedRequests: requests in the window.
	ObservedRequests Observed = "requests"
	// ObservedZScore: the canary-versus-stable two-proportion z statistic
	// that earlier versions recorded; the comparison now records
	// ObservedEvidence.
	ObservedZScore Observed = "zScore"
	// ObservedErrors: failed requests in the window (error ratio times
	// requests).
	ObservedErrors Observed = "errors"
	// ObservedEvidence: the log of the comparison's sequential evidence
	// against "the canary is no worse than maxRatio times stable" (see
	// sequential.go); it fails at its threshold, log(1/α).
	ObservedEvidence Observed = "evidence"
	// ObservedPValue: how likely a burn rule's errors would be at the
	// error ratio it allows; it fires only below its threshold, α.
	ObservedPValue Observed = "pValue"
)

// Observation is one number a check looked at, with where it came from.
type Observation struct {
	Observed Observed        `json:"observed"`
	Role     Role            `json:"role"`
	Version  string          `json:"version"`
	Window   config.Duration `json:"window"`
	Outcome  Outcome         `json:"outcome"`
	// Value is set when Outcome is OutcomeValue.
	Value *float64 `json:"value,omitempty"`
	// Threshold is the limit Value is compared with, when there is one.
	Threshold *float64 `json:"threshold,omitempty"`
	// Passed says whether Value is on the good side of Threshold: at most
	// the threshold for burn rates, latencies and the canary's error ratio,
	// at least it for request counts, below it for z-scores. A check
	// combines its observations: a burn rule fails only when both of its
	// windows did not pass.
	Passed bool `json:"passed"`
	// Detail says why there is no value.
	Detail string `json:"detail,omitempty"`
	// Queries are the exact PromQL the value was computed from.
	Queries []string `json:"queries"`
}

// Check is one rule of the judgement and what it found.
type Check struct {
	Kind CheckKind `json:"kind"`
	// Name is the burn rule's name, or the kind for the other checks.
	Name         string        `json:"name"`
	Result       Result        `json:"result"`
	Reason       string        `json:"reason"`
	Observations []Observation `json:"observations"`
}

// Verdict is the judgement of one analysis. It is recorded in the
// release's decision history: it serialises to JSON deterministically
// (slices in a fixed order, no maps).
type Verdict struct {
	Phase Phase `json:"phase"`
	// Reason is one line for people: "burn rule fast fired: 1m burn 205.3
	// > 14.4 and 10s burn 198.0 > 14.4".
	Reason  string    `json:"reason"`
	Subject Subject   `json:"subject"`
	Time    time.Time `json:"time"`
	// Checks are the burn rules in policy order, then latency, baseline and
	// the minimum sample.
	Checks       []Check       `json:"checks"`
	Measurements []Measurement `json:"measurements"`
}

// Judge decides the phase of one analysis from its measurements. It is
// pure: the same measurements and spec always give the same verdict.
//
//   - Failed when any check failed: a burn rule whose long and short
//     windows both burn faster than its rate, latency over its threshold
//     in both windows of the first burn rule, or a canary significantly
//     worse than the stable version. A measured burn is evidence even when
//     other queries failed, so Failed wins over everything.
//   - Otherwise Error when a needed query got no answer.
//   - Otherwise Inconclusive when a needed number is missing (empty
//     result, NaN, ±Inf, no requests) or the canary served fewer than
//     analysis.baseline.minRequests requests in the baseline window.
//   - Otherwise Successful.
//
// spec must hold its defaults (config.PolicyDefaults), as a release's
// stored spec does, and be the spec the measurements were taken with.
func Judge(m Measurements, spec config.ReleasePolicySpec) Verdict {
	v := Verdict{Subject: m.Subject, Time: m.Time, Measurements: sortedMeasurements(m.Items)}
	slo := spec.SLO
	switch {
	case slo == nil:
		v.Phase, v.Reason = PhaseInconclusive, "the policy has no SLO: there is nothing to judge the canary by"
		return v
	case m.Subject.Canary == "":
		v.Phase, v.Reason = PhaseError, "no canary version to judge"
		return v
	case !(slo.Objective > 0 && slo.Objective < 100):
		v.Phase, v.Reason = PhaseError, fmt.Sprintf("the SLO objective must be between 0 and 100 exclusive, got %v", slo.Objective)
		return v
	}
	j := &judge{spec: &spec, sub: m.Subject, budget: 1 - slo.Objective/100, items: map[key]Measurement{},
		compare:  comparisonWindow(spec.Analysis.Baseline.Window.D(), m.Subject, m.Time),
		evidence: math.Log(1 / alphaFor(spec.Analysis.Baseline.ZScore))}
	for _, it := range m.Items {
		j.items[key{role: it.Role, quantity: it.Quantity, window: it.Window.D()}] = it
	}

	a := spec.Analysis
	for _, r := range a.BurnRules {
		v.Checks = append(v.Checks, j.burnRule(r))
	}
	if slo.Latency != nil && len(a.BurnRules) > 0 {
		v.Checks = append(v.Checks, j.latency())
	}
	if !a.Baseline.Disabled {
		v.Checks = append(v.Checks, j.baseline())
	}
	v.Checks = append(v.Checks, j.minRequests())
	v.Phase, v.Reason = combine(v.Checks)
	return v
}

// combine applies the precedence Failed > Error > Inconclusive >
// Successful to the checks.
func combine(checks []Check) (Phase, string) {
	var failed, errored, inconclusive, passed []string
	for _, c := range checks {
		switch c.Result {
		case ResultFailed:
			failed = append(failed, c.Reason)
		case ResultError:
			errored = append(errored, c.Reason)
		case ResultInconclusive:
			inconclusive = append(inconclusive, c.Reason)
		case ResultPassed, ResultSkipped:
			passed = append(passed, c.Reason)
		}
	}
	switch {
	case len(failed) > 0:
		return PhaseFailed, strings.Join(failed, "; ")
	case len(errored) > 0:
		return PhaseError, firstAndMore(errored)
	case len(inconclusive) > 0:
		return PhaseInconclusive, firstAndMore(inconclusive)
	}
	return PhaseSuccessful, "all checks passed: " + strings.Join(passed, "; ")
}

func firstAndMore(reasons []string) string {
	if len(reasons) == 1 {
		return reasons[0]
	}
	return fmt.Sprintf("%s (and %d more)", reasons[0], len(reasons)-1)
}

// judge holds what the checks of one verdict share.
type judge struct {
	spec   *config.ReleasePolicySpec
	sub    Subject
	budget float64
	items  map[key]Measurement
	// compare is the window of the comparison and the minimum sample;
	// evidence the log-evidence at which a sequential test fails.
	compare  time.Duration
	evidence float64
}

// derived is a number computed from one or more measurements.
type derived struct {
	outcome Outcome
	value   float64
	detail  string
	queries []string
}

func (j *judge) version(r Role) string {
	if r == RoleStable {
		return j.sub.Stable
	}
	return j.sub.Canary
}

// measured returns one measurement as a derived number.
func (j *judge) measured(r Role, q Quantity, w time.Duration) derived {
	m, ok := j.items[key{role: r, quantity: q, window: w}]
	if !ok {
		return derived{outcome: OutcomeError, detail: fmt.Sprintf("%s %s over %s was not measured", r, q, PromDuration(w))}
	}
	d := derived{outcome: m.Outcome, detail: m.Detail, queries: []string{m.Query}}
	if m.Outcome == OutcomeValue {
		if m.Value == nil || math.IsNaN(*m.Value) || math.IsInf(*m.Value, 0) {
			return derived{outcome: OutcomeError, detail: "measurement has no finite value", queries: d.queries}
		}
		d.value = *m.Value
	}
	if m.Outcome != OutcomeValue && m.Outcome != OutcomeNoData && m.Outcome != OutcomeError {
		d.outcome = OutcomeError
		d.detail = fmt.Sprintf("unknown outcome %q", m.Outcome)
	}
	return d
}

// ratioTolerance absorbs floating-point noise around 0 and 1.
const ratioTolerance = 1e-9

// ratio is the error ratio of a version over w, from errorRatioQuery or
// from 1 - good/total.
func (j *judge) ratio(r Role, w time.Duration) derived {
	slo := j.spec.SLO
	if slo.ErrorRatioQuery != "" {
		d := j.measured(r, QuantityErrorRatio, w)
		if d.outcome == OutcomeValue {
			if d.value < -ratioTolerance || d.value > 1+ratioTolerance {
				return derived{outcome: OutcomeError, queries: d.queries,
					detail: fmt.Sprintf("error ratio %s is outside 0..1: errorRatioQuery must return failed/all requests", fmtNum(d.value))}
			}
			d.value = clamp01(d.value)
		}
		return d
	}
	good := j.measured(r, QuantityGood, w)
	total := j.measured(r, QuantityTotal, w)
	d := derived{queries: append(good.queries, total.queries...)}
	switch {
	case good.outcome == OutcomeError:
		d.outcome, d.detail = OutcomeError, "good: "+good.detail
	case total.outcome == OutcomeError:
		d.outcome, d.detail = OutcomeError, "total: "+total.detail
	case total.outcome == OutcomeNoData:
		d.outcome, d.detail = OutcomeNoData, "total: "+total.detail
	case total.value < 0 || good.value < 0:
		d.outcome, d.detail = OutcomeError, fmt.Sprintf("negative count (good %s, total %s)", fmtNum(good.value), fmtNum(total.value))
	case total.value == 0:
		d.outcome, d.detail = OutcomeNoData, "no requests in the window (total is 0)"
	case good.outcome == OutcomeNoData:
		d.outcome, d.detail = OutcomeNoData, "good: "+good.detail+
			"; a good query must return 0, not nothing, when no request succeeded (append `or vector(0)`)"
	default:
		// increase() extrapolates good and total separately, so good may
		// come out a hair above total.
		d.outcome, d.value = OutcomeValue, clamp01(1-good.value/total.value)
	}
	return d
}

// requests is how many requests a version served over w: requestsQuery,
// or totalQuery when that is what requestsQuery is.
func (j *judge) requests(r Role, w time.Duration) derived {
	slo := j.spec.SLO
	var d derived
	switch {
	case ownRequestsQuery(slo):
		d = j.measured(r, QuantityRequests, w)
	case slo.ErrorRatioQuery == "":
		d = j.measured(r, QuantityTotal, w)
	default:
		return derived{outcome: OutcomeError, detail: "the SLO has no requestsQuery: the number of requests cannot be known"}
	}
	if d.outcome == OutcomeValue && d.value < 0 {
		return derived{outcome: OutcomeError, queries: d.queries, detail: fmt.Sprintf("negative request count %s", fmtNum(d.value))}
	}
	return d
}

func (j *judge) observe(what Observed, r Role, w time.Duration, d derived) Observation {
	o := Observation{
		Observed: what, Role: r, Version: j.version(r), Window: config.Duration(w),
		Outcome: d.outcome, Detail: d.detail, Queries: d.queries,
	}
	if o.Queries == nil {
		o.Queries = []string{}
	}
	if d.outcome == OutcomeValue {
		o.Value = ptr(d.value)
	}
	return o
}

// withThreshold sets the threshold and whether the value passed it
// (value <= threshold when atMost, value >= threshold otherwise).
func withThreshold(o Observation, threshold float64, atMost bool) Observation {
	o.Threshold = ptr(threshold)
	if o.Value != nil {
		if atMost {
			o.Passed = *o.Value <= threshold
		} else {
			o.Passed = *o.Value >= threshold
		}
	}
	return o
}

// missing reports the first observation without a value: its result
// (Error before Inconclusive) and a reason.
func missing(prefix string, obs []Observation) (Result, string, bool) {
	for _, want := range []Outcome{OutcomeError, OutcomeNoData} {
		for _, o := range obs {
			if o.Outcome == want {
				res, what := ResultError, "query failed for"
				if want == OutcomeNoData {
					res, what = ResultInconclusive, "no data for"
				}
				return res, fmt.Sprintf("%s: %s %s %s over %s: %s", prefix, what, o.Role, o.Observed, PromDuration(o.Window.D()), o.Detail), true
			}
		}
	}
	return "", "", false
}

func (j *judge) burnRule(rule config.BurnRule) Check {
	c := Check{Kind: CheckBurnRule, Name: rule.Name}
	for _, w := range []time.Duration{rule.LongWindow.D(), rule.ShortWindow.D()} {
		d := j.ratio(RoleCanary, w)
		if d.outcome == OutcomeValue {
			d.value /= j.budget
		}
		c.Observations = append(c.Observations, withThreshold(j.observe(ObservedBurnRate, RoleCanary, w, d), rule.BurnRate, true))
	}
	long, short := c.Observations[0], c.Observations[1]
	prefix := "burn rule " + rule.Name
	switch {
	case long.Value != nil && short.Value != nil && !long.Passed && !short.Passed:
		j.burnEvidence(&c, rule)
	default:
		if res, reason, ok := missing(prefix, c.Observations); ok {
			c.Result, c.Reason = res, reason
			break
		}
		c.Result = ResultPassed
		c.Reason = fmt.Sprintf("%s: burn %.1f (%s), %.1f (%s), fires above %s in both", rule.Name,
			*long.Value, PromDuration(rule.LongWindow.D()), *short.Value, PromDuration(rule.ShortWindow.D()), fmtNum(rule.BurnRate))
	}
	return c
}

// burnEvidence decides a burn rule whose windows both burn above its
// rate: it fires only when the long window's errors would be unlikely (p
// below α, the comparison's level) at the error ratio the rule allows, so
// that one error in a handful of requests is not a verdict; until then it
// is Inconclusive, which holds the release.
func (j *judge) burnEvidence(c *Check, rule config.BurnRule) {
	long, short := c.Observations[0], c.Observations[1]
	w := rule.LongWindow.D()
	n := j.observe(ObservedRequests, RoleCanary, w, j.requests(RoleCanary, w))
	c.Observations = append(c.Observations, n)
	if res, reason, ok := missing("burn rule "+rule.Name, []Observation{n}); ok {
		c.Result, c.Reason = res, reason
		return
	}
	alpha := alphaFor(j.spec.Analysis.Baseline.ZScore)
	errors := *long.Value * j.budget * *n.Value
	p := binomialTail(errors, *n.Value, rule.BurnRate*j.budget)
	c.Observations = append(c.Observations, Observation{Observed: ObservedPValue, Role: RoleCanary, Version: j.sub.Canary,
		Window: config.Duration(w), Outcome: OutcomeValue, Value: ptr(p), Threshold: ptr(alpha), Passed: p >= alpha, Queries: []string{}})
	counts := fmt.Sprintf("%s errors in %s requests over %s, p %s at the allowed %s, fires below %s", fmtNum(math.Round(errors)),
		fmtCount(*n.Value), PromDuration(w), fmtP(p), fmtPct(rule.BurnRate*j.budget), fmtP(alpha))
	if p >= alpha {
		c.Result = ResultInconclusive
		c.Reason = fmt.Sprintf("burn rule %s: burn %.1f (%s), %.1f (%s) above %s, but too few requests to tell: %s", rule.Name,
			*long.Value, PromDuration(w), *short.Value, PromDuration(rule.ShortWindow.D()), fmtNum(rule.BurnRate), counts)
		return
	}
	c.Result = ResultFailed
	c.Reason = fmt.Sprintf("burn rule %s fired: %s burn %.1f > %s and %s burn %.1f > %s (%s)", rule.Name,
		PromDuration(w), *long.Value, fmtNum(rule.BurnRate),
		PromDuration(rule.ShortWindow.D()), *short.Value, fmtNum(rule.BurnRate), counts)
}

// fmtP renders a probability: "0.13%", "<0.0001%".
func fmtP(p float64) string {
	if p < 1e-6 {
		return "<0.0001%"
	}
	return strconv.FormatFloat(p*100, 'g', 2, 64) + "%"
}

// evidenceObservation records a sequential test's log evidence against
// its threshold.
func (j *judge) evidenceObservation(w time.Duration, ev float64) Observation {
	o := Observation{Observed: ObservedEvidence, Role: RoleCanary, Version: j.sub.Canary, Window: config.Duration(w),
		Outcome: OutcomeValue, Threshold: ptr(j.evidence), Passed: ev < j.evidence, Queries: []string{}}
	if !math.IsInf(ev, 0) {
		o.Value = ptr(ev)
	} else {
		o.Value = ptr(math.Copysign(math.MaxFloat64, ev))
	}
	return o
}

func (j *judge) latency() Check {
	c := Check{Kind: CheckLatency, Name: string(CheckLatency)}
	threshold := j.spec.SLO.Latency.Threshold.D()
	for _, w := range latencyWindows(j.spec.Analysis) {
		d := j.measured(RoleCanary, QuantityLatency, w)
		if d.outcome == OutcomeValue && d.value < 0 {
			d = derived{outcome: OutcomeError, queries: d.queries, detail: fmt.Sprintf("negative latency %s", fmtNum(d.value))}
		}
		c.Observations = append(c.Observations, withThreshold(j.observe(ObservedLatency, RoleCanary, w, d), threshold.Seconds(), true))
	}
	long, short := c.Observations[0], c.Observations[1]
	switch {
	case long.Value != nil && short.Value != nil && !long.Passed && !short.Passed:
		c.Result = ResultFailed
		c.Reason = fmt.Sprintf("latency over %s in both windows: %s %s and %s %s", threshold,
			PromDuration(long.Window.D()), fmtSeconds(*long.Value), PromDuration(short.Window.D()), fmtSeconds(*short.Value))
	default:
		if res, reason, ok := missing("latency", c.Observations); ok {
			c.Result, c.Reason = res, reason
			break
		}
		c.Result = ResultPassed
		c.Reason = fmt.Sprintf("latency %s (%s), %s (%s), fails above %s in both", fmtSeconds(*long.Value),
			PromDuration(long.Window.D()), fmtSeconds(*short.Value), PromDuration(short.Window.D()), threshold)
	}
	return c
}

func (j *judge) baseline() Check {
	b := j.spec.Analysis.Baseline
	w := j.compare
	c := Check{Kind: CheckBaseline, Name: string(CheckBaseline), Observations: []Observation{}}
	if !baselineEnabled(j.spec, j.sub) {
		c.Result, c.Reason = ResultSkipped, "baseline skipped: no stable version to compare with"
		return c
	}
	cr := j.observe(ObservedErrorRatio, RoleCanary, w, j.ratio(RoleCanary, w))
	sr := j.observe(ObservedErrorRatio, RoleStable, w, j.ratio(RoleStable, w))
	cn := withThreshold(j.observe(ObservedRequests, RoleCanary, w, j.requests(RoleCanary, w)), b.MinRequests, false)
	sn := withThreshold(j.observe(ObservedRequests, RoleStable, w, j.requests(RoleStable, w)), b.MinRequests, false)
	c.Observations = []Observation{cr, sr, cn, sn}
	span := PromDuration(w)
	// Errors first: a comparison that could not be asked is not skipped.
	for _, o := range c.Observations {
		if o.Outcome != OutcomeValue && o.Outcome != OutcomeNoData {
			c.Result, c.Reason, _ = missing("baseline", []Observation{o})
			return c
		}
	}
	switch {
	case !cn.Passed:
		c.Result = ResultSkipped
		c.Reason = "baseline skipped: too few canary requests in " + span + " (" + countOrNoData(cn) + " < " + fmtNum(b.MinRequests) + ")"
		return c
	case !sn.Passed:
		c.Result = ResultSkipped
		c.Reason = "baseline skipped: too few stable requests in " + span + " (" + countOrNoData(sn) + " < " + fmtNum(b.MinRequests) + ")"
		return c
	}
	if res, reason, ok := missing("baseline", []Observation{cr, sr}); ok {
		c.Result, c.Reason = res, reason
		return c
	}
	limit := *sr.Value*b.MaxRatio + b.MinDelta
	c.Observations[0] = withThreshold(cr, limit, true)
	ce, se := *cr.Value**cn.Value, *sr.Value**sn.Value
	ev := logEvidence(ce, ce+se, nullShare(b.MaxRatio, *cn.Value, *sn.Value))
	errs := func(r Role, v float64, o Observation) Observation {
		e := Observation{Observed: ObservedErrors, Role: r, Version: j.version(r), Window: config.Duration(w),
			Outcome: OutcomeValue, Value: ptr(v), Queries: o.Queries}
		return e
	}
	c.Observations = append(c.Observations, errs(RoleCanary, ce, cr), errs(RoleStable, se, sr), j.evidenceObservation(w, ev))
	desc := fmt.Sprintf("canary %s errors in %s requests (%s) vs stable %s in %s (%s) over %s; "+
		"limit %s x stable + %s = %s; sequential test of canary <= %s x stable: log evidence %.1f, fails at %.1f (alpha %s)",
		fmtNum(math.Round(ce)), fmtCount(*cn.Value), fmtPct(*cr.Value), fmtNum(math.Round(se)), fmtCount(*sn.Value), fmtPct(*sr.Value), span,
		fmtNum(b.MaxRatio), fmtPct(b.MinDelta), fmtPct(limit), fmtNum(b.MaxRatio), ev, j.evidence, fmtPct(alphaFor(b.ZScore)))
	if !c.Observations[0].Passed && ev >= j.evidence {
		c.Result, c.Reason = ResultFailed, "baseline: canary significantly worse than stable: "+desc
		return c
	}
	c.Result, c.Reason = ResultPassed, "baseline: "+desc
	return c
}

func (j *judge) minRequests() Check {
	b := j.spec.Analysis.Baseline
	w := j.compare
	o := withThreshold(j.observe(ObservedRequests, RoleCanary, w, j.requests(RoleCanary, w)), b.MinRequests, false)
	c := Check{Kind: CheckMinRequests, Name: string(CheckMinRequests), Observations: []Observation{o}}
	if res, reason, ok := missing("minimum sample", c.Observations); ok {
		c.Result, c.Reason = res, reason
		return c
	}
	if !o.Passed {
		c.Result = ResultInconclusive
		c.Reason = fmt.Sprintf("too few requests: canary served %s in %s, needs %s", fmtCount(*o.Value), PromDuration(w), fmtNum(b.MinRequests))
		return c
	}
	c.Result = ResultPassed
	c.Reason = fmt.Sprintf("canary served %s requests in %s (needs %s)", fmtCount(*o.Value), PromDuration(w), fmtNum(b.MinRequests))
	return c
}

func countOrNoData(o Observation) string {
	if o.Value == nil {
		return "no data"
	}
	return fmtCount(*o.Value)
}

func clamp01(v float64) float64 { return math.Min(1, math.Max(0, v)) }

func ptr(v float64) *float64 { return &v }

// fmtNum renders a number briefly: whole numbers without decimals, others
// with up to three significant decimals ("50", "14.4", "49.63").
func fmtNum(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	if math.Abs(v) >= 1 {
		return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// fmtCount renders a number of requests served: Prometheus estimates it
// from rates, people count whole requests. It rounds down, so a count
// shown beside a whole-number minimum compares with it as the check did
// (49.6 is "49, needs 50", never "50, needs 50").
func fmtCount(v float64) string { return fmtNum(math.Floor(v)) }

// fmtPct renders a ratio as a percentage with two decimals: "1.44%".
func fmtPct(v float64) string { return strconv.FormatFloat(v*100, 'f', 2, 64) + "%" }

// fmtSeconds renders seconds as milliseconds with one decimal: "412.3ms".
func fmtSeconds(v float64) string { return strconv.FormatFloat(v*1000, 'f', 1, 64) + "ms" }

// sortedMeasurements copies items in the order Measure produces them.
func sortedMeasurements(items []Measurement) []Measurement {
	out := make([]Measurement, len(items))
	for i, m := range items {
		if m.Value != nil {
			m.Value = ptr(*m.Value)
		}
		out[i] = m
	}
	slices.SortStableFunc(out, func(x, y Measurement) int {
		return compareKeys(key{x.Role, x.Quantity, x.Window.D()}, key{y.Role, y.Quantity, y.Window.D()})
	})
	return out
}
