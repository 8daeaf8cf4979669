package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"
)

func TestParseValidService(t *testing.T) {
	docs, err := Parse("f.yaml", []byte(svcYAML))
	require.NoError(t, err)
	require.Len(t, docs, 1)
	d := docs[0]
	require.Equal(t, KindService, d.Kind)
	require.Equal(t, "web", d.Name)
	require.Nil(t, d.ReleasePolicy)
	require.Equal(t, Position{File: "f.yaml", Line: 1, Column: 1}, d.Pos)
	require.Equal(t, &Service{
		APIVersion: APIVersion,
		Kind:       KindService,
		Metadata:   Metadata{Name: "web"},
		Spec: ServiceSpec{
			Protocol: ProtocolHTTP,
			Port:     8080,
			Domains:  []string{"web.example.com"},
			Versions: []Version{
				{Name: "v1", Endpoints: []Endpoint{{Address: "10.0.0.1:80", Region: "eu"}}},
				{Name: "v2", Endpoints: []Endpoint{{Address: "10.0.0.2:80", Region: "us"}}},
			},
		},
	}, d.Service)
	// Fields point at scalar values, and at the key of lists and mappings.
	require.Equal(t, Position{File: "f.yaml", Line: 7, Column: 9}, d.Fields["spec.port"])
	require.Equal(t, Position{File: "f.yaml", Line: 10, Column: 3}, d.Fields["spec.versions"])
	require.Equal(t, Position{File: "f.yaml", Line: 15, Column: 7}, d.Fields["spec.versions[1]"])
	require.Equal(t, Position{File: "f.yaml", Line: 17, Column: 20}, d.Fields["spec.versions[1].endpoints[0].address"])
	require.Equal(t, Position{File: "f.yaml", Line: 9, Column: 7}, d.Fields["spec.domains[0]"])
	// A path that was not written falls back to its closest parent.
	require.Equal(t, Position{File: "f.yaml", Line: 15, Column: 7}, d.FieldPos("spec.versions[1].weight"))
}

