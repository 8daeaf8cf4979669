package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/state"
)

// PromAnalyzer measures releases with Prometheus and judges them.
type PromAnalyzer struct {
	// DefaultURL is used when a policy names no Prometheus.
	DefaultURL string

	mu       sync.Mutex
	queriers map[string]analysis.Querier
}

func (a *PromAnalyzer) querier(url string, timeout time.Duration) (analysis.Querier, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := url + "|" + timeout.String()
	if q, ok := a.queriers[key]; ok {
		return q, nil
	}
	q, err := analysis.NewPrometheus(url, timeout)
	if err != nil {
		return nil, err
	}
	if a.queriers == nil {
		a.queriers = map[string]analysis.Querier{}
	}
	a.queriers[key] = q
	return q, nil
}

// Analyze implements Analyzer. A missing or bad Prometheus URL is an
// Error verdict: the release holds, it never advances on it.
func (a *PromAnalyzer) Analyze(ctx context.Context, r *state.Release, now time.Time) analysis.Verdict {
	spec := r.Status.PolicySpec
	// Since: canary and stable are compared over everything since the
	// step's routes were acknowledged, the sequential test's start.
	subject := analysis.Subject{Service: r.Service(), Canary: r.Spec.Spec.To, Stable: r.Status.From, Since: r.Status.AckedAt}
	url := a.DefaultURL
	if spec.Prometheus != nil && spec.Prometheus.URL != "" {
		url = spec.Prometheus.URL
	}
	fail := func(reason string) analysis.Verdict {
		return analysis.Verdict{Phase: analysis.PhaseError, Reason: reason, Subject: subject, Time: now}
	}
	if url == "" {
		return fail("no Prometheus configured: set prometheus.url in ReleasePolicy " + r.Status.Policy + " or start the server with --prometheus-url")
	}
	q, err := a.querier(url, spec.Analysis.QueryTimeout.D())
	if err != nil {
		return fail(fmt.Sprintf("prometheus %s: %v", url, err))
	}
	m := analysis.Measure(ctx, q, spec, subject, now)
	return analysis.Judge(m, spec)
}
