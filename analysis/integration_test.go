package analysis_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/analysis/promtest"
	"github.com/sluicehq/sluice/config"
)

// backend serves the conventional demo metrics for one service and moves
// them at a steady rate: requests_total{service,version,code,protocol}
// and request_duration_seconds{service,version,protocol}.
type backend struct {
	addr string
	stop chan struct{}
	done sync.WaitGroup
}

// versionLoad is one version's traffic: perTick requests every 10ms (1
// when 0), of which every failEvery-th fails (0: none).
type versionLoad struct {
	version   string
	perTick   int
	failEvery int
	latency   float64
}

func startBackend(t *testing.T, service string, loads []versionLoad) *backend {
	t.Helper()
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "requests_total", Help: "Requests."},
		[]string{"service", "version", "code", "protocol"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "request_duration_seconds", Help: "Latency.",
		Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2}},
		[]string{"service", "version", "protocol"})
	reg.MustRegister(requests, duration)
	for _, l := range loads {
		for _, code := range []string{"OK", "UNAVAILABLE"} {
			requests.WithLabelValues(service, l.version, code, "grpc")
		}
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	b := &backend{addr: strings.TrimPrefix(srv.URL, "http://"), stop: make(chan struct{})}
	b.done.Add(1)
	go func() {
		defer b.done.Done()
		tick := time.NewTicker(10 * time.Millisecond) // 100 requests/s per version
		defer tick.Stop()
		n := 0
		for {
			select {
			case <-b.stop:
				return
			case <-tick.C:
			}
			n++
			for _, l := range loads {
				for i := range max(l.perTick, 1) {
					code := "OK"
					if l.failEvery > 0 && (n*max(l.perTick, 1)+i)%l.failEvery == 0 {
						code = "UNAVAILABLE"
					}
					requests.WithLabelValues(service, l.version, code, "grpc").Inc()
					duration.WithLabelValues(service, l.version, "grpc").Observe(l.latency)
				}
			}
		}
	}()
	t.Cleanup(func() {
		close(b.stop)
		b.done.Wait()
		srv.Close()
	})
	return b
}

// integrationSpec judges with short windows so that the test needs
// seconds of data: one burn rule (10s / 3s at 14.4 against 99.9%), a 10s
// baseline needing 50 requests, and p99 latency under 300ms.
func integrationSpec() config.ReleasePolicySpec {
	return config.ReleasePolicySpec{
		Services: []string{"checkout"},
		SLO: &config.SLOSpec{
			Objective:  99.9,
			GoodQuery:  `sum(increase(requests_total{service="{{service}}",version="{{version}}",code=~"OK|2.."}[{{window}}])) or vector(0)`,
			TotalQuery: `sum(increase(requests_total{service="{{service}}",version="{{version}}"}[{{window}}]))`,
			Latency: &config.LatencySLO{
				Query:     `histogram_quantile(0.99, sum by (le) (rate(request_duration_seconds_bucket{service="{{service}}",version="{{version}}"}[{{window}}])))`,
				Threshold: config.Duration(300 * time.Millisecond),
			},
		},
		Analysis: &config.AnalysisSpec{
			BurnRules: []config.BurnRule{{Name: "fast", LongWindow: config.Duration(10 * time.Second),
				ShortWindow: config.Duration(3 * time.Second), BurnRate: 14.4}},
			Baseline:     &config.BaselineSpec{Window: config.Duration(10 * time.Second), MinRequests: 50},
			QueryTimeout: config.Duration(2 * time.Second),
		},
	}
}