// TestParseErrors checks, for each class of bad input, the exact position,
// document, field path and message.
func TestParseErrors(t *testing.T) {
	edit := func(old, new string) string {
		require.Contains(t, svcYAML, old)
		return strings.Replace(svcYAML, old, new, 1)
	}
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{
			name:  "unknown field",
			input: edit("          region: eu\n", "          regoin: eu\n"),
			want: []string{`f.yaml:14:11: Service "web": spec.versions[0].endpoints[0].regoin: ` +
				`unknown field "regoin" (did you mean "region"?); known fields: address, region, zone`},
		},
		{
			name:  "unknown top-level field",
			input: svcYAML + "status: {}\n",
			want: []string{`f.yaml:19:1: Service "web": status: unknown field "status"; ` +
				`known fields: apiVersion, kind, metadata, spec`},
		},
		{
			name:  "list where a string is expected",
			input: edit("  name: web\n", "  name: [web]\n"),
			want:  []string{`f.yaml:4:9: Service: metadata.name: expected a string, got a list`},
		},
		{
			name:  "number where a string is expected",
			input: edit("    - name: v2\n", "    - name: 2.0\n"),
			want: []string{`f.yaml:15:13: Service "web": spec.versions[1].name: ` +
				`expected a string, got number 2.0; quote it ("2.0") if it is meant as text`},
		},
		{
			name:  "string where a number is expected",
			input: edit("  port: 8080\n", "  port: abc\n"),
			want:  []string{`f.yaml:7:9: Service "web": spec.port: expected a non-negative whole number, got string "abc"`},
		},
		{
			name:  "quoted number where a number is expected",
			input: edit("  port: 8080\n", "  port: \"8080\"\n"),
			want:  []string{`f.yaml:7:9: Service "web": spec.port: expected a non-negative whole number, got string "8080"`},
		},
		{
			name:  "negative number",
			input: edit("  port: 8080\n", "  port: -1\n"),
			want:  []string{`f.yaml:7:9: Service "web": spec.port: must not be negative, got -1`},
		},
		{
			name:  "number overflowing uint32",
			input: edit("  port: 8080\n", "  port: 4294967296\n"),
			want:  []string{`f.yaml:7:9: Service "web": spec.port: number 4294967296 is too large (at most 4294967295)`},
		},
		{
			name:  "mapping where a list is expected",
			input: edit("  domains:\n    - web.example.com\n", "  domains: {a: b}\n"),
			want:  []string{`f.yaml:8:12: Service "web": spec.domains: expected a list, got a mapping`},
		},
		{
			name:  "duplicate key",
			input: edit("  port: 8080\n", "  port: 8080\n  port: 9090\n"),
			want:  []string{`f.yaml:8:3: Service "web": spec.port: duplicate field (first set at f.yaml:7:3)`},
		},
		{
			name:  "port out of range",
			input: edit("  port: 8080\n", "  port: 70000\n"),
			want:  []string{`f.yaml:7:9: Service "web": spec.port: must be 1-65535, got 70000`},
		},
		{
			name:  "missing protocol",
			input: edit("  protocol: http\n", ""),
			want:  []string{`f.yaml:5:1: Service "web": spec.protocol: required: "http" or "grpc"`},
		},
		{
			name:  "unknown protocol",
			input: edit("  protocol: http\n", "  protocol: tcp\n"),
			want:  []string{`f.yaml:6:13: Service "web": spec.protocol: must be "http" or "grpc", got "tcp"`},
		},
		{
			name:  "missing port for http",
			input: edit("  port: 8080\n", ""),
			want:  []string{`f.yaml:5:1: Service "web": spec.port: required for http services (1-65535)`},
		},
		{
			name:  "missing versions",
			input: strings.SplitAfter(svcYAML, "    - web.example.com\n")[0],
			want:  []string{`f.yaml:5:1: Service "web": spec.versions: at least one version is required`},
		},
		{
			name:  "missing endpoints",
			input: edit("      endpoints:\n        - address: 10.0.0.2:80\n          region: us\n", "      endpoints: []\n"),
			want:  []string{`f.yaml:16:7: Service "web": spec.versions[1].endpoints: at least one endpoint is required`},
		},
		{
			name:  "missing address",
			input: edit("        - address: 10.0.0.1:80\n          region: eu\n", "        - region: eu\n"),
			want:  []string{`f.yaml:13:11: Service "web": spec.versions[0].endpoints[0].address: required (host:port)`},
		},
		{
			name:  "address without port",
			input: edit("10.0.0.1:80", "10.0.0.1"),
			want: []string{`f.yaml:13:20: Service "web": spec.versions[0].endpoints[0].address: ` +
				`invalid address "10.0.0.1": want host:port, e.g. "10.0.0.1:8080" or "[2001:db8::1]:8080"`},
		},
		{
			name:  "address with port 0",
			input: edit("10.0.0.2:80", "10.0.0.2:0"),
			want: []string{`f.yaml:17:20: Service "web": spec.versions[1].endpoints[0].address: ` +
				`invalid address "10.0.0.2:0": the port must be 1-65535`},
		},
		{
			name:  "address without host",
			input: edit("10.0.0.2:80", "\":80\""),
			want: []string{`f.yaml:17:20: Service "web": spec.versions[1].endpoints[0].address: ` +
				`invalid address ":80": the host is missing`},
		},
		{
			name: "duplicate address in a version",
			input: edit("          region: us\n",
				"          region: us\n        - address: 10.0.0.2:80\n"),
			want: []string{`f.yaml:19:20: Service "web": spec.versions[1].endpoints[1].address: ` +
				`duplicate address "10.0.0.2:80" (also spec.versions[1].endpoints[0])`},
		},
		{
			name:  "duplicate version name",
			input: edit("    - name: v2\n", "    - name: v1\n"),
			want:  []string{`f.yaml:15:13: Service "web": spec.versions[1].name: duplicate version name "v1" (also spec.versions[0])`},
		},
		{
			name:  "bad version name",
			input: edit("    - name: v2\n", "    - name: V2_\n"),
			want: []string{`f.yaml:15:13: Service "web": spec.versions[1].name: invalid version name "V2_": ` +
				`use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit`},
		},
		{
			name: "weights not summing to 100",
			input: strings.Replace(edit("    - name: v1\n", "    - name: v1\n      weight: 60\n"),
				"    - name: v2\n", "    - name: v2\n      weight: 30\n", 1),
			want: []string{`f.yaml:10:3: Service "web": spec.versions: weights must sum to 100, got 90 (v1=60, v2=30)`},
		},
		{
			name:  "weight on some versions only",
			input: edit("    - name: v1\n", "    - name: v1\n      weight: 100\n"),
			want: []string{`f.yaml:16:7: Service "web": spec.versions[1].weight: ` +
				`required because other versions set a weight (set a weight on every version or on none)`},
		},
		{
			name: "weight above 100",
			input: strings.Replace(edit("    - name: v1\n", "    - name: v1\n      weight: 0\n"),
				"    - name: v2\n", "    - name: v2\n      weight: 101\n", 1),
			want: []string{`f.yaml:17:15: Service "web": spec.versions[1].weight: must be 0-100, got 101`},
		},
		{
			name:  "empty and duplicate domains",
			input: edit("    - web.example.com\n", "    - web.example.com\n    - \"\"\n    - WEB.example.com\n"),
			want: []string{
				`f.yaml:10:7: Service "web": spec.domains[1]: must not be empty`,
				`f.yaml:11:7: Service "web": spec.domains[2]: duplicate domain "WEB.example.com" (also spec.domains[0])`,
			},
		},
		{
			name:  "dependsOn itself and twice",
			input: svcYAML + "  dependsOn: [web, db, db]\n",
			want: []string{
				`f.yaml:19:15: Service "web": spec.dependsOn[0]: a service cannot depend on itself`,
				`f.yaml:19:24: Service "web": spec.dependsOn[2]: duplicate dependency "db" (also spec.dependsOn[1])`,
			},
		},
		{
			name:  "bad apiVersion",
			input: edit("sluice.dev/v1alpha1", "sluice.dev/v1"),
			want:  []string{`f.yaml:1:13: Service "web": apiVersion: unsupported apiVersion "sluice.dev/v1": must be "sluice.dev/v1alpha1"`},
		},
		{
			name:  "missing apiVersion",
			input: edit("apiVersion: sluice.dev/v1alpha1\n", ""),
			want:  []string{`f.yaml:1:1: Service "web": apiVersion: required: must be "sluice.dev/v1alpha1"`},
		},
		{
			name:  "unknown kind",
			input: edit("kind: Service\n", "kind: Deployment\n"),
			want:  []string{`f.yaml:2:7: kind: unknown kind "Deployment": known kinds are Service, ReleasePolicy, Release, ReleaseTrain, Notifier`},
		},
		{
			name:  "missing kind",
			input: edit("kind: Service\n", ""),
			want:  []string{`f.yaml:1:1: kind: required: one of Service, ReleasePolicy, Release, ReleaseTrain, Notifier`},
		},
		{
			name:  "bad name",
			input: edit("  name: web\n", "  name: Web_1\n"),
			want: []string{`f.yaml:4:9: Service "Web_1": metadata.name: invalid name "Web_1": ` +
				`use lowercase letters, digits and '-', starting and ending with a letter or digit`},
		},
		{
			name:  "name too long",
			input: edit("  name: web\n", "  name: "+strings.Repeat("a", 64)+"\n"),
			want: []string{`f.yaml:4:9: Service "` + strings.Repeat("a", 64) + `": metadata.name: "` +
				strings.Repeat("a", 64) + `" is 64 characters long, at most 63 are allowed`},
		},
		{
			name:  "missing name",
			input: edit("  name: web\n", "  labels: {a: b}\n"),
			want:  []string{`f.yaml:3:1: Service: metadata.name: required`},
		},
		{
			name:  "merge key",
			input: edit("      endpoints:\n        - address: 10.0.0.1:80\n", "      <<: {weight: 1}\n      endpoints:\n        - address: 10.0.0.1:80\n"),
			want:  []string{`f.yaml:12:7: Service "web": spec.versions[0]: merge keys (<<) are not supported; write the fields out`},
		},
		{
			name:  "document that is not a mapping",
			input: "just text\n",
			want:  []string{`f.yaml:1:1: a document must be a mapping with apiVersion, kind, metadata and spec, got string "just text"`},
		},
		{
			name:  "empty input",
			input: "# nothing here\n---\n",
			want:  []string{`f.yaml: no documents found: want YAML documents or JSON objects with apiVersion, kind, metadata and spec`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := Parse("f.yaml", []byte(tc.input))
			require.Nil(t, docs)
			require.Equal(t, tc.want, errorLines(t, err))
			require.ErrorIs(t, err, ErrInvalid)
			require.NotErrorIs(t, err, ErrSyntax)
			es, ok := AsErrors(err)
			require.True(t, ok)
			require.Len(t, es, len(tc.want))
		})
	}
}

