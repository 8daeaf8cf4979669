package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the fan-out client process:
// remoteFleet re-executes os.Executable() with "client".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "client" {
		root := newRoot(os.Stdin, os.Stdout, os.Stderr)
		root.SetArgs(os.Args[1:])
		if err := root.Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestClusterRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--nodes", "2", "--nonvoters", "2"},
		{"--nodes", "0"},
		{"--streams-per", "0"},
		{"--sluice", filepath.Join(t.TempDir(), "missing")},
	} {
		root := newRoot(nil, &bytes.Buffer{}, &bytes.Buffer{})
		root.SetArgs(append([]string{"cluster"}, args...))
		if err := root.Execute(); !errors.Is(err, errUsage) {
			t.Errorf("%v: err = %v, want errUsage", args, err)
		}
	}
}

// TestClusterRunsOnRealProcesses starts three sluice server processes, the
// last a non-voter, with streams on each, and checks that every node's
// streams took in every round and that the suffrages are as asked.
func TestClusterRunsOnRealProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts sluice server processes")
	}
	bin := filepath.Join(t.TempDir(), "sluice")
	build := exec.Command("go", "build", "-o", bin, "../sluice")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build sluice: %v\n%s", err, out)
	}
	var out, errOut bytes.Buffer
	root := newRoot(nil, &out, &errOut)
	root.SetArgs([]string{"cluster", "--nodes", "3", "--nonvoters", "1", "--streams-per", "30", "--conns-per", "10",
		"--rounds", "2", "--services", "5", "--sluice", bin, "--timeout", "90s", "--json"})
	if err := root.Execute(); err != nil {
		t.Fatalf("cluster: %v\n%s", err, errOut.String())
	}
	var res clusterResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("decode %q: %v", out.String(), err)
	}
	if len(res.Nodes) != 3 || len(res.Overall) != 2 || len(res.Applies) != 2 {
		t.Fatalf("nodes %d, rounds %d, applies %d; want 3, 2, 2", len(res.Nodes), len(res.Overall), len(res.Applies))
	}
	leaders := 0
	for i, n := range res.Nodes {
		want := "voter"
		if i == 2 {
			want = "nonvoter"
		}
		if n.Suffrage != want || n.Streams != 30 || len(n.Last) != 2 {
			t.Errorf("node %s: suffrage %s, streams %d, rounds %d; want %s, 30, 2", n.ID, n.Suffrage, n.Streams, len(n.Last), want)
		}
		for _, d := range n.Last {
			if d <= 0 || d > 90*time.Second {
				t.Errorf("node %s: time to the last stream %v", n.ID, d)
			}
		}
		if n.Leader {
			leaders++
			if n.Suffrage != "voter" {
				t.Errorf("leader %s is a %s", n.ID, n.Suffrage)
			}
		}
		if n.After.RSS == 0 || n.After.Heap == 0 {
			t.Errorf("node %s: no memory reading %+v", n.ID, n.After)
		}
	}
	if leaders != 1 {
		t.Errorf("%d leaders, want 1", leaders)
	}
}
