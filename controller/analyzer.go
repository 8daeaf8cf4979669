package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// ErrNoPrometheus is returned when neither the policy nor the server says
// where Prometheus is.
var ErrNoPrometheus = errors.New("no Prometheus configured: set prometheus.url in the ReleasePolicy or start the server with --prometheus-url")

// Prometheus hands out Prometheus clients by policy: the policy's URL, or
// the server's default. Clients are kept per URL and query timeout, so
// every user (analysis, exposure estimates, window profiles, health
// queries) shares one connection pool per Prometheus.
type Prometheus struct {
	// DefaultURL is used when a policy names no Prometheus.
	DefaultURL string

	mu       sync.Mutex
	queriers map[string]analysis.Querier
}

// URL is where a policy's queries go ("" when nowhere).
func (p *Prometheus) URL(spec *config.ReleasePolicySpec) string {
	if spec.Prometheus != nil && spec.Prometheus.URL != "" {
		return spec.Prometheus.URL
	}
	return p.DefaultURL
}

// For returns the client for a policy's Prometheus and query timeout.
func (p *Prometheus) For(spec *config.ReleasePolicySpec) (analysis.Querier, error) {
	url := p.URL(spec)
	if url == "" {
		return nil, ErrNoPrometheus
	}
	var timeout time.Duration
	if spec.Analysis != nil {
		timeout = spec.Analysis.QueryTimeout.D()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := url + "|" + timeout.String()
	if q, ok := p.queriers[key]; ok {
		return q, nil
	}
	q, err := analysis.NewPrometheus(url, timeout)
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", url, err)
	}
	if p.queriers == nil {
		p.queriers = map[string]analysis.Querier{}
	}
	p.queriers[key] = q
	return q, nil
}

// Analyzer judges a release's new version at a point in time.
type Analyzer interface {
	Analyze(ctx context.Context, r *state.Release, now time.Time) analysis.Verdict
}

// SLOAnalyzer implements Analyzer: it measures a release with Prometheus
// and judges it against its policy's SLO (analysis.Measure, Judge).
type SLOAnalyzer struct {
	Prom *Prometheus
}

// Analyze implements Analyzer. A missing or bad Prometheus URL is an
// Error verdict: the release holds, it never advances on it.
func (a *SLOAnalyzer) Analyze(ctx context.Context, r *state.Release, now time.Time) analysis.Verdict {
	spec := r.Status.PolicySpec
	// Since: canary and stable are compared over everything since the
	// step's routes were acknowledged, the sequential test's start.
	subject := analysis.Subject{Service: r.Service(), Canary: r.Spec.Spec.To, Stable: r.Status.From, Since: r.Status.AckedAt}
	q, err := a.Prom.For(&spec)
	if err != nil {
		return analysis.Verdict{Phase: analysis.PhaseError, Reason: fmt.Sprintf("policy %s: %v", r.Status.Policy, err), Subject: subject, Time: now}
	}
	return analysis.Judge(analysis.Measure(ctx, q, spec, subject, now), spec)
}
