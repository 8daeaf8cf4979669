package demo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeProm answers /api/v1/query with answers[i] on the i-th call (the
// last one from then on) and records the queries it got.
func fakeProm(t *testing.T, answers ...string) (*httptest.Server, *atomic.Int32, *atomic.Value) {
	t.Helper()
	var calls atomic.Int32
	var query atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		query.Store(r.URL.Query().Get("query"))
		i := int(calls.Add(1)) - 1
		a := answers[min(i, len(answers)-1)]
		w.Header().Set("Content-Type", "application/json")
		if a == "bad" {
			w.WriteHeader(http.StatusBadRequest)
			a = `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}`
		}
		_, _ = w.Write([]byte(a))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls, &query
}

const (
	emptyVector = `{"status":"success","data":{"resultType":"vector","result":[]}}`
	nanVector   = `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.1,"NaN"]}]}}`
	dataVector  = `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"version":"v1"},"value":[1700000000.1,"NaN"]},{"metric":{"version":"v2"},"value":[1700000000.1,"42.5"]}]}}`
	dataScalar  = `{"status":"success","data":{"resultType":"scalar","result":[1700000000.1,"7"]}}`
)

func TestWaitForDataWaitsForAFiniteSample(t *testing.T) {
	srv, calls, query := fakeProm(t, emptyVector, nanVector, `not json`, dataVector)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := WaitForData(ctx, srv.Client(), srv.URL+"/", `sum(rate(requests_total{service="greeter"}[5s]))`, time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, 42.5, v, "the first finite sample; NaN samples are skipped")
	require.Equal(t, int32(4), calls.Load(), "empty, NaN and malformed answers are retried")
	require.Equal(t, `sum(rate(requests_total{service="greeter"}[5s]))`, query.Load(), "the query arrives intact")

	srv, _, _ = fakeProm(t, dataScalar)
	v, err = WaitForData(ctx, srv.Client(), srv.URL, "vector(7)", time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, 7.0, v)
}

func TestWaitForDataGivesUp(t *testing.T) {
	srv, calls, _ := fakeProm(t, emptyVector)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := WaitForData(ctx, srv.Client(), srv.URL, "up", time.Millisecond)
	require.ErrorIs(t, err, ErrNoData)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), "last answer: no finite sample")
	require.Greater(t, calls.Load(), int32(1), "it polled")

	// Nothing listening: the error says what the connection attempts got.
	srv.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	_, err = WaitForData(ctx2, nil, srv.URL, "up", time.Millisecond)
	require.ErrorIs(t, err, ErrNoData)
	require.Contains(t, err.Error(), "connect")
}

func TestWaitForDataFailsFastOnBadInput(t *testing.T) {
	srv, calls, _ := fakeProm(t, "bad")
	_, err := WaitForData(context.Background(), srv.Client(), srv.URL, "sum(", time.Millisecond)
	require.ErrorIs(t, err, ErrBadQuery)
	require.Contains(t, err.Error(), "parse error")
	require.Equal(t, int32(1), calls.Load(), "a rejected query is not retried")

	srv, _, _ = fakeProm(t, `{"status":"success","data":{"resultType":"matrix","result":[]}}`)
	_, err = WaitForData(context.Background(), srv.Client(), srv.URL, "up[5m]", time.Millisecond)
	require.ErrorIs(t, err, ErrBadQuery)
	require.Contains(t, err.Error(), `result type "matrix"`)

	for _, u := range []string{"", "127.0.0.1:9090", "ftp://x", "http://"} {
		_, err = WaitForData(context.Background(), nil, u, "up", time.Millisecond)
		require.ErrorIs(t, err, ErrInvalidConfig, "url %q", u)
	}
}
