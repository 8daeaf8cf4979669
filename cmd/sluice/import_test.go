package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
)

// TestImportCommand: YAML on stdout that parses, the report on stderr; -o
// json gives both on stdout; unreadable input is an error.
func TestImportCommand(t *testing.T) {
	out, errOut, err := run(t, "", "import", "flagger", "-f", "../../importer/testdata/flagger-canary.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Parse("out.yaml", []byte(out)); err != nil {
		t.Fatalf("stdout does not parse: %v\n%s", err, out)
	}
	if !strings.Contains(errOut, "spec.analysis.webhooks[0]") || strings.Contains(out, "webhooks") {
		t.Errorf("the report belongs on stderr:\nstdout: %s\nstderr: %s", out, errOut)
	}

	out, _, err = run(t, "", "import", "argo", "-f", "../../importer/testdata/argo-background.yaml", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var both struct {
		Documents []map[string]any `json:"documents"`
		Unmapped  []struct{ Path, Reason string }
	}
	if err := json.Unmarshal([]byte(out), &both); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if len(both.Documents) != 2 || len(both.Unmapped) == 0 {
		t.Errorf("-o json: %d documents, %d unmapped", len(both.Documents), len(both.Unmapped))
	}

	if _, _, err := run(t, "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: x}\nspec: {objectives: [{target: high}]}\n",
		"import", "openslo", "-f", "-"); err == nil || !strings.Contains(err.Error(), "want a number") {
		t.Errorf("a target that is not a number: %v", err)
	}
}
