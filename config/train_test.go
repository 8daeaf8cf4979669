package config

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func deps(m map[string][]string) func(string) []string {
	return func(s string) []string { return m[s] }
}

func members(names ...string) []TrainMember {
	out := make([]TrainMember, len(names))
	for i, n := range names {
		out[i] = TrainMember{Service: n, To: "v2"}
	}
	return out
}

func TestBuildTrainGraphOrders(t *testing.T) {
	// c depends on b, b on a: a, then b, then c.
	spec := &ReleaseTrainSpec{Members: members("c", "a", "b")}
	g, err := BuildTrainGraph(spec, deps(map[string][]string{"c": {"b"}, "b": {"a"}}))
	require.NoError(t, err)
	require.Equal(t, [][]string{{"a"}, {"b"}, {"c"}}, g.Levels)
	require.Equal(t, []string{"a"}, g.Deps["b"])

	// Independent members share a level (they may run in lockstep); a
	// dependency through a service outside the train still orders them;
	// after adds an explicit edge.
	spec = &ReleaseTrainSpec{Members: []TrainMember{
		{Service: "web", To: "v2"}, {Service: "api", To: "v2"}, {Service: "db", To: "v2"},
		{Name: "jobs", Service: "worker", To: "v2", After: []string{"web"}},
	}}
	g, err = BuildTrainGraph(spec, deps(map[string][]string{"web": {"gateway"}, "gateway": {"db"}, "api": {"db"}}))
	require.NoError(t, err)
	require.Equal(t, [][]string{{"db"}, {"api", "web"}, {"jobs"}}, g.Levels)
	require.Equal(t, []string{"db"}, g.Deps["web"], "through gateway, which is not a member")
}

func TestBuildTrainGraphCycle(t *testing.T) {
	spec := &ReleaseTrainSpec{Members: []TrainMember{
		{Service: "a", To: "v2", After: []string{"c"}}, {Service: "b", To: "v2"}, {Service: "c", To: "v2"},
	}}
	_, err := BuildTrainGraph(spec, deps(map[string][]string{"b": {"a"}, "c": {"b"}}))
	require.EqualError(t, err, "members depend on each other in a cycle: a -> c -> b -> a")
}

func TestTrainChecks(t *testing.T) {
	const v2 = "    - name: v2\n      endpoints:\n        - address: 10.0.0.2:80\n"
	cat := newCatalog(t, join(
		svc("a", "grpc", 0, v2), svc("b", "grpc", 0, v2+"  dependsOn: [a]\n"), svc("c", "grpc", 0, v2+"  dependsOn: [b]\n"),
		`apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: p}
spec:
  services: [a, b, c]
  slo: {objective: 99, errorRatioQuery: 'e{version="{{version}}"}', requestsQuery: 'r{version="{{version}}"}'}
`))
	good := `apiVersion: sluice.dev/v1alpha1
kind: ReleaseTrain
metadata: {name: t1}
spec:
  members:
    - {service: a, to: v2}
    - {service: b, to: v2, healthCheck: {query: 'up{version="{{version}}"}', retries: 2}}
    - {service: c, to: v2}
`
	docs, err := Parse("t.yaml", []byte(good))
	require.NoError(t, err)
	require.NoError(t, Check(docs, cat))

	bad := `apiVersion: sluice.dev/v1alpha1
kind: ReleaseTrain
metadata: {name: t2}
spec:
  requires: step:0
  members:
    - {service: a, to: v2, after: [c]}
    - {service: b, to: v9}
    - {service: c, to: v2}
    - {service: nope, to: v2}
    - {name: a, service: a, to: v2, after: [ghost]}
`
	docs, err = Parse("t.yaml", []byte(bad))
	require.Error(t, err)
	es, _ := AsErrors(err)
	var msgs []string
	for _, e := range es {
		msgs = append(msgs, e.Error())
	}
	require.Contains(t, msgs, `t.yaml:5:13: ReleaseTrain "t2": spec.requires: invalid requires "step:0": want "promoted" or "step:N" with N >= 1`)
	require.Contains(t, msgs, `t.yaml:11:26: ReleaseTrain "t2": spec.members[4].service: Service "a" is already released by spec.members[0]: one member per service`)
	require.Contains(t, msgs, `t.yaml:11:45: ReleaseTrain "t2": spec.members[4].after[0]: unknown member "ghost" (members: a, b, c, nope)`)

	cycle := `apiVersion: sluice.dev/v1alpha1
kind: ReleaseTrain
metadata: {name: t3}
spec:
  members:
    - {service: a, to: v2, after: [c]}
    - {service: b, to: v9}
    - {service: c, to: v2}
    - {service: nope, to: v2}
`
	docs, err = Parse("t.yaml", []byte(cycle))
	require.NoError(t, err)
	err = Check(docs, cat)
	require.Error(t, err)
	require.Contains(t, err.Error(), `t.yaml:7:24: ReleaseTrain "t3": spec.members[1].to: Service "b" has no version "v9" (versions: v1, v2)`)
	require.Contains(t, err.Error(), `spec.members[3].service: unknown service "nope"`)
	require.Contains(t, err.Error(), `spec.members: members depend on each other in a cycle: a -> c -> b -> a`)
}

// The train example and its services check cleanly together.
func TestTrainExample(t *testing.T) {
	var docs []Document
	for _, f := range []string{"../examples/train-services.yaml", "../examples/train.yaml"} {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		d, err := Parse(f, data)
		require.NoError(t, err)
		docs = append(docs, d...)
	}
	require.NoError(t, Check(docs, newCatalog(t, "")))
	g, err := BuildTrainGraph(&docs[len(docs)-1].ReleaseTrain.Spec, func(svc string) []string {
		for _, d := range docs {
			if d.Service != nil && d.Name == svc {
				return d.Service.Spec.DependsOn
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, [][]string{{"payments"}, {"checkout"}, {"storefront"}}, g.Levels)
}
