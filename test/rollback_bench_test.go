package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/xds"

	"github.com/sluicehq/sluice/analysis/promtest"
	"github.com/sluicehq/sluice/demo"
	"github.com/sluicehq/sluice/state"
)

// The rollback benchmarks measure, on the real parts (Prometheus scraping
// every second, a 3-node cluster of `sluice server` processes, demo
// backends, grpc-go's xDS client), how long a failing canary serves users
// and how many failed requests they see:
//
//	first failing RPC seen by the client
//	  -> rollback decision in the release record   (detect)
//	  -> the client's RPCs all reach the stable version again   (push)
//
// docs/rollback-benchmark.md describes the method and the results.
const (
	// rollbackRPS is the client's open-loop rate.
	rollbackRPS = 200
	// rollbackShare is the canary's share in the first step, in percent.
	rollbackShare = 10
	// rollbackErrorRatio is the share of its requests the canary fails
	// once the fault is switched on.
	rollbackErrorRatio = 0.3
	// rollbackTail is how long the client must see only the stable version
	// after the rollback decision before the rollback counts as served.
	rollbackTail = 2 * time.Second
)

// goodTotalQueries are the SLO templates of examples/policy.yaml.
const goodTotalQueries = `    goodQuery: 'sum(increase(requests_total{service="{{service}}",version="{{version}}",code!~"5..|UNAVAILABLE|INTERNAL|UNKNOWN|DEADLINE_EXCEEDED"}[{{window}}])) or vector(0)'
    totalQuery: 'sum(increase(requests_total{service="{{service}}",version="{{version}}"}[{{window}}]))'
`

// rollbackVariant is one analysis configuration under test.
type rollbackVariant struct {
	name      string
	objective float64
	// analysis is the policy's analysis section, indented under spec; ""
	// keeps every shipped default.
	analysis string
	// bake is the bake of every step; "" keeps the default.
	bake string
	// interval is the analysis interval the variant runs at; the fault is
	// switched on at a chosen phase of it.
	interval time.Duration
	// failedChecks is how many Failed analyses a rollback needs.
	failedChecks int
}

// shippedDefaults sets nothing but the SLO: interval 5s, burn rules fast
// 1m/10s at 14.4 and slow 5m/30s at 6, baseline over 1m, one Failed
// analysis rolls back, bake 1m.
func shippedDefaults() rollbackVariant {
	return rollbackVariant{name: "shipped-defaults", objective: 99.9, interval: 5 * time.Second, failedChecks: 1}
}

// tunedFast analyses every second with one burn rule of 10s/3s at 14.4 and
// a 10s baseline window: windows a 1s scrape can fill.
func tunedFast() rollbackVariant {
	return rollbackVariant{name: "tuned-fast", objective: 99.9, interval: time.Second, failedChecks: 1, analysis: `  analysis:
    interval: 1s
    burnRules: [{name: fast, longWindow: 10s, shortWindow: 3s, burnRate: 14.4}]
    baseline: {window: 10s}
`}
}

// flaggerLike mimics Flagger's defaults: one check a minute of the success
// rate over the last minute against 99%, no baseline, steps of 10%, and a
// rollback one check after the first failed one (Flagger compares its
// failed-check count with the threshold at the start of the next run; with
// a fault that persists, that is the second failed check).
func flaggerLike() rollbackVariant {
	return rollbackVariant{name: "flagger-like", objective: 99, interval: time.Minute, failedChecks: 2, bake: "1m", analysis: `  analysis:
    interval: 1m
    burnRules: [{name: success-rate, longWindow: 1m, shortWindow: 59s, burnRate: 1}]
    baseline: {disabled: true}
    failureLimit: 2
`}
}

// BenchmarkRollback runs releases whose canary starts failing in the first
// step, with the shipped analysis defaults and with a tuned-fast policy.
// Each iteration is one release of a fresh service. Run it with
//
//	go test -run '^$' -bench Rollback -benchtime 3x ./test/
//
// (1, 3 or 7 iterations spread the fault's onset evenly over the analysis
// interval). The metrics are medians and maxima over the iterations;
// ns/op is the wall time of a whole trial and means nothing here.
func BenchmarkRollback(b *testing.B) {
	e := newRollbackEnv(b)
	for _, v := range []rollbackVariant{shippedDefaults(), tunedFast()} {
		b.Run(v.name, func(b *testing.B) { e.run(b, v) })
	}
}

