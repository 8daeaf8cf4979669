package window

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

func TestReadCSV(t *testing.T) {
	text := `hour_start_local,requests,seconds_covered,flag
2026-06-01T00:00:00-04:00,100,3600,
2026-06-01T01:00:00-04:00,,0,no_data
2026-06-01T02:00:00-04:00,0,3600,outage_x
2026-06-01T03:00:00-04:00,,0,
2026-06-01T05:00:00-04:00,40,1800,partial_hour
2026-06-01T06:00:00-04:00,60.5,3600,
`
	src, err := ReadCSV(strings.NewReader(text))
	require.NoError(t, err)
	all := src.Samples()
	require.Len(t, all, 6)
	require.Equal(t, Sample{Start: all[0].Start, Value: 100}, all[0])
	require.Equal(t, "no_data", all[1].Flag)
	require.True(t, all[1].Missing)
	require.True(t, all[2].Missing, "a flagged zero is an outage, not zero traffic")
	require.Equal(t, "outage_x", all[2].Flag)
	require.Equal(t, "no_data", all[3].Flag, "an empty value without a flag")
	require.True(t, all[4].Missing)

	// The hours inside [from, to) only, complete ones only, and the gap at
	// 04:00 as an absent sample.
	from, err := time.Parse(time.RFC3339, "2026-06-01T02:30:00-04:00")
	require.NoError(t, err)
	got, err := src.HourlyTraffic(context.Background(), from, from.Add(4*time.Hour))
	require.NoError(t, err)
	var hours []string
	for _, s := range got {
		hours = append(hours, fmt.Sprintf("%02d:%s", s.Start.Hour(), s.Flag))
	}
	require.Equal(t, []string{"03:no_data", "04:absent", "05:partial_hour"}, hours)

	// Simple column names work too.
	src, err = ReadCSV(strings.NewReader("time,value\n2026-06-01T00:00:00Z,5\n"))
	require.NoError(t, err)
	require.Equal(t, 5.0, src.Samples()[0].Value)
}

func TestReadCSVErrors(t *testing.T) {
	for text, want := range map[string]string{
		"":                                      "header",
		"when,count\n":                          "needs a time column",
		"time,value\nyesterday,5\n":             `line 2: time "yesterday" is not RFC 3339`,
		"time,value\n2026-06-01T00:00:00Z,x\n":  `line 2: value "x" is not a non-negative number`,
		"time,value\n2026-06-01T00:00:00Z,-3\n": `line 2: value "-3" is not a non-negative number`,
		"time,value\n2026-06-01T01:00:00Z,1\n2026-06-01T00:00:00Z,1\n": "line 3: 2026-06-01T00:00:00Z is not after the previous row",
		"time,value\n2026-06-01T00:00:00Z\n":                           "line 2: 1 fields",
	} {
		_, err := ReadCSV(strings.NewReader(text))
		require.ErrorIs(t, err, ErrCSV, text)
		require.Contains(t, err.Error(), want, text)
	}
}

// fakeRange answers QueryRange with a canned value and records the call.
type fakeRange struct {
	val   model.Value
	err   error
	query string
	r     v1.Range
}

func (f *fakeRange) QueryRange(_ context.Context, q string, r v1.Range, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	f.query, f.r = q, r
	return f.val, nil, nil, f.err
}

