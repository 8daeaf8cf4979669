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
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Parse("fuzz.yaml", data)
		if err != nil {
			if _, ok := AsErrors(err); !ok {
				t.Fatalf("Parse error is not Errors: %T %v", err, err)
			}
			return
		}
		if len(docs) == 0 {
			t.Fatal("Parse returned no documents and no error")
		}
		_ = Check(docs, &fakeCatalog{})
	})
}