// BenchmarkFlaggerLike runs the Flagger-default-like policy (one check a
// minute, rollback at the next run after a failed check): about two
// minutes per iteration.
//
//	go test -run '^$' -bench FlaggerLike -benchtime 1x -timeout 30m ./test/
func BenchmarkFlaggerLike(b *testing.B) {
	e := newRollbackEnv(b)
	v := flaggerLike()
	b.Run(v.name, func(b *testing.B) { e.run(b, v) })
}

// rollbackEnv is Prometheus, a cluster and one scrape target that serves
// the metrics of every backend the trials start.
type rollbackEnv struct {
	prom    *promtest.Server
	leader  *proc
	edge    *proc // a follower: the node the clients' xDS streams use
	targets *gathererSet
}

func newRollbackEnv(b *testing.B) *rollbackEnv {
	b.Helper()
	targets := &gathererSet{}
	srv := httptest.NewServer(promhttp.HandlerFor(targets, promhttp.HandlerOpts{}))
	b.Cleanup(srv.Close)
	prom := promtest.Start(b, strings.TrimPrefix(srv.URL, "http://"))
	procs := startCluster(b, 3, "--prometheus-url", prom.URL())
	e := &rollbackEnv{prom: prom, leader: leaderOf(b, procs), targets: targets}
	for _, p := range procs {
		if p != e.leader {
			e.edge = p
			break
		}
	}
	return e
}

// gathererSet is a prometheus.Gatherer over a changing set of backends, so
// that one static scrape target covers backends started later.
type gathererSet struct {
	mu sync.Mutex
	gs []prometheus.Gatherer
}

func (s *gathererSet) add(gs ...prometheus.Gatherer) (remove func()) {
	s.mu.Lock()
	s.gs = append(s.gs, gs...)
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.gs = slices.DeleteFunc(s.gs, func(g prometheus.Gatherer) bool { return slices.Contains(gs, g) })
	}
}

func (s *gathererSet) Gather() ([]*dto.MetricFamily, error) {
	s.mu.Lock()
	gs := prometheus.Gatherers(slices.Clone(s.gs))
	s.mu.Unlock()
	return gs.Gather()
}

