package config

import (
	"os"
	"testing"
)

// FuzzParse: Parse never panics, and a successful parse yields documents
// that Check accepts on their own or rejects with an error, never a panic.
func FuzzParse(f *testing.F) {
	for _, file := range []string{"../examples/services.yaml", "../examples/policy.yaml"} {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(svcYAML))
	f.Add([]byte(`[{"apiVersion": "sluice.dev/v1alpha1", "kind": "ReleasePolicy", "metadata": {"name": "p"}, "spec": {"services": ["a"]}}]`))
	f.Add([]byte("a: &a [*a]\n---\nkind: Service\nspec: {<<: {x: 1}}\n"))
	f.Add([]byte("kind: Service\nmetadata: {name: x}\nspec:\n  port: -1\n  versions: [{weight: 1e9}]\n"))
	f.Add(listBomb(50))
	f.Add(laughsBomb())
	f.Add([]byte("kind: ReleasePolicy\nmetadata: {name: p}\nspec: {slo: {objective: 99, errorRatioQuery: 'y{service}}', requestsQuery: 'sum(x{v=\"{{version}}\"})'}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Parse("fuzz.yaml", data)
		if err != nil {
			es, ok := AsErrors(err)
			if !ok {
				t.Fatalf("Parse error is not Errors: %T %v", err, err)
			}
			checkBoundedErrors(t, es)
			return
		}
		if len(docs) == 0 {
			t.Fatal("Parse returned no documents and no error")
		}
		_ = Check(docs, &fakeCatalog{})
	})
}

// checkBoundedErrors: a list of problems is never longer than the cap and
// no problem echoes more than a clipped part of the input.
func checkBoundedErrors(t *testing.T, es Errors) {
	t.Helper()
	if len(es) > MaxReportedErrors+1 {
		t.Fatalf("%d problems reported, cap is %d", len(es), MaxReportedErrors)
	}
	for _, e := range es {
		if len(e.Error()) > 2048 {
			t.Fatalf("problem of %d bytes: %.200s", len(e.Error()), e.Error())
		}
	}
}

// FuzzDecodeStrict: request bodies decode or fail with bounded Errors,
// never a panic.
func FuzzDecodeStrict(f *testing.F) {
	f.Add([]byte(`{"metadata": {"name": "r"}, "spec": {"service": "web", "to": "v2", "change": {"linesAdded": 3}}}`))
	f.Add([]byte(`{"reason": "x", "step": 2, "overrideGate": "tests", "startNow": true}`))
	f.Add([]byte(`{"name": "a", "name": "b"}`))
	f.Add([]byte(`[1, 2, {"a": &x [*x]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var rel Release
		if err := DecodeStrict("body", data, &rel); err != nil {
			es, ok := AsErrors(err)
			if !ok {
				t.Fatalf("DecodeStrict error is not Errors: %T %v", err, err)
			}
			checkBoundedErrors(t, es)
			return
		}
		doc := Document{Kind: KindRelease, Name: rel.Metadata.Name, Release: &rel}
		ApplyDefaults(&doc)
		_ = Check([]Document{doc}, &fakeCatalog{})
	})
}
