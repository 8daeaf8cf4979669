package config

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// listBomb is the shape that took a node down: a top-level list whose
// first item is a Service with aliased versions and endpoints, followed by
// items that are only aliases of it. Each item used to be decoded as a
// document of its own, the root alias followed before any counting began,
// and every document got a fresh 10,000-value allowance. About 5 bytes per
// item: items=8,000 is the 40 KB input, 63,000 the 315 KB one.
func listBomb(items int) []byte {
	var b strings.Builder
	b.WriteString("- &a {apiVersion: sluice.dev/v1alpha1, kind: Service, metadata: {name: x}, spec: {protocol: http, port: 80, versions: [")
	b.WriteString("&v {name: v1, endpoints: [&e {address: \"10.0.0.1:80\"}")
	b.WriteString(strings.Repeat(", *e", 100))
	b.WriteString("]}")
	b.WriteString(strings.Repeat(", *v", 100))
	b.WriteString("]}}\n")
	b.WriteString(strings.Repeat("- *a\n", items))
	return []byte(b.String())
}

// laughsBomb nests lists of aliases: 10 levels of 10 aliases each name
// 10^10 values in about 400 bytes; spec.dependsOn refers to the top one.
func laughsBomb() []byte {
	var b strings.Builder
	b.WriteString("apiVersion: sluice.dev/v1alpha1\nkind: Service\nmetadata: {name: x}\nspec:\n  protocol: http\n  port: 80\n")
	b.WriteString("  domains:\n    - &l0 [a, a, a, a, a, a, a, a, a, a]\n")
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&b, "    - &l%d [%s]\n", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	b.WriteString("  dependsOn: *l10\n")
	return []byte(b.String())
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestAliasBombsStayBounded: the 40 KB and 315 KB inputs of the outage and
// a nested "billion laughs" are refused with one clear problem, and
// decoding them allocates a bounded amount (they used to allocate 27 GB
// and run out of memory).
func TestAliasBombsStayBounded(t *testing.T) {
	const budgetBytes = 64 << 20
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"list of aliased documents, 40 KB", listBomb(8000)},
		{"list of aliased documents, 315 KB", listBomb(63000)},
		{"nested aliases", laughsBomb()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			n := allocated(func() { _, err = Parse("bomb.yaml", tc.data) })
			require.ErrorIs(t, err, ErrInvalid)
			es, ok := AsErrors(err)
			require.True(t, ok)
			require.Len(t, es, 1, "the budget is the one problem to fix first")
			require.Contains(t, err.Error(), "write the values out instead")
			require.Less(t, n, uint64(budgetBytes), "Parse of %d bytes allocated %d bytes", len(tc.data), n)
			t.Logf("%d bytes of input: %d problems, %.1f MB allocated", len(tc.data), es.Total(), float64(n)/(1<<20))
		})
	}
}

// TestAliasBudgetIsShared: documents of one input share one budget, so
// documents that each stay well under the old per-document limit of 10,000
// values cannot add up: one such document is decoded (and refused for its
// own mistakes), forty are refused for the budget.
func TestAliasBudgetIsShared(t *testing.T) {
	one := strings.Replace(string(listBomb(0)), strings.Repeat(", *v", 100), strings.Repeat(", *v", 20), 1)
	_, err := Parse("one.yaml", []byte(one))
	require.ErrorIs(t, err, ErrInvalid)
	require.NotContains(t, err.Error(), "write the values out")
	_, err = Parse("many.yaml", []byte(one+strings.Repeat("- *a\n", 40)))
	require.ErrorContains(t, err, "alias would expand the input beyond")
}

// TestLongErrorListsAreTruncated: an input with a hundred thousand
// problems reports the first MaxReportedErrors and counts the rest.
func TestLongErrorListsAreTruncated(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: sluice.dev/v1alpha1\nkind: Service\nmetadata: {name: x}\nspec:\n  protocol: http\n  port: 80\n  versions:\n")
	for i := range 20000 {
		fmt.Fprintf(&b, "    - {name: v%d, weight: -1, endpoints: [{address: nope}]}\n", i)
	}
	_, err := Parse("many.yaml", []byte(b.String()))
	es, ok := AsErrors(err)
	require.True(t, ok)
	require.Len(t, es, MaxReportedErrors+1)
	last := es[len(es)-1]
	require.Greater(t, last.Omitted, 20000)
	require.Equal(t, es.Total(), MaxReportedErrors+last.Omitted)
	require.Contains(t, last.Error(), "more problems not listed")
	require.Equal(t, "many.yaml:8:26", es[0].Pos.String(), "the first problems in source order are kept")
}

// TestEchoedNamesAreClipped: a 400,000-character name is not echoed back
// whole.
func TestEchoedNamesAreClipped(t *testing.T) {
	name := strings.Repeat("n", 400000)
	_, err := Parse("long.yaml", []byte("apiVersion: sluice.dev/v1alpha1\nkind: Service\nmetadata: {name: "+name+"}\nspec: {protocol: http, port: 80}\n"))
	require.ErrorIs(t, err, ErrInvalid)
	require.Less(t, len(err.Error()), 4000)
	require.Contains(t, err.Error(), "more bytes)")
}