// TestAgainstPrometheus runs the analysis against a real Prometheus
// scraping a fake backend every second: stable v1 (300 requests/s, 0.1%
// errors), a healthy canary v2 and a canary v3 failing 20% of its requests
// (100 requests/s each).
func TestAgainstPrometheus(t *testing.T) {
	began := time.Now()
	be := startBackend(t, "checkout", []versionLoad{
		{version: "v1", perTick: 3, failEvery: 1000, latency: 0.004},
		{version: "v2", latency: 0.006},
		{version: "v3", failEvery: 5, latency: 0.006},
	})
	prom := promtest.Start(t, be.addr)
	ctx := context.Background()
	q, err := analysis.NewPrometheus(prom.URL(), 2*time.Second)
	require.NoError(t, err)

	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, prom.WaitForSeries(waitCtx, `requests_total{service="checkout"}`))
	t.Logf("first sample %s after start", time.Since(began).Round(time.Millisecond))

	spec := integrationSpec()
	healthy := analysis.Subject{Service: "checkout", Canary: "v2", Stable: "v1"}
	bad := analysis.Subject{Service: "checkout", Canary: "v3", Stable: "v1"}
	judge := func(s analysis.Subject, sp config.ReleasePolicySpec) analysis.Verdict {
		sp = config.PolicyDefaults(&sp)
		return analysis.Judge(analysis.Measure(ctx, q, sp, s, time.Now()), sp)
	}
	// await analyses s until the verdict is want, failing at once on a
	// verdict that must never happen.
	await := func(t *testing.T, s analysis.Subject, want, never analysis.Phase) analysis.Verdict {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			v := judge(s, spec)
			if v.Phase == want {
				return v
			}
			require.NotEqual(t, never, v.Phase, "%s: %s", s.Canary, v.Reason)
			if time.Now().After(deadline) {
				t.Fatalf("%s: no %s verdict within 30s; last %s: %s", s.Canary, want, v.Phase, v.Reason)
			}
			<-tick.C
		}
	}

	t.Run("healthy canary is Successful", func(t *testing.T) {
		v := await(t, healthy, analysis.PhaseSuccessful, analysis.PhaseFailed)
		require.Len(t, v.Checks, 4)
		for _, c := range v.Checks {
			require.Equal(t, analysis.ResultPassed, c.Result, c.Reason)
		}
		t.Logf("%s", v.Reason)
	})

	t.Run("canary with 20% errors is Failed by the burn rule", func(t *testing.T) {
		v := await(t, bad, analysis.PhaseFailed, analysis.PhaseSuccessful)
		require.True(t, strings.HasPrefix(v.Reason, "burn rule fast fired: 10s burn "), v.Reason)
		fast := v.Checks[0]
		require.Equal(t, analysis.ResultFailed, fast.Result)
		for _, o := range fast.Observations[:2] {
			// 20% errors against a 0.1% budget: a burn rate near 200.
			require.InDelta(t, 200, *o.Value, 50, "burn over %s", time.Duration(o.Window))
			require.Contains(t, o.Queries[1], `version="v3"`)
		}
		t.Logf("%s", v.Reason)
	})

	t.Run("a metric that does not exist is Inconclusive", func(t *testing.T) {
		sp := integrationSpec()
		sp.SLO.GoodQuery = `sum(increase(no_such_metric_total{version="{{version}}",code="OK"}[{{window}}])) or vector(0)`
		sp.SLO.TotalQuery = `sum(increase(no_such_metric_total{version="{{version}}"}[{{window}}]))`
		v := judge(healthy, sp)
		require.Equal(t, analysis.PhaseInconclusive, v.Phase, v.Reason)
		require.Contains(t, v.Reason, "no data for canary burnRate over 10s: total: empty result (no series matched)")
	})

	t.Run("the queries of examples/policy.yaml work", func(t *testing.T) {
		src, err := os.ReadFile("../examples/policy.yaml")
		require.NoError(t, err)
		docs, err := config.Parse("policy.yaml", src)
		require.NoError(t, err)
		sp := docs[0].ReleasePolicy.Spec
		v := judge(healthy, sp)
		for _, c := range v.Checks {
			for _, o := range c.Observations {
				require.NotEqual(t, analysis.OutcomeError, o.Outcome, "%s: %s", c.Name, o.Detail)
			}
		}
		require.Equal(t, analysis.PhaseFailed, judge(bad, sp).Phase)
	})

	t.Run("Prometheus stopped is Error, and analysis resumes after a restart", func(t *testing.T) {
		prom.Stop()
		v := judge(healthy, spec)
		require.Equal(t, analysis.PhaseError, v.Phase, v.Reason)
		require.Contains(t, v.Reason, "connection refused")

		restarted := time.Now()
		require.NoError(t, prom.Restart())
		// The TSDB still holds the samples from before the stop: wait for
		// a scrape of the new process before judging again.
		waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		require.NoError(t, prom.WaitForSeries(waitCtx,
			fmt.Sprintf(`timestamp(up{job="test"}) > %d`, restarted.Unix()+1)))
		t.Logf("first sample %s after the restart", time.Since(restarted).Round(time.Millisecond))
		await(t, healthy, analysis.PhaseSuccessful, analysis.PhaseFailed)
	})
	t.Logf("wall time %s", time.Since(began).Round(time.Millisecond))
}
