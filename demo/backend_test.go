package demo

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

func startBackend(t testing.TB, version string, f Faults, seed uint64) *Backend {
	t.Helper()
	b, err := StartBackend(BackendConfig{Service: "greeter", Version: version, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Faults: f, Seed: seed})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

func grpcClient(t testing.TB, b *Backend) testgrpc.TestServiceClient {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+b.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return testgrpc.NewTestServiceClient(conn)
}

// get sends an HTTP request to the backend and returns status and body.
func httpDo(t testing.TB, b *Backend, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+b.HTTPAddr()+path, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(out)
}

// scrape reads /metrics over HTTP and parses the text exposition.
func scrape(t testing.TB, b *Backend) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := httpDo(t, b, http.MethodGet, "/metrics", "")
	require.Equal(t, http.StatusOK, code)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	return fams
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// counter returns requests_total for one protocol and code.
func counter(t testing.TB, b *Backend, protocol, code string) float64 {
	t.Helper()
	for _, m := range scrape(t, b)[MetricRequests].GetMetric() {
		l := labelsOf(m)
		if l["protocol"] == protocol && l["code"] == code {
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no %s{protocol=%q,code=%q}", MetricRequests, protocol, code)
	return 0
}

// checkShare asserts that got out of n lies within 4.5 standard
// deviations of the binomial mean n*p.
func checkShare(t testing.TB, got, n int, p float64) {
	t.Helper()
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	dev := math.Abs(float64(got)-mean) / sd
	require.LessOrEqualf(t, dev, 4.5, "got %d of %d, expected %.0f ± %.1f (%.1f σ)", got, n, mean, sd, dev)
}

func TestErrorRatioHonoured(t *testing.T) {
	b := startBackend(t, "v1", Faults{ErrorRatio: 0.2}, 42)
	tc := grpcClient(t, b)
	const n = 2000
	fails := 0
	for range n {
		resp, err := tc.UnaryCall(context.Background(), &testgrpc.SimpleRequest{})
		if err != nil {
			require.Equal(t, codes.Unavailable, status.Code(err), "unexpected error %v", err)
			fails++
			continue
		}
		require.Equal(t, "greeter/v1", resp.GetHostname())
		require.Equal(t, b.GRPCAddr(), resp.GetServerId())
	}
	checkShare(t, fails, n, 0.2)
	require.Equal(t, float64(fails), counter(t, b, ProtocolGRPC, "UNAVAILABLE"))
	require.Equal(t, float64(n-fails), counter(t, b, ProtocolGRPC, "OK"))

	fails = 0
	for range n / 2 {
		code, body := httpDo(t, b, http.MethodGet, "/", "")
		switch code {
		case http.StatusOK:
			require.Equal(t, "greeter v1\n", body)
		case http.StatusServiceUnavailable:
			fails++
		default:
			t.Fatalf("status %d: %s", code, body)
		}
	}
	checkShare(t, fails, n/2, 0.2)
	require.Equal(t, float64(fails), counter(t, b, ProtocolHTTP, "503"))
}

func TestSeedMakesDrawsReproducible(t *testing.T) {
	f := Faults{ErrorRatio: 0.5, Latency: 10 * time.Millisecond, LatencyJitter: 5 * time.Millisecond}
	seq := func(seed uint64) []time.Duration {
		b := startBackend(t, "v1", f, seed)
		var out []time.Duration
		for range 50 {
			fail, d := b.draw()
			require.GreaterOrEqual(t, d, 5*time.Millisecond)
			require.LessOrEqual(t, d, 15*time.Millisecond)
			if fail {
				d = -d
			}
			out = append(out, d)
		}
		return out
	}
	require.Equal(t, seq(7), seq(7))
	require.NotEqual(t, seq(7), seq(8))
}

func TestMetricsShape(t *testing.T) {
	b := startBackend(t, "v2", Faults{}, 1)
	fams := scrape(t, b)
	// Only the backend's own metrics: no process or Go runtime metrics
	// from a shared registry.
	require.ElementsMatch(t, []string{MetricRequests, MetricDuration, MetricMirrored}, slices.Collect(maps.Keys(fams)))
	// Every expected series exists from the start, at zero.
	var series []string
	for _, m := range fams[MetricRequests].GetMetric() {
		l := labelsOf(m)
		require.Equal(t, map[string]string{"service": "greeter", "version": "v2", "protocol": l["protocol"], "code": l["code"], "tenant": l["tenant"], "region": ""}, l)
		require.Zero(t, m.GetCounter().GetValue())
		series = append(series, l["protocol"]+"/"+l["code"])
	}
	require.ElementsMatch(t, []string{"grpc/OK", "grpc/UNAVAILABLE", "http/200", "http/503"}, series)

	_, err := grpcClient(t, b).UnaryCall(context.Background(), &testgrpc.SimpleRequest{})
	require.NoError(t, err)
	code, _ := httpDo(t, b, http.MethodGet, "/", "")
	require.Equal(t, http.StatusOK, code)

	fams = scrape(t, b)
	require.Equal(t, dto.MetricType_COUNTER, fams[MetricRequests].GetType())
	require.Equal(t, dto.MetricType_HISTOGRAM, fams[MetricDuration].GetType())
	require.Equal(t, 1.0, counter(t, b, ProtocolGRPC, "OK"))
	require.Equal(t, 1.0, counter(t, b, ProtocolHTTP, "200"))
	protos := map[string]uint64{}
	for _, m := range fams[MetricDuration].GetMetric() {
		l := labelsOf(m)
		require.Equal(t, map[string]string{"service": "greeter", "version": "v2", "protocol": l["protocol"]}, l)
		var bounds []float64
		for _, bk := range m.GetHistogram().GetBucket() {
			bounds = append(bounds, bk.GetUpperBound())
		}
		require.Equal(t, append(slices.Clone(DurationBuckets), math.Inf(1)), bounds)
		protos[l["protocol"]] = m.GetHistogram().GetSampleCount()
	}
	require.Equal(t, map[string]uint64{"grpc": 1, "http": 1}, protos)
}

func getFaults(t testing.TB, b *Backend) map[string]any {
	t.Helper()
	code, body := httpDo(t, b, http.MethodGet, "/admin/faults", "")
	require.Equal(t, http.StatusOK, code, body)
	var out map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	return out
}

func TestAdminChangesBehaviour(t *testing.T) {
	b := startBackend(t, "v1", Faults{}, 3)
	tc := grpcClient(t, b)
	require.Equal(t, map[string]any{"errorRatio": 0.0, "latency": "0s", "latencyJitter": "0s"}, getFaults(t, b))

	code, body := httpDo(t, b, http.MethodPost, "/admin/faults", `{"errorRatio":1}`)
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"errorRatio":1,"latency":"0s","latencyJitter":"0s"}`, body)
	for range 20 {
		_, err := tc.UnaryCall(context.Background(), &testgrpc.SimpleRequest{})
		require.Equal(t, codes.Unavailable, status.Code(err))
		code, body := httpDo(t, b, http.MethodGet, "/", "")
		require.Equal(t, http.StatusServiceUnavailable, code, body)
	}

	// A partial update keeps the fields it leaves out.
	code, body = httpDo(t, b, http.MethodPost, "/admin/faults", `{"latency":"30ms"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, map[string]any{"errorRatio": 1.0, "latency": "30ms", "latencyJitter": "0s"}, getFaults(t, b))

	code, body = httpDo(t, b, http.MethodPost, "/admin/faults", `{"errorRatio":0}`)
	require.Equal(t, http.StatusOK, code, body)
	const n = 5
	for range n {
		_, err := tc.UnaryCall(context.Background(), &testgrpc.SimpleRequest{})
		require.NoError(t, err)
	}
	// Every call waited at least the injected latency: none landed in a
	// bucket below 30 ms.
	for _, m := range scrape(t, b)[MetricDuration].GetMetric() {
		if labelsOf(m)["protocol"] != ProtocolGRPC {
			continue
		}
		h := m.GetHistogram()
		require.Equal(t, uint64(20+n), h.GetSampleCount())
		for _, bk := range h.GetBucket() {
			if bk.GetUpperBound() == 0.025 {
				require.Equal(t, uint64(20), bk.GetCumulativeCount(), "fast calls are the 20 before the latency")
			}
		}
	}
}

func TestAdminRejectsBadInput(t *testing.T) {
	start := Faults{ErrorRatio: 0.1, Latency: 5 * time.Millisecond}
	b := startBackend(t, "v1", start, 3)
	for name, tc := range map[string]struct {
		body string
		want []string
	}{
		"ratio above 1":    {`{"errorRatio":1.5}`, []string{"errorRatio 1.5: must be between 0 and 1"}},
		"negative ratio":   {`{"errorRatio":-0.1}`, []string{"errorRatio -0.1: must be between 0 and 1"}},
		"bad latency":      {`{"latency":"fast"}`, []string{`latency "fast": not a duration`}},
		"negative latency": {`{"latency":"-5ms"}`, []string{"latency -5ms: must not be negative"}},
		"latency too long": {`{"latency":"2m"}`, []string{"must be at most 1m0s"}},
		"bad jitter":       {`{"latencyJitter":"5"}`, []string{`latencyJitter "5": not a duration`}},
		"unknown field":    {`{"errorRate":0.2}`, []string{`unknown field "errorRate" (known fields: errorRatio, latency, latencyJitter)`}},
		"wrong type":       {`{"errorRatio":"0.2"}`, []string{"errorRatio: got a JSON string, want a number between 0 and 1"}},
		"latency number":   {`{"latency":50}`, []string{`latency: got a JSON number, want a duration string such as "50ms"`}},
		"not json":         {`errorRatio=0.2`, []string{"must be a JSON object"}},
		"trailing data":    {`{"errorRatio":0.2} {}`, []string{"unexpected data after the JSON object"}},
		"empty":            {``, []string{"must be a JSON object"}},
		// One bad field rejects the whole update, good fields included.
		"mixed": {`{"errorRatio":0.5,"latency":"x"}`, []string{`latency "x": not a duration`}},
		// Every problem is reported at once.
		"several": {`{"errorRatio":2,"latency":"x","latencyJitter":"-1s"}`, []string{`latency "x": not a duration`, "errorRatio 2: must be between 0 and 1", "latencyJitter -1s: must not be negative"}},
	} {
		t.Run(name, func(t *testing.T) {
			code, body := httpDo(t, b, http.MethodPost, "/admin/faults", tc.body)
			require.Equal(t, http.StatusBadRequest, code, body)
			var e struct{ Error string }
			require.NoError(t, json.Unmarshal([]byte(body), &e))
			require.Contains(t, e.Error, "invalid faults")
			for _, want := range tc.want {
				require.Contains(t, e.Error, want)
			}
			require.Equal(t, start, b.Faults(), "a rejected update changes nothing")
		})
	}
	code, body := httpDo(t, b, http.MethodPut, "/admin/faults", `{}`)
	require.Equal(t, http.StatusMethodNotAllowed, code, body)
	require.Contains(t, body, "use GET to read the faults or POST to change them")

	require.ErrorIs(t, b.SetFaults(Faults{ErrorRatio: math.NaN()}), ErrInvalidFaults)
	require.Equal(t, start, b.Faults())
	_, err := StartBackend(BackendConfig{Service: "greeter", Version: "v1", Faults: Faults{ErrorRatio: 2}})
	require.ErrorIs(t, err, ErrInvalidFaults)
	_, err = StartBackend(BackendConfig{Service: "greeter"})
	require.ErrorIs(t, err, ErrInvalidConfig)
}