// TestReaderErrorsHavePositions: characters the YAML reader refuses are
// reported at their line and column.
func TestReaderErrorsHavePositions(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a: b\nc: \xff\n", "f.yaml:2:4: malformed YAML/JSON: invalid UTF-8 (byte 0xff): documents must be UTF-8 text"},
		{"a: b\nc: d\x01\n", "f.yaml:2:5: malformed YAML/JSON: control character U+0001 is not allowed in documents"},
		{"\xfe\xff\x00a", "f.yaml:1:1: malformed YAML/JSON: invalid UTF-8 (byte 0xfe): documents must be UTF-8 text"},
		{"a: \"\\uD800\"", "f.yaml:1: malformed YAML/JSON: found invalid Unicode character escape code"},
		{"a: b\nc: \"é\x7f\"\n", "f.yaml:2:6: malformed YAML/JSON: control character U+007F is not allowed in documents"},
	} {
		_, err := Parse("f.yaml", []byte(tc.in))
		require.ErrorIs(t, err, ErrSyntax, "%q", tc.in)
		require.Equal(t, tc.want, err.Error(), "%q", tc.in)
	}
}

// sloPolicy is a policy whose SLO uses the given total query.
func sloPolicy(totalQuery, extra string) string {
	return policy("p", "web") + "  slo:\n    objective: 99.9\n" +
		"    goodQuery: 'sum(rate(ok{service=\"{{service}}\",version=\"{{version}}\"}[{{window}}]))'\n" +
		"    totalQuery: '" + totalQuery + "'\n" + extra
}

// TestQueryTemplatesAreParsedAsPromQL: templates are read by Prometheus'
// own parser once the placeholders are replaced, and what looks like a
// misspelt placeholder is refused (both used to be accepted and fail only
// when Prometheus was asked, mid-release).
func TestQueryTemplatesAreParsedAsPromQL(t *testing.T) {
	const good = `sum(rate(all{service="{{service}}",version="{{version}}"}[{{window}}]))`
	_, err := Parse("p.yaml", []byte(sloPolicy(good, "")))
	require.NoError(t, err)
	for _, tc := range []struct{ query, want string }{
		{`y{service}}`, `p.yaml:10:17: ReleasePolicy "p": spec.slo.totalQuery: "{service}}" looks like a misspelt placeholder`},
		{`sum(all{version="{version}"})`, `"{version}" looks like a misspelt placeholder`},
		{`sum(all{version="{{ Version }}"})`, `unknown placeholder "{{ Version }}"`},
		{`sum(rate(all{version="{{version}}"}[{{window}}])`, `not a valid PromQL query once {{service}}, {{version}} and {{window}} are replaced: 1:`},
		{`all{version="{{version}}"}[{{window}}]`, `must return an instant vector or a scalar, got a range vector`},
		{`sum(all{version="{{version}}"}) by`, `not a valid PromQL query`},
	} {
		_, err := Parse("p.yaml", []byte(sloPolicy(tc.query, "")))
		require.ErrorIs(t, err, ErrInvalid, tc.query)
		require.ErrorContains(t, err, tc.want, tc.query)
	}
}

// TestNumbersHaveUpperBounds: every count has a range, so a value such as
// 2^64 requests is refused at its position instead of being accepted as
// "never enough data".
func TestNumbersHaveUpperBounds(t *testing.T) {
	const good = `sum(rate(all{service="{{service}}",version="{{version}}"}[{{window}}]))`
	_, err := Parse("p.yaml", []byte(sloPolicy(good, "  analysis:\n    baseline: {minRequests: 18446744073709551616}\n    failureLimit: 100000\n")))
	require.ErrorIs(t, err, ErrInvalid)
	require.Equal(t, []string{
		`p.yaml:12:29: ReleasePolicy "p": spec.analysis.baseline.minRequests: must be at most 1000000000000, got 1.8446744073709552e+19`,
		`p.yaml:13:19: ReleasePolicy "p": spec.analysis.failureLimit: must be at most 10000, got 100000`,
	}, errorLines(t, err))
}

// TestDecodeStrictJSON: request bodies get YAML's strictness: duplicate
// keys (encoding/json keeps the last), unknown fields, wrong types and
// several objects are refused with a position.
func TestDecodeStrictJSON(t *testing.T) {
	type req struct {
		Name  string `json:"name"`
		Step  int    `json:"step,omitempty"`
		Voter bool   `json:"voter"`
	}
	var ok req
	require.NoError(t, DecodeStrict("body", []byte(`{"name": "a", "step": 2, "voter": true}`), &ok))
	require.Equal(t, req{Name: "a", Step: 2, Voter: true}, ok)
	for _, tc := range []struct{ in, want string }{
		{`{"name": "a", "name": "b"}`, `body:1:15: name: duplicate field (first set at body:1:2)`},
		{`{"name": "a", "nme": "b"}`, `body:1:15: nme: unknown field "nme" (did you mean "name"?)`},
		{`{"step": 99999999999999999999}`, `body:1:10: step: number 99999999999999999999 is out of range`},
		{`{"voter": "yes"}`, `body:1:11: voter: expected true or false, got string "yes"`},
		{`{"name": "a"} {"name": "b"}`, `body:1: malformed YAML/JSON: did not find expected <document start>`},
		{"{\"name\": \"a\"}\n---\n{\"name\": \"b\"}", `body: want exactly one JSON object, got several documents`},
		{``, `body: empty body: want a JSON object`},
		{"{\"name\": \"\xff\"}", `body:1:11: malformed YAML/JSON: invalid UTF-8`},
	} {
		var v req
		err := DecodeStrict("body", []byte(tc.in), &v)
		require.ErrorIs(t, err, ErrInvalid, tc.in)
		require.ErrorContains(t, err, tc.want, tc.in)
	}
}