// run is one sub-benchmark: b.Loop trials, then the summary metrics.
func (e *rollbackEnv) run(b *testing.B, v rollbackVariant) {
	var samples []rollbackSample
	for i := 0; b.Loop(); i++ {
		s := e.trial(b, v, i)
		samples = append(samples, s)
		b.Log(s.String(v))
	}
	if len(samples) == 0 {
		return
	}
	report := func(unit string, f func(rollbackSample) float64) {
		vals := make([]float64, len(samples))
		for i, s := range samples {
			vals[i] = f(s)
		}
		slices.Sort(vals)
		b.ReportMetric(median(vals), unit)
		b.ReportMetric(vals[len(vals)-1], unit+"-max")
	}
	report("detect-ms", func(s rollbackSample) float64 { return ms(s.detect()) })
	report("push-ms", func(s rollbackSample) float64 { return ms(s.push()) })
	report("total-ms", func(s rollbackSample) float64 { return ms(s.total()) })
	report("failed-reqs", func(s rollbackSample) float64 { return float64(s.failed) })
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// onsetPhase is where in the analysis interval trial i switches the fault
// on: 1/2, 1/4, 3/4, 1/8, ... (the van der Corput sequence), so that 1, 3
// or 7 trials cover the interval evenly.
func onsetPhase(i int) float64 {
	p, f := 0.0, 0.5
	for n := i + 1; n > 0; n /= 2 {
		if n%2 == 1 {
			p += f
		}
		f /= 2
	}
	return p
}

// rollbackSample is what one trial measured. Times of the release record
// are the leader's clock, the others the client's: one machine, one clock.
type rollbackSample struct {
	phase float64
	// onset is when the fault was switched on, firstFail when the client
	// saw the first failed RPC complete.
	onset, firstFail time.Time
	// firstCheck is the evaluation time of the first analysis that started
	// after firstFail; firstFailed that of the first Failed analysis.
	firstCheck, firstFailed time.Time
	// verdictAt is the evaluation time of the analysis behind the
	// rollback, decidedAt the time of the rollback decision.
	verdictAt, decidedAt time.Time
	// servedAt is when the client's RPCs started reaching only the
	// stable version: the start of the first RPC after the last one
	// answered by the canary or failed.
	servedAt time.Time
	// analyses is how many analyses ran from firstFail to the rollback,
	// the rollback's included.
	analyses int
	failed   int
	// failedBefore counts RPCs that failed before the onset (none are
	// expected: the stable version never fails).
	failedBefore int
	codes        map[string]int
	// canaryOK counts RPCs the canary answered after the first failure;
	// window all RPCs that started between the first failure and servedAt.
	canaryOK, window int
}

func (s rollbackSample) detect() time.Duration { return s.decidedAt.Sub(s.firstFail) }
func (s rollbackSample) push() time.Duration   { return s.servedAt.Sub(s.decidedAt) }
func (s rollbackSample) total() time.Duration  { return s.servedAt.Sub(s.firstFail) }

func (s rollbackSample) String(v rollbackVariant) string {
	rate := rollbackRPS * rollbackShare / 100.0 * rollbackErrorRatio
	line := fmt.Sprintf("%s phase %.3f: onset->first failure %s; first failure->analysis %s (%d analyses), analysis->decision %s, "+
		"detect %s, push %s, total %s; failed RPCs %d %v (model R x share x ratio x total = %.0f), canary OK after first failure %d (canary share of the window %.1f%%), failed before onset %d",
		v.name, s.phase, round(s.firstFail.Sub(s.onset)), round(s.verdictAt.Sub(s.firstFail)), s.analyses, round(s.decidedAt.Sub(s.verdictAt)),
		round(s.detect()), round(s.push()), round(s.total()), s.failed, s.codes, rate*s.total().Seconds(), s.canaryOK,
		100*float64(s.failed+s.canaryOK)/float64(max(s.window, 1)), s.failedBefore)
	if v.failedChecks > 1 {
		line += fmt.Sprintf("; first check after the failure at +%s, first failed check at +%s, model detect (to next check + %s) = %s",
			round(s.firstCheck.Sub(s.firstFail)), round(s.firstFailed.Sub(s.firstFail)), v.interval,
			round(s.firstCheck.Sub(s.firstFail)+v.interval))
	}
	return line
}

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

// trial releases v2 of a fresh service, switches v2's fault on once the
// first step serves it, and measures until the client is back on v1.
func (e *rollbackEnv) trial(b *testing.B, v rollbackVariant, i int) rollbackSample {
	b.Helper()
	svc := fmt.Sprintf("rb-%s-%d", v.name, i)
	backends := map[string]*demo.Backend{}
	for j, ver := range []string{"v1", "v2"} {
		be, err := demo.StartBackend(demo.BackendConfig{Service: svc, Version: ver, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
			Faults: demo.Faults{Latency: time.Millisecond}, Seed: uint64(100*i + j + 1)})
		require.NoError(b, err)
		defer be.Close()
		backends[ver] = be
	}
	defer e.targets.add(backends["v1"].Gatherer(), backends["v2"].Gatherer())()

	_, err := e.leader.client().Apply(ctxT(b), svc+".yaml", []byte(rollbackYAML(svc, v, backends["v1"].GRPCAddr(), backends["v2"].GRPCAddr())))
	require.NoError(b, err)
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(b, e.prom.WaitForSeries(wctx, fmt.Sprintf(`requests_total{service=%q,version="v2"}`, svc)))

	l := startRecordedLoad(b, e.edge.xds, svc)
	defer l.stop()
	eventually(b, 30*time.Second, svc+": all traffic on v1", func() error { return l.recentAllOn("v1", 50) })

	rel := "rb-" + svc
	_, err = e.leader.client().StartRelease(ctxT(b), releaseSpec(rel, svc, "v2"))
	require.NoError(b, err)
	var r *state.Release
	eventually(b, 60*time.Second, rel+": first step acked", func() error {
		var err error
		if r, err = e.leader.client().Release(context.Background(), rel); err != nil {
			return err
		}
		if r.Status.Phase != state.PhaseProgressing || r.Status.Step != 0 || !r.Status.Acked {
			return fmt.Errorf("phase %s step %d acked %v holding %q", r.Status.Phase, r.Status.Step, r.Status.Acked, holdOf(r))
		}
		return nil
	})
	eventually(b, 10*time.Second, svc+": the client reaches v2", func() error { return l.sawSince("v2", r.Status.AckedAt) })

	// Switch the fault on at the chosen phase of the analysis interval,
	// counted from the next scheduled analysis. The wait places the onset;
	// nothing is asserted on time.
	r, err = e.leader.client().Release(ctxT(b), rel)
	require.NoError(b, err)
	phase := onsetPhase(i)
	onset := r.Status.NextAnalysisAt.Add(-v.interval).Add(time.Duration(phase * float64(v.interval)))
	for time.Until(onset) < 50*time.Millisecond {
		onset = onset.Add(v.interval)
	}
	time.Sleep(time.Until(onset))
	onset = time.Now()
	require.NoError(b, backends["v2"].SetFaults(demo.Faults{ErrorRatio: rollbackErrorRatio, Latency: time.Millisecond}))

	r = e.waitTerminal(b, rel, time.Duration(v.failedChecks+1)*v.interval+90*time.Second)
	require.Equal(b, state.PhaseRolledBack, r.Status.Phase, "reason: %s", r.Status.Reason)
	require.Equal(b, 0, r.Status.Step, "rolled back in the first step: %s", r.Status.Reason)
	last := r.Status.Decisions[len(r.Status.Decisions)-1]
	require.Equal(b, state.DecisionRollback, last.Action)
	eventually(b, 30*time.Second, svc+": the client back on v1", func() error { return l.onlyOnSince("v1", last.Time, rollbackTail) })

	s := rollbackSample{phase: phase, onset: onset, decidedAt: last.Time, codes: map[string]int{}}
	s.measureClient(b, l.snapshot())
	s.measureRecord(b, r)
	return s
}

// waitTerminal polls the release until it has ended.
func (e *rollbackEnv) waitTerminal(b *testing.B, name string, timeout time.Duration) *state.Release {
	b.Helper()
	var r *state.Release
	eventually(b, timeout, name+": ended", func() error {
		var err error
		if r, err = e.leader.client().Release(context.Background(), name); err != nil {
			return err
		}
		if !r.Status.Phase.Terminal() {
			return fmt.Errorf("phase %s step %d holding %q counters %+v", r.Status.Phase, r.Status.Step, holdOf(r), r.Status.Counters)
		}
		return nil
	})
	return r
}

// measureClient reads the client's side: the first failure, the failures
// and the moment the canary stopped answering.
func (s *rollbackSample) measureClient(b *testing.B, recs []rpcRecord) {
	b.Helper()
	var lastOff time.Time // start of the last RPC not answered by v1
	for _, rc := range recs {
		if rc.start.Before(s.onset) {
			if rc.version == "" {
				s.failedBefore++
			}
			continue
		}
		if rc.version == "" {
			s.failed++
			s.codes[rc.code]++
			if s.firstFail.IsZero() || rc.end.Before(s.firstFail) {
				s.firstFail = rc.end
			}
		}
		if rc.version != "v1" && rc.start.After(lastOff) {
			lastOff = rc.start
		}
	}
	require.False(b, s.firstFail.IsZero(), "the client saw no failed RPC")
	for _, rc := range recs {
		if rc.start.After(lastOff) && (s.servedAt.IsZero() || rc.start.Before(s.servedAt)) {
			s.servedAt = rc.start
		}
		if rc.version == "v2" && rc.end.After(s.firstFail) {
			s.canaryOK++
		}
		if rc.start.After(s.firstFail) && rc.start.Before(lastOff) {
			s.window++
		}
	}
	require.False(b, s.servedAt.IsZero(), "no RPC after the canary's last answer")
}

// verdictHead is the part of a recorded verdict the benchmark reads.
type verdictHead struct {
	Phase string    `json:"phase"`
	Time  time.Time `json:"time"`
}

// measureRecord reads the release record: the analyses after the first
// failure and the one behind the rollback.
func (s *rollbackSample) measureRecord(b *testing.B, r *state.Release) {
	b.Helper()
	for _, d := range r.Status.Decisions {
		if len(d.Verdict) == 0 {
			continue
		}
		var v verdictHead
		require.NoError(b, json.Unmarshal(d.Verdict, &v), "decision %d verdict", d.Seq)
		if v.Time.Before(s.firstFail) {
			continue
		}
		s.analyses++
		if s.firstCheck.IsZero() {
			s.firstCheck = v.Time
		}
		if v.Phase == "Failed" && s.firstFailed.IsZero() {
			s.firstFailed = v.Time
		}
		if d.Action == state.DecisionRollback {
			s.verdictAt = v.Time
		}
	}
	require.False(b, s.verdictAt.IsZero(), "the rollback decision carries no verdict: %s", r.Status.Reason)
}

// rollbackYAML is a service on two backends and its policy: the variant's
// SLO objective and analysis, steps of 10% up to 100%.
func rollbackYAML(svc string, v rollbackVariant, v1, v2 string) string {
	steps := make([]string, 10)
	for i := range steps {
		if v.bake != "" {
			steps[i] = fmt.Sprintf("{weight: %d, bake: %s}", 10*(i+1), v.bake)
		} else {
			steps[i] = fmt.Sprintf("{weight: %d}", 10*(i+1))
		}
	}
	return fmt.Sprintf(`apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: %[1]s}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: %[2]q, region: r1}]}
    - {name: v2, endpoints: [{address: %[3]q, region: r1}]}
---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: %[1]s}
spec:
  services: [%[1]s]
  slo:
    objective: %[4]v
%[5]s%[6]s  steps: [%[7]s]
`, svc, v1, v2, v.objective, goodTotalQueries, v.analysis, strings.Join(steps, ", "))
}

// rpcRecord is one RPC as the client saw it.
type rpcRecord struct {
	start, end time.Time
	// version answered; "" when the RPC failed, with code its gRPC code.
	version string
	code    string
}

// recordedLoad sends RPCs open-loop at rollbackRPS through grpc-go's xDS
// client and keeps every outcome with its times.
type recordedLoad struct {
	load   *demo.Load
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	recs []rpcRecord
}

func startRecordedLoad(tb testing.TB, xdsAddr, svc string) *recordedLoad {
	tb.Helper()
	boot, err := demo.Bootstrap(demo.Node{ID: "bench-" + svc, Cluster: "bench", Region: "r1"}, xdsAddr)
	require.NoError(tb, err)
	res, err := xds.NewXDSResolverWithConfigForTesting(boot)
	require.NoError(tb, err)
	load, err := demo.NewLoad(demo.LoadConfig{Target: svc, Timeout: 2 * time.Second, DialOptions: []grpc.DialOption{grpc.WithResolvers(res)}})
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	l := &recordedLoad{load: load, cancel: cancel, done: make(chan struct{})}
	go l.run(ctx)
	return l
}

// run paces RPCs like demo.Load.Run: a slow answer does not slow the rate
// down, and at most 256 are outstanding.
func (l *recordedLoad) run(ctx context.Context) {
	defer close(l.done)
	tick := time.NewTicker(time.Second / rollbackRPS)
	defer tick.Stop()
	rpcCtx := context.WithoutCancel(ctx)
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	defer wg.Wait()
	start, sent := time.Now(), 0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			for due := int(now.Sub(start).Seconds()*rollbackRPS) - sent; due > 0; due-- {
				sent++
				select {
				case sem <- struct{}{}:
				default:
					continue
				}
				wg.Add(1)
				go func() {
					defer func() { <-sem; wg.Done() }()
					l.call(rpcCtx)
				}()
			}
		}
	}
}