// TestParseReportsEveryProblem: one input with many problems in several
// documents yields all of them in one error, in file order.
func TestParseReportsEveryProblem(t *testing.T) {
	input := `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata:
  name: web
spec:
  protocol: http
  port: abc
  versions:
    - name: v1
      weight: 60
      endpoints:
        - address: nope
    - name: v2
      weight: 30
      endpoints:
        - adress: 10.0.0.2:80
---
apiVersion: sluice.dev/v2
kind: ReleasePolicy
metadata:
  name: Bad
spec:
  services: []
  extra: true
`
	_, err := Parse("multi.yaml", []byte(input))
	require.Equal(t, []string{
		`multi.yaml:7:9: Service "web": spec.port: expected a non-negative whole number, got string "abc"`,
		`multi.yaml:8:3: Service "web": spec.versions: weights must sum to 100, got 90 (v1=60, v2=30)`,
		`multi.yaml:12:20: Service "web": spec.versions[0].endpoints[0].address: invalid address "nope": ` +
			`want host:port, e.g. "10.0.0.1:8080" or "[2001:db8::1]:8080"`,
		`multi.yaml:16:11: Service "web": spec.versions[1].endpoints[0].adress: unknown field "adress" ` +
			`(did you mean "address"?); known fields: address, region, zone`,
		`multi.yaml:16:11: Service "web": spec.versions[1].endpoints[0].address: required (host:port)`,
		`multi.yaml:18:13: ReleasePolicy "Bad": apiVersion: unsupported apiVersion "sluice.dev/v2": must be "sluice.dev/v1alpha1"`,
		`multi.yaml:21:9: ReleasePolicy "Bad": metadata.name: invalid name "Bad": ` +
			`use lowercase letters, digits and '-', starting and ending with a letter or digit`,
		`multi.yaml:23:3: ReleasePolicy "Bad": spec.services: at least one service is required`,
		`multi.yaml:24:3: ReleasePolicy "Bad": spec.extra: unknown field "extra"; known fields: ` + knownFieldsOf(ReleasePolicySpec{}),
	}, errorLines(t, err))
}

func TestParseSyntaxErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{
			name:  "unclosed flow list",
			input: "apiVersion: sluice.dev/v1alpha1\nkind: [Service\n",
			want:  []string{`f.yaml:2: malformed YAML/JSON: did not find expected ',' or ']'`},
		},
		{
			name:  "tab indentation",
			input: "spec:\n\tport: 1\n",
			want:  []string{`f.yaml:2: malformed YAML/JSON: found character that cannot start any token`},
		},
		{
			name:  "bad JSON",
			input: "{\"apiVersion\": \"sluice.dev/v1alpha1\",\n \"kind\" \"Service\"}",
			want:  []string{`f.yaml:2: malformed YAML/JSON: did not find expected ',' or '}'`},
		},
		{
			// Problems of the documents before the malformed one are
			// reported too.
			name:  "after a bad document",
			input: strings.Replace(svcYAML, "port: 8080", "port: x", 1) + "---\nkind: [\n",
			want: []string{
				`f.yaml:7:9: Service "web": spec.port: expected a non-negative whole number, got string "x"`,
				`f.yaml:21: malformed YAML/JSON: did not find expected node content`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := Parse("f.yaml", []byte(tc.input))
			require.Nil(t, docs)
			require.Equal(t, tc.want, errorLines(t, err))
			require.ErrorIs(t, err, ErrSyntax)
			require.ErrorIs(t, err, ErrInvalid)
		})
	}
}

