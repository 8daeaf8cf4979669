package analysis

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

func TestExpand(t *testing.T) {
	tmpl := `sum(increase(requests_total{service="{{service}}",version="{{version}}"}[{{window}}])) / {{window}} {{other}}`
	tests := []struct {
		window time.Duration
		want   string
	}{
		{time.Minute, "1m"},
		{30 * time.Second, "30s"},
		{90 * time.Second, "1m30s"},
		{500 * time.Millisecond, "500ms"},
		{time.Hour, "1h"},
		{36 * time.Hour, "1d12h"},
		{0, "0s"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			require.Equal(t,
				`sum(increase(requests_total{service="web",version="v2.1"}[`+tc.want+`])) / `+tc.want+` {{other}}`,
				Expand(tmpl, "web", "v2.1", tc.window))
		})
	}
}

func TestMeasureQueries(t *testing.T) {
	f := healthy()
	m := measureD(context.Background(), f, testSpec(), subject, evalAt)
	require.Equal(t, subject, m.Subject)
	require.Equal(t, evalAt, m.Time)

	type row struct {
		role     Role
		version  string
		quantity Quantity
		window   string
		query    string
		value    float64
	}
	var got []row
	for _, it := range m.Items {
		require.Equal(t, OutcomeValue, it.Outcome, it.Query)
		got = append(got, row{it.Role, it.Version, it.Quantity, time.Duration(it.Window).String(), it.Query, *it.Value})
	}
	// Windows: 10s (fast short), 30s (slow short), 1m (fast long and the
	// baseline), 5m (slow long); latency over the first rule's windows;
	// the stable version over the baseline window only. totalQuery doubles
	// as requestsQuery, so there is no separate requests measurement.
	require.Equal(t, []row{
		{RoleCanary, "v2", QuantityGood, "10s", `good{service="checkout",version="v2",window="10s"} or vector(0)`, 100},
		{RoleCanary, "v2", QuantityTotal, "10s", `total{service="checkout",version="v2",window="10s"}`, 100},
		{RoleCanary, "v2", QuantityLatency, "10s", `latency{service="checkout",version="v2",window="10s"}`, 0.048},
		{RoleCanary, "v2", QuantityGood, "30s", `good{service="checkout",version="v2",window="30s"} or vector(0)`, 300},
		{RoleCanary, "v2", QuantityTotal, "30s", `total{service="checkout",version="v2",window="30s"}`, 300},
		{RoleCanary, "v2", QuantityGood, "1m0s", `good{service="checkout",version="v2",window="1m"} or vector(0)`, 600},
		{RoleCanary, "v2", QuantityTotal, "1m0s", `total{service="checkout",version="v2",window="1m"}`, 600},
		{RoleCanary, "v2", QuantityLatency, "1m0s", `latency{service="checkout",version="v2",window="1m"}`, 0.05},
		{RoleCanary, "v2", QuantityGood, "5m0s", `good{service="checkout",version="v2",window="5m"} or vector(0)`, 3000},
		{RoleCanary, "v2", QuantityTotal, "5m0s", `total{service="checkout",version="v2",window="5m"}`, 3000},
		{RoleStable, "v1", QuantityGood, "1m0s", `good{service="checkout",version="v1",window="1m"} or vector(0)`, 5994},
		{RoleStable, "v1", QuantityTotal, "1m0s", `total{service="checkout",version="v1",window="1m"}`, 6000},
	}, got)

	// Every query ran once, at the evaluation time.
	require.Len(t, f.calls, len(got))
	for query, n := range f.calls {
		require.Equal(t, 1, n, query)
	}
	for _, at := range f.times {
		require.Equal(t, evalAt, at)
	}
	require.LessOrEqual(t, int(f.maxSeen.Load()), MaxConcurrentQueries)
}

func TestMeasureErrorRatioStyle(t *testing.T) {
	f := healthyRatio()
	m := measureD(context.Background(), f, ratioSpec(), subject, evalAt)
	var quantities []string
	for _, it := range m.Items {
		if it.Window == dur("1m") {
			quantities = append(quantities, fmt.Sprintf("%s %s", it.Role, it.Quantity))
		}
	}
	require.Equal(t, []string{"canary errorRatio", "canary requests", "canary latency", "stable errorRatio", "stable requests"}, quantities)
}

func TestMeasureWithoutStable(t *testing.T) {
	noStable := func(m Measurements) bool {
		for _, it := range m.Items {
			if it.Role == RoleStable {
				return false
			}
		}
		return true
	}
	spec := testSpec()
	require.True(t, noStable(measureD(context.Background(), healthy(), spec, Subject{Service: "checkout", Canary: "v2"}, evalAt)))
	spec.Analysis = &config.AnalysisSpec{Baseline: &config.BaselineSpec{Disabled: true}}
	require.True(t, noStable(measureD(context.Background(), healthy(), spec, subject, evalAt)))
	spec.SLO = nil
	require.Empty(t, measureD(context.Background(), healthy(), spec, subject, evalAt).Items)
}

func TestMeasureOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		answer  answer
		outcome Outcome
		value   *float64
		detail  string
	}{
		{name: "one sample", answer: num(0.25), outcome: OutcomeValue, value: ptr(0.25)},
		{name: "scalar", answer: answer{v: &model.Scalar{Value: 7}}, outcome: OutcomeValue, value: ptr(7)},
		{name: "zero is a value", answer: num(0), outcome: OutcomeValue, value: ptr(0)},
		{name: "empty vector", answer: empty(), outcome: OutcomeNoData, detail: "empty result (no series matched)"},
		{name: "NaN", answer: num(nan()), outcome: OutcomeNoData, detail: "NaN (for example 0/0: no requests in the window)"},
		{name: "+Inf", answer: num(inf(1)), outcome: OutcomeNoData, detail: "+Inf (division by zero)"},
		{name: "-Inf", answer: num(inf(-1)), outcome: OutcomeNoData, detail: "-Inf (division by zero)"},
		{name: "scalar NaN", answer: answer{v: &model.Scalar{Value: model.SampleValue(nan())}}, outcome: OutcomeNoData,
			detail: "NaN (for example 0/0: no requests in the window)"},
		{name: "two series", answer: answer{v: model.Vector{{Value: 1}, {Value: 2}}}, outcome: OutcomeError,
			detail: "query result is not a single number: 2 series; aggregate them into one, e.g. with sum(...)"},
		{name: "range vector", answer: answer{v: model.Matrix{}}, outcome: OutcomeError,
			detail: "query result is not a single number: a range vector; the query must return an instant vector or a scalar"},
		{name: "string", answer: answer{v: &model.String{Value: "x"}}, outcome: OutcomeError,
			detail: "query result is not a single number: a string"},
		{name: "nil result", answer: answer{}, outcome: OutcomeError, detail: "query result is not a single number: the answer holds no result"},
		{name: "error", answer: fail("connection refused"), outcome: OutcomeError, detail: "prometheus query failed: connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := healthy()
			f.set(q(tTotal, "v2", "30s"), tc.answer)
			m := measureD(context.Background(), f, testSpec(), subject, evalAt)
			var it Measurement
			for _, x := range m.Items {
				if x.Quantity == QuantityTotal && x.Window == dur("30s") {
					it = x
				}
			}
			require.Equal(t, tc.outcome, it.Outcome)
			require.Equal(t, tc.value, it.Value)
			require.Equal(t, tc.detail, it.Detail)
			require.Equal(t, q(tTotal, "v2", "30s"), it.Query)
		})
	}
}

func TestMeasureQueryTimeout(t *testing.T) {
	f := healthy()
	f.set(q(tLatency, "v2", "10s"), answer{block: true})
	spec := testSpec()
	spec.Analysis = &config.AnalysisSpec{QueryTimeout: dur("100ms")}
	v := judgeD(measureD(context.Background(), f, spec, subject, evalAt), spec)
	require.Equal(t, PhaseError, v.Phase)
	require.Equal(t, "latency: query failed for canary latency over 10s: prometheus query failed: context deadline exceeded", v.Reason)
}

func TestMeasureCancelled(t *testing.T) {
	f := healthy()
	for k := range f.answers {
		f.answers[k] = answer{block: true}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := measureD(ctx, f, testSpec(), subject, evalAt)
	require.NotEmpty(t, m.Items)
	for _, it := range m.Items {
		require.Equal(t, OutcomeError, it.Outcome)
		require.Contains(t, it.Detail, "context canceled")
	}
}

func TestNewPrometheus(t *testing.T) {
	for _, bad := range []string{"", "prometheus:9090", "ftp://p", "http://"} {
		_, err := NewPrometheus(bad, time.Second)
		require.ErrorIs(t, err, ErrBadURL, bad)
	}

	var gotQuery, gotTime, gotTimeout string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		gotQuery, gotTime, gotTimeout = r.Form.Get("query"), r.Form.Get("time"), r.Form.Get("timeout")
		w.Header().Set("Content-Type", "application/json")
		if gotQuery == "bad(" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"parse error: unclosed left parenthesis"}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1741064767,"0.25"]}]}}`))
	}))
	defer srv.Close()

	p, err := NewPrometheus(srv.URL, 2*time.Second)
	require.NoError(t, err)
	v, err := p.Query(context.Background(), `sum(x)`, evalAt)
	require.NoError(t, err)
	require.Equal(t, `sum(x)`, gotQuery)
	require.Equal(t, "1741064767", gotTime)
	require.Equal(t, "2s", gotTimeout)
	f, noData, err := singleValue(v)
	require.NoError(t, err)
	require.Empty(t, noData)
	require.Equal(t, 0.25, f)

	_, err = p.Query(context.Background(), "bad(", evalAt)
	require.ErrorIs(t, err, ErrQuery)
	require.Contains(t, err.Error(), "unclosed left parenthesis")

	// Nothing listens at the address of a closed server.
	closed := httptest.NewServer(http.NotFoundHandler())
	addr := closed.URL
	closed.Close()
	p, err = NewPrometheus(addr, time.Second)
	require.NoError(t, err)
	_, err = p.Query(context.Background(), "up", evalAt)
	require.ErrorIs(t, err, ErrQuery)
	var uerr *url.Error
	require.True(t, errors.As(err, &uerr), "%v", err)
}
