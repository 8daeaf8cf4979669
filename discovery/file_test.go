package discovery

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

func TestParseTargetsJSONAndYAML(t *testing.T) {
	want := []state.ObservedEndpoint{
		{Address: "10.0.0.1:8080", Region: "eu", Zone: "eu-1", Health: state.Healthy},
		{Address: "10.0.0.2:8080", Region: "eu", Zone: "eu-1", Health: state.Healthy},
		{Address: "10.0.0.3:8080", Health: state.Unhealthy},
	}
	for name, text := range map[string]string{
		"targets.json": `[{"targets": ["10.0.0.1:8080", "10.0.0.2:8080"], "labels": {"region": "eu", "zone": "eu-1", "job": "greeter"}},
 {"targets": ["10.0.0.3:8080"], "labels": {"health": "unhealthy"}}]`,
		"targets.yaml": `- targets: [10.0.0.1:8080, 10.0.0.2:8080]
  labels: {region: eu, zone: eu-1}
- targets:
    - 10.0.0.3:8080
  labels:
    health: unhealthy
`,
	} {
		got, err := ParseTargets(name, []byte(text))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
	if got, err := ParseTargets("none.json", []byte("[]")); err != nil || len(got) != 0 {
		t.Errorf("[] = %v, %v; want an empty set", got, err)
	}
}

func TestParseTargetsErrorsSayWhere(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"- targets: [10.0.0.1:8080]\n- targets: [greeter:8080]\n", `t.yaml:2:13: group 1: targets[0]: invalid address "greeter:8080": the host must be an IP address`},
		{"- targets: [10.0.0.1:8080]\n  labels: {health: sick}\n", `t.yaml:2:20: group 0: labels.health: "sick" is not "healthy" or "unhealthy"`},
		{"- targets: [10.0.0.1:8080, 10.0.0.1:8080]\n", `t.yaml:1:28: group 0: targets[1]: 10.0.0.1:8080 is listed twice (also at t.yaml:1:13)`},
		{"- target: [10.0.0.1:8080]\n", `t.yaml:1:3: group 0: unknown field "target"`},
		{"targets: [10.0.0.1:8080]\n", `t.yaml:1:1: want a list of {targets, labels} groups`},
		{"- targets: [10.0.0.1:8080\n", `t.yaml: yaml: line 1`},
		{"  \n", `t.yaml: the file is empty`},
	} {
		_, err := ParseTargets("t.yaml", []byte(tc.text))
		if !errors.Is(err, ErrBadTargets) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestFileSourceRereadsOnlyWhenTheFileChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "targets.json")
	write := func(text string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now().Add(-time.Hour)
	write(`[{"targets": ["10.0.0.1:8080"]}]`, t0)
	src := &fileSource{spec: &config.FileDiscovery{Path: path}}
	got := src.look(context.Background())
	if got.failure != nil || len(got.found) != 1 || got.again != config.DefaultFileInterval {
		t.Fatalf("first look = %+v", got)
	}
	write(`[{"targets": ["10.0.0.1:8080", "10.0.0.2:8080"]}]`, t0.Add(time.Second))
	if got = src.look(context.Background()); len(got.found) != 2 {
		t.Fatalf("after a change = %+v, want 2 endpoints", got)
	}
	write(`[{"targets": ["bad"]}]`, t0.Add(2*time.Second))
	got = src.look(context.Background())
	if got.failure == nil || got.failure.Kind != state.FailureParse || !strings.Contains(got.failure.Message, path+":1:15") {
		t.Fatalf("after a bad write = %+v, want a parse failure at %s:1:15", got.failure, path)
	}
	os.Remove(path)
	if got = src.look(context.Background()); got.failure == nil || got.failure.Kind != state.FailureRead {
		t.Fatalf("after removal = %+v, want a read failure", got)
	}
}