// TestParseAliases: aliases to ordinary values work; aliases used to
// inflate a document are refused.
func TestParseAliases(t *testing.T) {
	ok := strings.Replace(svcYAML, "    - name: v2\n      endpoints:\n        - address: 10.0.0.2:80\n          region: us\n",
		"    - name: v2\n      endpoints: *eps\n", 1)
	ok = strings.Replace(ok, "      endpoints:\n        - address: 10.0.0.1:80", "      endpoints: &eps\n        - address: 10.0.0.1:80", 1)
	docs, err := Parse("f.yaml", []byte(ok))
	require.NoError(t, err)
	require.Equal(t, docs[0].Service.Spec.Versions[0].Endpoints, docs[0].Service.Spec.Versions[1].Endpoints)

	// 200 versions that alias one version of 200 aliased endpoints: 40,000
	// endpoints from a few kilobytes.
	var b strings.Builder
	b.WriteString("apiVersion: sluice.dev/v1alpha1\nkind: Service\nmetadata: {name: bomb}\n")
	b.WriteString("spec:\n  protocol: grpc\n  versions:\n    - &v\n      name: v1\n      endpoints: [&e {address: 10.0.0.1:80}")
	b.WriteString(strings.Repeat(", *e", 199) + "]\n")
	b.WriteString(strings.Repeat("    - *v\n", 199))
	_, err = Parse("bomb.yaml", []byte(b.String()))
	require.ErrorIs(t, err, ErrInvalid)
	require.Equal(t, []string{`bomb.yaml:34:7: Service "bomb": spec.versions[25]: ` +
		`alias would expand the input beyond 10422 decoded values (10000 plus 1 per value written); write the values out instead`}, errorLines(t, err))
}

func TestParseJSONMatchesYAML(t *testing.T) {
	const jsonSvc = `{
	"apiVersion": "sluice.dev/v1alpha1",
	"kind": "Service",
	"metadata": {"name": "web"},
	"spec": {
		"protocol": "http",
		"port": 8080,
		"domains": ["web.example.com"],
		"versions": [
			{"name": "v1", "endpoints": [{"address": "10.0.0.1:80", "region": "eu"}]},
			{"name": "v2", "endpoints": [{"address": "10.0.0.2:80", "region": "us"}]}
		]
	}
}`
	const jsonPolicy = `{"apiVersion": "sluice.dev/v1alpha1", "kind": "ReleasePolicy",
	 "metadata": {"name": "p"}, "spec": {"services": ["web"]}}`

	fromYAML, err := Parse("a.yaml", []byte(join(svcYAML, policy("p", "web"))))
	require.NoError(t, err)
	require.Len(t, fromYAML, 2)

	obj, err := Parse("a.json", []byte(jsonSvc))
	require.NoError(t, err)
	require.Len(t, obj, 1)
	require.Equal(t, fromYAML[0].Service, obj[0].Service)
	require.Equal(t, Position{File: "a.json", Line: 7, Column: 11}, obj[0].Fields["spec.port"])

	arr, err := Parse("b.json", []byte("["+jsonSvc+",\n"+jsonPolicy+"]"))
	require.NoError(t, err)
	require.Len(t, arr, 2)
	for i := range arr {
		require.Equal(t, fromYAML[i].Kind, arr[i].Kind)
		require.Equal(t, fromYAML[i].Name, arr[i].Name)
		require.Equal(t, fromYAML[i].Service, arr[i].Service)
		require.Equal(t, fromYAML[i].ReleasePolicy, arr[i].ReleasePolicy)
	}
	require.Equal(t, Position{File: "b.json", Line: 15, Column: 1}, arr[1].Pos)

	// JSON errors carry positions too.
	_, err = Parse("c.json", []byte(strings.Replace(jsonSvc, `"port": 8080`, `"port": "8080"`, 1)))
	require.Equal(t, []string{`c.json:7:11: Service "web": spec.port: expected a non-negative whole number, got string "8080"`},
		errorLines(t, err))
}

