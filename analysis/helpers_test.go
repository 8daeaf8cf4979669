package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sluicehq/sluice/config"
)

// Query templates of the test policy: each expands to a text that names
// what it asks for, so the fake can answer by text.
const (
	tGood    = `good{service="{{service}}",version="{{version}}",window="{{window}}"} or vector(0)`
	tTotal   = `total{service="{{service}}",version="{{version}}",window="{{window}}"}`
	tRatio   = `ratio{service="{{service}}",version="{{version}}",window="{{window}}"}`
	tLatency = `latency{service="{{service}}",version="{{version}}",window="{{window}}"}`
)

var (
	subject = Subject{Service: "checkout", Canary: "v2", Stable: "v1"}
	evalAt  = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
)

// q is the expanded text of template tmpl for version over window.
func q(tmpl, version, window string) string {
	d, err := time.ParseDuration(window)
	if err != nil {
		panic(err)
	}
	return Expand(tmpl, subject.Service, version, d)
}

func dur(s string) config.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return config.Duration(d)
}

// testSpec: objective 99.9 (error budget 0.001), the default burn rules
// (fast 1m/10s at 14.4, slow 5m/30s at 6), the default baseline (1m, 50
// requests, 2x + 1%, z 3), good/total queries and a 300ms latency SLO.
func testSpec() config.ReleasePolicySpec {
	return config.ReleasePolicySpec{
		Services: []string{"checkout"},
		SLO: &config.SLOSpec{
			Objective:  99.9,
			GoodQuery:  tGood,
			TotalQuery: tTotal,
			Latency:    &config.LatencySLO{Query: tLatency, Threshold: dur("300ms")},
		},
	}
}

// ratioSpec is testSpec with errorRatioQuery and requestsQuery.
func ratioSpec() config.ReleasePolicySpec {
	s := testSpec()
	s.SLO.GoodQuery, s.SLO.TotalQuery = "", ""
	s.SLO.ErrorRatioQuery, s.SLO.RequestsQuery = tRatio, tTotal
	return s
}

// answer is what the fake returns for one query.
type answer struct {
	v   model.Value
	err error
	// block makes the query wait for its context to end.
	block bool
}

func num(v float64) answer {
	return answer{v: model.Vector{{Metric: model.Metric{}, Value: model.SampleValue(v)}}}
}
func empty() answer { return answer{v: model.Vector{}} }
func fail(msg string) answer {
	return answer{err: fmt.Errorf("%w: %w", ErrQuery, errors.New(msg))}
}

// fakeProm answers queries by their exact text.
type fakeProm struct {
	mu       sync.Mutex
	answers  map[string]answer
	calls    map[string]int
	times    []time.Time
	inFlight atomic.Int32
	maxSeen  atomic.Int32
}

func newFake() *fakeProm {
	return &fakeProm{answers: map[string]answer{}, calls: map[string]int{}}
}

func (f *fakeProm) set(query string, a answer) { f.answers[query] = a }

// counts sets good and total for version over window.
func (f *fakeProm) counts(version, window string, good, total float64) {
	f.set(q(tGood, version, window), num(good))
	f.set(q(tTotal, version, window), num(total))
}

func (f *fakeProm) Query(ctx context.Context, query string, t time.Time) (model.Value, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	f.mu.Lock()
	f.calls[query]++
	f.times = append(f.times, t)
	a, ok := f.answers[query]
	f.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: fake has no answer for %s", ErrQuery, query)
	}
	if a.block {
		<-ctx.Done()
		return nil, fmt.Errorf("%w: %w", ErrQuery, ctx.Err())
	}
	return a.v, a.err
}

// healthy is a canary v2 at 10 requests/s without errors, answering in
// 50 ms, next to a stable v1 at 100 requests/s with 0.1% errors.
func healthy() *fakeProm {
	f := newFake()
	for _, w := range []string{"10s", "30s", "1m", "5m"} {
		d, _ := time.ParseDuration(w)
		n := 10 * d.Seconds()
		f.counts("v2", w, n, n)
	}
	f.counts("v1", "1m", 5994, 6000)
	f.set(q(tLatency, "v2", "1m"), num(0.05))
	f.set(q(tLatency, "v2", "10s"), num(0.048))
	return f
}

// healthyRatio is healthy for ratioSpec.
func healthyRatio() *fakeProm {
	f := newFake()
	for _, w := range []string{"10s", "30s", "1m", "5m"} {
		d, _ := time.ParseDuration(w)
		f.set(q(tRatio, "v2", w), num(0))
		f.set(q(tTotal, "v2", w), num(10*d.Seconds()))
	}
	f.set(q(tRatio, "v1", "1m"), num(0.001))
	f.set(q(tTotal, "v1", "1m"), num(6000))
	f.set(q(tLatency, "v2", "1m"), num(0.05))
	f.set(q(tLatency, "v2", "10s"), num(0.048))
	return f
}

// errorRatio sets the canary's error ratio over window, keeping its
// request count.
func (f *fakeProm) errorRatio(window string, ratio float64) {
	d, _ := time.ParseDuration(window)
	n := 10 * d.Seconds()
	f.counts("v2", window, n*(1-ratio), n)
}

func judgeWith(f *fakeProm, spec config.ReleasePolicySpec) Verdict {
	return judgeD(measureD(context.Background(), f, spec, subject, evalAt), spec)
}

func checkNamed(v Verdict, name string) Check {
	for _, c := range v.Checks {
		if c.Name == name {
			return c
		}
	}
	panic("no check " + name)
}

func nan() float64         { return math.NaN() }
func inf(sign int) float64 { return math.Inf(sign) }

// decideD, judgeD and measureD call Decide, Judge and Measure with spec's
// defaults applied, as the controller's stored release spec has them;
// the tests build partial specs and let the defaults fill the rest.
func decideD(prev Counters, v Verdict, spec config.ReleasePolicySpec) (Counters, Action, string) {
	return Decide(prev, v, config.PolicyDefaults(&spec))
}

func judgeD(m Measurements, spec config.ReleasePolicySpec) Verdict {
	return Judge(m, config.PolicyDefaults(&spec))
}

func measureD(ctx context.Context, q Querier, spec config.ReleasePolicySpec, subject Subject, now time.Time) Measurements {
	return Measure(ctx, q, config.PolicyDefaults(&spec), subject, now)
}
