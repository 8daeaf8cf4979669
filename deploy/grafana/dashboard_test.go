// Package grafana holds Sluice's Grafana dashboard and provisioning files;
// its test checks the dashboard against Prometheus' own PromQL parser and
// against the metrics a running node exports.
package grafana

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/xds"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/demo"
	"github.com/sluicehq/sluice/server/servertest"
)

const dashboardFile = "dashboards/sluice.json"

// query is one PromQL expression of the dashboard and where it is.
type query struct {
	where, expr string
}

// queries walks the dashboard JSON and returns every "expr" (panel
// targets) and every label_values(...) metric of the template variables.
func queries(t *testing.T) []query {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var doc any
	require.NoError(t, json.Unmarshal(b, &doc))
	var out []query
	labelValues := regexp.MustCompile(`^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			title, _ := x["title"].(string)
			if title != "" {
				path += "/" + title
			}
			for k, c := range x {
				if s, ok := c.(string); ok && k == "expr" {
					out = append(out, query{where: path, expr: s})
				}
				if s, ok := c.(string); ok && k == "definition" {
					m := labelValues.FindStringSubmatch(s)
					require.NotNil(t, m, "%s: template variable %q is not label_values(metric, label)", path, s)
					out = append(out, query{where: path + " (variable)", expr: m[1]})
				}
				walk(path, c)
			}
		case []any:
			for i, c := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), c)
			}
		}
	}
	walk("", doc)
	return out
}

// grafanaVars stands in for Grafana's variables so the expression parses
// as it will once Grafana has interpolated it.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "$__interval", "15s", "$__range", "1h", "$instance", ".*", "$service", ".*")

// metricNames parses expr with Prometheus' parser and returns the metric
// names it selects.
func metricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(grafanaVars.Replace(expr))
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					name = m.Value
				}
			}
			names = append(names, name)
		}
		return nil
	})
	return names, nil
}

func TestDashboardQueriesParse(t *testing.T) {
	qs := queries(t)
	require.Greater(t, len(qs), 20, "the dashboard has its panels")
	for _, q := range qs {
		names, err := metricNames(q.expr)
		require.NoError(t, err, "%s: %s", q.where, q.expr)
		require.NotEmpty(t, names, "%s: %s selects no metric", q.where, q.expr)
		for _, n := range names {
			require.True(t, strings.HasPrefix(n, "sluice_"), "%s: %s is not a Sluice metric", q.where, n)
		}
	}
	_, err := metricNames(`sum(rate(sluice_xds_pushes_total[1m])`)
	require.Error(t, err, "the parser rejects a broken expression")
}

// TestDashboardMetricsAreExported starts a real node, gives it a service,
// a release, a gRPC xDS client and a proxy that NACKs, and checks that
// every metric the dashboard names appears on its /metrics.
func TestDashboardMetricsAreExported(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server node")
	}
	want := map[string][]string{}
	for _, q := range queries(t) {
		names, err := metricNames(q.expr)
		require.NoError(t, err)
		for _, n := range names {
			want[n] = append(want[n], q.where)
		}
	}
	n := servertest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := api.NewClient(n.APIAddr())
	_, err := c.Apply(ctx, "web.yaml", []byte(webYAML))
	require.NoError(t, err)
	_, err = c.StartRelease(ctx, config.Release{Metadata: config.Metadata{Name: "web-v2"}, Spec: config.ReleaseSpec{Service: "web", To: "v2"}})
	require.NoError(t, err)
	grpcClient(t, n.XDSAddr())
	nack(t, ctx, n.XDSAddr())

	var missing []string
	deadline := time.Now().Add(45 * time.Second)
	for {
		have := exported(t, n.APIAddr())
		missing = missing[:0]
		for name, where := range want {
			if !have[name] {
				missing = append(missing, fmt.Sprintf("%s (used by %s)", name, strings.Join(where, ", ")))
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	sort.Strings(missing)
	require.Empty(t, missing, "metrics the dashboard names but the node does not export")
}

// exported returns the sample names on a node's /metrics (a histogram's
// _bucket, _sum and _count included).
func exported(t *testing.T, apiAddr string) map[string]bool {
	t.Helper()
	resp, err := http.Get("http://" + apiAddr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	have := map[string]bool{}
	for name, f := range fams {
		if len(f.GetMetric()) == 0 {
			continue
		}
		have[name] = true
		if f.GetType().String() == "HISTOGRAM" {
			have[name+"_bucket"], have[name+"_sum"], have[name+"_count"] = true, true, true
		}
	}
	return have
}

const webYAML = `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: web}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: "127.0.0.1:1", region: r1}]}
    - {name: v2, endpoints: [{address: "127.0.0.1:2", region: r1}]}
---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: web}
spec:
  services: [web]
  slo:
    objective: 99
    errorRatioQuery: 'sum(rate(errors_total{version="{{version}}"}[{{window}}]))'
    requestsQuery: 'sum(increase(requests_total{version="{{version}}"}[{{window}}]))'
`

// grpcClient connects grpc-go's own xDS client, which subscribes to and
// ACKs listeners, routes, clusters and endpoints.
func grpcClient(t *testing.T, xdsAddr string) {
	t.Helper()
	boot, err := demo.Bootstrap(demo.Node{ID: "grafana-client", Cluster: "web", Region: "r1"}, xdsAddr)
	require.NoError(t, err)
	res, err := xds.NewXDSResolverWithConfigForTesting(boot)
	require.NoError(t, err)
	conn, err := grpc.NewClient("xds:///web", grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(res))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	conn.Connect()
}

// nack opens an ADS stream as a proxy of another group that rejects the
// listener it is sent.
func nack(t *testing.T, ctx context.Context, xdsAddr string) {
	t.Helper()
	conn, err := grpc.NewClient(xdsAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	sctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(sctx)
	require.NoError(t, err)
	const listenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	node := &corev3.Node{Id: "nacker", Cluster: "nackers", Locality: &corev3.Locality{Region: "r1"}}
	require.NoError(t, stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: listenerType, ResourceNames: []string{"web"}}))
	resp, err := stream.Recv()
	require.NoError(t, err)
	require.NoError(t, stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: listenerType, ResourceNames: []string{"web"},
		ResponseNonce: resp.GetNonce(), ErrorDetail: &statuspb.Status{Code: 3, Message: "rejected on purpose by the dashboard test"}}))
}
