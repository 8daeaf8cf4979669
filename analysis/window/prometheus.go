package window

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/sluicehq/sluice/config"
)

// RangeQuerier runs a PromQL range query; v1.API satisfies it.
type RangeQuerier interface {
	QueryRange(ctx context.Context, query string, r v1.Range, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
}

// NewPrometheusAPI returns a RangeQuerier for the Prometheus HTTP API at
// rawURL (e.g. "http://prometheus:9090").
func NewPrometheusAPI(rawURL string) (RangeQuerier, error) {
	c, err := api.NewClient(api.Config{Address: rawURL})
	if err != nil {
		return nil, fmt.Errorf("%w: Prometheus client for %q: %w", ErrTraffic, rawURL, err)
	}
	return v1.NewAPI(c), nil
}

// PrometheusSource reads hourly traffic with a range query.
type PrometheusSource struct {
	q     RangeQuerier
	query string
}

// NewPrometheusSource returns a TrafficSource that runs queryTemplate
// (spec.schedule.trafficQuery, with {{service}} replaced by service) as a
// range query with a one-hour step. The value at the end of each hour is
// that hour's traffic, so the query should average over [1h], as the
// default does: sum(rate(requests_total{service="..."}[1h])). Several
// series are added up.
func NewPrometheusSource(q RangeQuerier, queryTemplate, service string) *PrometheusSource {
	return &PrometheusSource{q: q, query: strings.ReplaceAll(queryTemplate, config.PlaceholderService, service)}
}

// Query is the PromQL the source runs.
func (p *PrometheusSource) Query() string { return p.query }

// HourlyTraffic returns one sample per whole UTC hour in [from, to). An
// hour the query has no value for (a gap, the metric absent, NaN) is
// Missing with flag "absent", never zero.
func (p *PrometheusSource) HourlyTraffic(ctx context.Context, from, to time.Time) ([]Sample, error) {
	first := from.Truncate(time.Hour)
	if first.Before(from) {
		first = first.Add(time.Hour)
	}
	last := to.Add(-time.Hour).Truncate(time.Hour) // the last hour that ends by to
	if last.Before(first) {
		return nil, nil
	}
	r := v1.Range{Start: first.Add(time.Hour), End: last.Add(time.Hour), Step: time.Hour}
	val, _, _, err := p.q.QueryRange(ctx, p.query, r)
	if err != nil {
		return nil, fmt.Errorf("%w: query_range %q: %w", ErrTraffic, p.query, err)
	}
	sums := map[int64]float64{}
	switch m := val.(type) {
	case model.Matrix:
		for _, series := range m {
			for _, pt := range series.Values {
				v := float64(pt.Value)
				if math.IsNaN(v) || math.IsInf(v, 0) {
					continue
				}
				sums[pt.Timestamp.Time().Unix()] += v
			}
		}
	default:
		return nil, fmt.Errorf("%w: query_range %q returned a %s, want a matrix", ErrTraffic, p.query, val.Type())
	}
	var out []Sample
	for h := first; !h.After(last); h = h.Add(time.Hour) {
		v, ok := sums[h.Add(time.Hour).Unix()]
		if !ok {
			out = append(out, Sample{Start: h, Missing: true, Flag: "absent"})
			continue
		}
		out = append(out, Sample{Start: h, Value: v})
	}
	return out, nil
}
