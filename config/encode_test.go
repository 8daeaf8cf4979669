package config

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEncodeYAMLRoundTrip(t *testing.T) {
	for _, file := range []string{"../examples/services.yaml", "../examples/policy.yaml"} {
		t.Run(file, func(t *testing.T) {
			src, err := os.ReadFile(file)
			require.NoError(t, err)
			docs, err := Parse(file, src)
			require.NoError(t, err)

			var bodies []any
			for _, d := range docs {
				bodies = append(bodies, body(d))
				out, err := EncodeYAML(body(d))
				require.NoError(t, err)
				again, err := Parse("out.yaml", out)
				require.NoError(t, err, "output:\n%s", out)
				require.Len(t, again, 1)
				require.Equal(t, d.Kind, again[0].Kind)
				require.Equal(t, d.Name, again[0].Name)
				require.Equal(t, body(d), body(again[0]))
				// Block style, keys in json tag order.
				require.True(t, strings.HasPrefix(string(out), "apiVersion: sluice.dev/v1alpha1\nkind: "), "output:\n%s", out)
				// No flow collection ({...} or [...]) as a value; query
				// templates hold braces inside their text.
				require.NotRegexp(t, `(?m)(^|: |- )[{\[]`, string(out))
			}

			stream, err := EncodeYAMLStream(bodies...)
			require.NoError(t, err)
			again, err := Parse("stream.yaml", stream)
			require.NoError(t, err)
			require.Len(t, again, len(docs))
			for i := range docs {
				require.Equal(t, body(docs[i]), body(again[i]))
			}
		})
	}
}

func body(d Document) any {
	if d.Service != nil {
		return d.Service
	}
	return d.ReleasePolicy
}

// TestEncodeYAMLQuotesAmbiguousStrings: strings that would read back as
// numbers, booleans or null stay strings.
func TestEncodeYAMLQuotesAmbiguousStrings(t *testing.T) {
	docs, err := Parse("f.yaml", []byte(strings.Replace(svcYAML, "  name: web\n",
		"  name: web\n  labels: {port: \"8080\", on: \"true\", none: \"null\", \"a b\": \"\"}\n", 1)))
	require.NoError(t, err)
	out, err := EncodeYAML(docs[0].Service)
	require.NoError(t, err)
	require.Contains(t, string(out), "    port: \"8080\"\n")
	again, err := Parse("out.yaml", out)
	require.NoError(t, err, "output:\n%s", out)
	require.Equal(t, map[string]string{"port": "8080", "on": "true", "none": "null", "a b": ""}, again[0].Service.Metadata.Labels)
}

func TestEncodeYAMLDuration(t *testing.T) {
	out, err := EncodeYAML(struct {
		Every Duration `json:"every"`
		Name  string   `json:"name,omitempty"`
	}{Every: Duration(90e9)})
	require.NoError(t, err)
	require.Equal(t, "every: 1m30s\n", string(out))
}

func TestEncodeJSON(t *testing.T) {
	docs, err := Parse("f.yaml", []byte(svcYAML))
	require.NoError(t, err)
	out, err := EncodeJSON(docs[0].Service)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(out, []byte("{\n  \"apiVersion\": \"sluice.dev/v1alpha1\",\n")), "%s", out)
	require.True(t, bytes.HasSuffix(out, []byte("}\n")))
	var back Service
	require.NoError(t, json.Unmarshal(out, &back))
	require.Equal(t, docs[0].Service, &back)
	// JSON output is also valid input.
	again, err := Parse("f.json", out)
	require.NoError(t, err)
	require.Equal(t, docs[0].Service, again[0].Service)
}

func TestEncodeRejectsUnencodable(t *testing.T) {
	_, err := EncodeYAML(func() {})
	require.Error(t, err)
	_, err = EncodeJSON(make(chan int))
	require.Error(t, err)
}