func (l *recordedLoad) call(ctx context.Context) {
	begin := time.Now()
	v, err := l.load.Call(ctx)
	rc := rpcRecord{start: begin, end: time.Now(), version: v}
	if err != nil {
		rc.version, rc.code = "", status.Code(err).String()
	}
	l.mu.Lock()
	l.recs = append(l.recs, rc)
	l.mu.Unlock()
}

func (l *recordedLoad) stop() {
	l.cancel()
	<-l.done
	_ = l.load.Close()
}

func (l *recordedLoad) snapshot() []rpcRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.recs)
}

// recentAllOn reports whether the last n RPCs to complete all reached
// version.
func (l *recordedLoad) recentAllOn(version string, n int) error {
	recs := l.snapshot()
	if len(recs) < n {
		return fmt.Errorf("%d RPCs so far", len(recs))
	}
	for _, rc := range recs[len(recs)-n:] {
		if rc.version != version {
			return fmt.Errorf("an RPC of the last %d got %q %s", n, rc.version, rc.code)
		}
	}
	return nil
}

// sawSince reports whether version answered an RPC that started after t.
func (l *recordedLoad) sawSince(version string, t time.Time) error {
	for _, rc := range l.snapshot() {
		if rc.version == version && rc.start.After(t) {
			return nil
		}
	}
	return fmt.Errorf("no RPC started after %s reached %s", t.Format(time.RFC3339Nano), version)
}

// onlyOnSince reports whether every RPC started in the last tail reached
// version, and the last tail began after t.
func (l *recordedLoad) onlyOnSince(version string, t time.Time, tail time.Duration) error {
	now := time.Now()
	if now.Sub(t) < tail {
		return fmt.Errorf("only %s since %s", now.Sub(t), t.Format(time.RFC3339Nano))
	}
	from := now.Add(-tail)
	n := 0
	for _, rc := range l.snapshot() {
		if rc.start.Before(from) {
			continue
		}
		n++
		if rc.version != version {
			return fmt.Errorf("an RPC started at %s got %q %s", rc.start.Format(time.RFC3339Nano), rc.version, rc.code)
		}
	}
	if n < rollbackRPS/2 {
		return fmt.Errorf("only %d RPCs completed in the last %s", n, tail)
	}
	return nil
}
