package demo

import (
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// quantile is Prometheus' histogram_quantile: find the bucket the rank
// falls in and interpolate linearly inside it.
func quantile(q float64, buckets []*dto.Bucket) float64 {
	total := float64(buckets[len(buckets)-1].GetCumulativeCount())
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range buckets {
		c := float64(b.GetCumulativeCount())
		if c >= rank {
			if math.IsInf(b.GetUpperBound(), 1) {
				return lower
			}
			return lower + (b.GetUpperBound()-lower)*(rank-below)/(c-below)
		}
		lower, below = b.GetUpperBound(), c
	}
	return math.NaN()
}

func p99Of(t *testing.T, bounds []float64, observe func(prometheus.Histogram)) float64 {
	t.Helper()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x", Buckets: bounds})
	observe(h)
	var m dto.Metric
	require.NoError(t, h.Write(&m))
	return quantile(0.99, m.GetHistogram().GetBucket())
}

func TestBucketsReadA300msRegressionAsAbout300ms(t *testing.T) {
	slow := func(h prometheus.Histogram) {
		for i := range 1000 {
			h.Observe(0.300 + 0.006*float64(i)/1000) // 300 ms of injected delay plus the call
		}
	}
	require.InDelta(t, 0.4975, p99Of(t, []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2}, slow), 1e-9,
		"the old buckets read it as 497.5 ms")
	p99 := p99Of(t, DurationBuckets, slow)
	require.GreaterOrEqual(t, p99, 0.300)
	require.LessOrEqual(t, p99, 0.325)
}