func TestParseMultiDocument(t *testing.T) {
	input := "---\n" + svcYAML + "---\n# nothing\n---\n" + svc("api", "grpc", 0, "") + "---\n" + policy("p", "web", "api")
	docs, err := Parse("m.yaml", []byte(input))
	require.NoError(t, err)
	require.Len(t, docs, 3)
	require.Equal(t, []Kind{KindService, KindService, KindReleasePolicy}, []Kind{docs[0].Kind, docs[1].Kind, docs[2].Kind})
	require.Equal(t, []string{"web", "api", "p"}, []string{docs[0].Name, docs[1].Name, docs[2].Name})
	require.Equal(t, 2, docs[0].Pos.Line)
	require.Equal(t, 23, docs[1].Pos.Line)
	require.Equal(t, []string{"web", "api"}, docs[2].ReleasePolicy.Spec.Services)
}

func TestParseAppliesDefaults(t *testing.T) {
	input := strings.Replace(svcYAML, "  name: web\n", "  name: web\n  labels: {}\n", 1) + "  dependsOn: []\n"
	docs, err := Parse("f.yaml", []byte(input))
	require.NoError(t, err)
	require.Nil(t, docs[0].Service.Metadata.Labels)
	require.Nil(t, docs[0].Service.Spec.DependsOn)
}

// TestDecoderTypes covers the value types no spec uses yet.
func TestDecoderTypes(t *testing.T) {
	type inner struct {
		Every   Duration          `json:"every"`
		Ratio   float64           `json:"ratio"`
		On      bool              `json:"on"`
		Small   int8              `json:"small"`
		Limit   *uint32           `json:"limit,omitempty"`
		Tags    map[string]string `json:"tags,omitempty"`
		Skipped string            `json:"-"`
	}
	type outer struct {
		Items []inner `json:"items"`
	}
	decode := func(t *testing.T, src string) (outer, Errors) {
		t.Helper()
		var doc yaml.Node
		require.NoError(t, yaml.Unmarshal([]byte(src), &doc))
		var out outer
		d := newDecoder("t.yaml", "", "", newBudget())
		d.decode(doc.Content[0], reflect.ValueOf(&out).Elem(), "")
		return out, d.errs
	}

	out, errs := decode(t, `items:
  - every: 1m30s
    ratio: 0.25
    on: true
    small: -7
    limit: 0x10
    tags: {team: a, "sluice.dev/tier": "1"}
  - ratio: 3
    limit: ~
`)
	require.Empty(t, errs)
	sixteen := uint32(16)
	require.Equal(t, outer{Items: []inner{
		{Every: Duration(90e9), Ratio: 0.25, On: true, Small: -7, Limit: &sixteen,
			Tags: map[string]string{"team": "a", "sluice.dev/tier": "1"}},
		{Ratio: 3},
	}}, out)

	_, errs = decode(t, `items:
  - every: 30
    ratio: .nan
    on: yes
    small: 200
    limit: -1
    tags: {team: a, team: b}
    Skipped: x
`)
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	require.Equal(t, []string{
		`t.yaml:2:12: items[0].every: invalid duration "30" (want e.g. "30s", "5m")`,
		`t.yaml:3:12: items[0].ratio: must be a finite number, got .nan`,
		`t.yaml:4:9: items[0].on: expected true or false, got string "yes"`,
		`t.yaml:5:12: items[0].small: number 200 is out of range (-128 to 127)`,
		`t.yaml:6:12: items[0].limit: must not be negative, got -1`,
		`t.yaml:7:21: items[0].tags.team: duplicate key (first set at t.yaml:7:12)`,
		`t.yaml:8:5: items[0].Skipped: unknown field "Skipped"; known fields: every, ratio, on, small, limit, tags`,
	}, msgs)
}

func TestErrorsIs(t *testing.T) {
	plain := Errors{{Message: "x"}}
	require.ErrorIs(t, plain, ErrInvalid)
	require.False(t, errors.Is(plain, ErrSyntax))
	syntax := Errors{{Message: "x"}, {Message: "y", Syntax: true}}
	require.ErrorIs(t, syntax, ErrSyntax)
	require.ErrorIs(t, syntax, ErrInvalid)
	require.False(t, errors.Is(syntax, ErrNotFound))
}

// knownFieldsOf lists a struct's JSON field names as unknown-field errors
// do, so tests do not break each time a field is added.
func knownFieldsOf(v any) string {
	var names []string
	for _, f := range structFields(reflect.TypeOf(v)) {
		names = append(names, f.name)
	}
	return strings.Join(names, ", ")
}