func TestPrometheusSourceTreatsGapsAsMissing(t *testing.T) {
	from := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	pt := func(h int, v float64) model.SamplePair {
		return model.SamplePair{Timestamp: model.TimeFromUnixNano(from.Add(time.Duration(h) * time.Hour).UnixNano()), Value: model.SampleValue(v)}
	}
	// Two series (added up); the value at 03:00 (the hour 02:00-03:00)
	// is absent in both; the one at 04:00 is NaN.
	f := &fakeRange{val: model.Matrix{
		{Metric: model.Metric{"pod": "a"}, Values: []model.SamplePair{pt(1, 10), pt(2, 10), pt(4, 5), pt(5, 10)}},
		{Metric: model.Metric{"pod": "b"}, Values: []model.SamplePair{pt(1, 1), pt(2, 2), pt(4, math.NaN()), pt(5, 1)}},
	}}
	src := NewPrometheusSource(f, config.DefaultTrafficQuery, "web")
	require.Equal(t, `sum(rate(requests_total{service="web"}[1h]))`, src.Query())
	got, err := src.HourlyTraffic(context.Background(), from.Add(-10*time.Minute), from.Add(5*time.Hour+20*time.Minute))
	require.NoError(t, err)
	require.Equal(t, src.Query(), f.query)
	require.Equal(t, v1.Range{Start: from.Add(time.Hour), End: from.Add(5 * time.Hour), Step: time.Hour}, f.r)
	require.Equal(t, []Sample{
		{Start: from, Value: 11},
		{Start: from.Add(time.Hour), Value: 12},
		{Start: from.Add(2 * time.Hour), Missing: true, Flag: "absent"},
		{Start: from.Add(3 * time.Hour), Value: 5},
		{Start: from.Add(4 * time.Hour), Value: 11},
	}, got)

	// An empty answer is all gaps; a profile of it is empty, not zero.
	f.val = model.Matrix{}
	p, err := LoadProfile(context.Background(), src, from.Add(7*24*time.Hour), 7*24*time.Hour, time.UTC)
	require.NoError(t, err)
	require.True(t, p.Empty())
	require.Equal(t, HoursPerWeek, p.Excluded["absent"])
	require.Contains(t, p.Note, "no traffic data")

	f.val = model.Vector{}
	_, err = src.HourlyTraffic(context.Background(), from, from.Add(3*time.Hour))
	require.ErrorIs(t, err, ErrTraffic)
	require.Contains(t, err.Error(), "want a matrix")

	f.err = errors.New("bad_data: parse error")
	_, err = src.HourlyTraffic(context.Background(), from, from.Add(3*time.Hour))
	require.ErrorIs(t, err, ErrTraffic)

	got, err = src.HourlyTraffic(context.Background(), from, from.Add(30*time.Minute))
	require.NoError(t, err)
	require.Empty(t, got, "no whole hour in the range")
}

// TestPrometheusSourceOverHTTP runs the real client against a server that
// speaks the query_range API.
func TestPrometheusSourceOverHTTP(t *testing.T) {
	from := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		seen = append(seen, r.URL.Path+" "+r.Form.Get("query")+" step="+r.Form.Get("step"))
		mu.Unlock()
		start, _ := strconv.ParseFloat(r.Form.Get("start"), 64)
		end, _ := strconv.ParseFloat(r.Form.Get("end"), 64)
		var values [][2]any
		for ts := start; ts <= end; ts += 3600 {
			if int(ts-start)/3600 == 1 {
				continue // a gap
			}
			values = append(values, [2]any{ts, "42"})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"status": "success",
			"data": map[string]any{"resultType": "matrix", "result": []any{
				map[string]any{"metric": map[string]string{}, "values": values},
			}},
		})
	}))
	defer srv.Close()

	api, err := NewPrometheusAPI(srv.URL)
	require.NoError(t, err)
	src := NewPrometheusSource(api, `sum(rate(http_requests_total{job="{{service}}"}[1h]))`, "checkout")
	got, err := src.HourlyTraffic(context.Background(), from, from.Add(3*time.Hour))
	require.NoError(t, err)
	require.Equal(t, []Sample{
		{Start: from, Value: 42},
		{Start: from.Add(time.Hour), Missing: true, Flag: "absent"},
		{Start: from.Add(2 * time.Hour), Value: 42},
	}, got)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{`/api/v1/query_range sum(rate(http_requests_total{job="checkout"}[1h])) step=3600`}, seen)
}
