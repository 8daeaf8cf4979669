// Package analysis judges a release's new version (the canary) against its
// SLO, with numbers from Prometheus.
//
// It works in three steps, each usable on its own:
//
//   - Measure asks Prometheus every question a policy needs, through the
//     narrow Querier interface, at an evaluation time given by the caller;
//   - Judge turns the answers into a Verdict: Successful, Failed,
//     Inconclusive or Error, with a one-line reason and every number it
//     used. It is pure and deterministic;
//   - Decide turns a verdict and the counts of earlier verdicts into an
//     Action: advance, hold or roll back. It is pure too.
//
// docs/analysis.md explains the rules and the defaults.
package analysis

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/sluicehq/sluice/config"
)

// ErrQuery is matched by every failure to get an answer from Prometheus:
// unreachable, timed out, or a query it rejected.
var ErrQuery = errors.New("prometheus query failed")

// ErrNotANumber is matched when a query answered with something other than
// one number: several series, a range vector or a string.
var ErrNotANumber = errors.New("query result is not a single number")

// ErrBadURL is returned by NewPrometheus for an address that is not an
// http(s) URL.
var ErrBadURL = errors.New("invalid Prometheus URL")

// Querier runs an instant PromQL query at time t.
type Querier interface {
	Query(ctx context.Context, query string, t time.Time) (model.Value, error)
}

// NewPrometheus returns a Querier for the Prometheus HTTP API at rawURL
// (e.g. "http://prometheus:9090"). timeout, when positive, bounds every
// query, both here and on the Prometheus side.
func NewPrometheus(rawURL string, timeout time.Duration) (Querier, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w %q: want http:// or https:// followed by host[:port]", ErrBadURL, rawURL)
	}
	c, err := api.NewClient(api.Config{Address: rawURL})
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrBadURL, rawURL, err)
	}
	return &promQuerier{api: v1.NewAPI(c), timeout: timeout}, nil
}

type promQuerier struct {
	api     v1.API
	timeout time.Duration
}

// Query runs query at t. Warnings and infos from Prometheus are dropped:
// the value is what is judged.
func (p *promQuerier) Query(ctx context.Context, query string, t time.Time) (model.Value, error) {
	var opts []v1.Option
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
		opts = append(opts, v1.WithTimeout(p.timeout))
	}
	v, _, _, err := p.api.Query(ctx, query, t, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrQuery, err)
	}
	return v, nil
}

// Expand substitutes {{service}}, {{version}} and {{window}} in a query
// template. The window is rendered as a Prometheus duration: "1m", "30s",
// "1m30s", "500ms". Names are inserted as they are: service and version
// names are validated to hold only lowercase letters, digits, '-' and '.'.
func Expand(tmpl, service, version string, window time.Duration) string {
	return strings.NewReplacer(
		config.PlaceholderService, service,
		config.PlaceholderVersion, version,
		config.PlaceholderWindow, PromDuration(window),
	).Replace(tmpl)
}

// PromDuration renders d as a Prometheus duration ("1m30s", "500ms"),
// truncated to milliseconds.
func PromDuration(d time.Duration) string {
	return model.Duration(d).String()
}
