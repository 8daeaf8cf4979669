package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func TestFanoutRejectsDeltaOneVersion(t *testing.T) {
	root := newRoot(nil, &bytes.Buffer{}, &bytes.Buffer{})
	root.SetArgs([]string{"fanout", "--delta", "--one-version", "--streams", "10"})
	if err := root.Execute(); !errors.Is(err, errUsage) {
		t.Fatalf("err = %v, want errUsage", err)
	}
}

// TestFanoutDeltaSmall runs the three paths on delta streams with the
// client in a child process (this test binary, see TestMain).
func TestFanoutDeltaSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Raft node and client processes")
	}
	var out, errOut bytes.Buffer
	root := newRoot(nil, &out, &errOut)
	root.SetArgs([]string{"fanout", "--delta", "--streams", "20", "--rounds", "2", "--services", "5",
		"--conns-per", "10", "--restart=false", "--json"})
	if err := root.Execute(); err != nil {
		t.Fatalf("fanout: %v\n%s", err, errOut.String())
	}
	var res struct {
		Env struct {
			Delta bool `json:"delta"`
		} `json:"environment"`
		Results []struct {
			Delta     bool                       `json:"delta"`
			Summaries map[string]json.RawMessage `json:"summaries"`
			RatioP50  map[string]float64         `json:"ratioP50"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("decode %s: %v", out.String(), err)
	}
	if !res.Env.Delta || len(res.Results) != 1 || !res.Results[0].Delta {
		t.Fatalf("not a delta run: %s", out.String())
	}
	for _, p := range []string{"sluice", "bare", "floor"} {
		if _, ok := res.Results[0].Summaries[p]; !ok {
			t.Errorf("no %s summary", p)
		}
	}
	for _, p := range []string{"bare", "floor"} {
		if r := res.Results[0].RatioP50[p]; r <= 0 {
			t.Errorf("ratio to %s = %v, want > 0", p, r)
		}
	}
}

func TestFanoutRejectsInterleavedProfile(t *testing.T) {
	root := newRoot(nil, &bytes.Buffer{}, &bytes.Buffer{})
	root.SetArgs([]string{"fanout", "--interleave", "--cpuprofile", t.TempDir() + "/cpu", "--streams", "10"})
	if err := root.Execute(); !errors.Is(err, errUsage) {
		t.Fatalf("err = %v, want errUsage", err)
	}
}

// TestFanoutInterleavedSmall interleaves the three paths' rounds, each
// fleet in a child process of its own, all connected at once.
func TestFanoutInterleavedSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Raft node and client processes")
	}
	var out, errOut bytes.Buffer
	root := newRoot(nil, &out, &errOut)
	root.SetArgs([]string{"fanout", "--interleave", "--streams", "20", "--rounds", "3", "--services", "5",
		"--conns-per", "10", "--restart=false", "--json"})
	if err := root.Execute(); err != nil {
		t.Fatalf("fanout: %v\n%s", err, errOut.String())
	}
	var res struct {
		Env struct {
			Interleave bool `json:"interleave"`
		} `json:"environment"`
		Results []struct {
			Interleaved bool `json:"interleaved"`
			Sluice      struct {
				Rounds    []int64 `json:"roundsNs"`
				ClientCPU int64   `json:"clientCpuPerRoundNs"`
			} `json:"sluice"`
			RatioP50 map[string]float64 `json:"ratioP50"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("decode %s: %v", out.String(), err)
	}
	if !res.Env.Interleave || len(res.Results) != 1 || !res.Results[0].Interleaved {
		t.Fatalf("not an interleaved run: %s", out.String())
	}
	r := res.Results[0]
	if len(r.Sluice.Rounds) != 3 || r.Sluice.ClientCPU <= 0 {
		t.Errorf("sluice: %d rounds, client CPU %d ns per round; want 3 rounds and the child's CPU time", len(r.Sluice.Rounds), r.Sluice.ClientCPU)
	}
	for _, p := range []string{"bare", "floor"} {
		if q := r.RatioP50[p]; q <= 0 {
			t.Errorf("ratio to %s = %v, want > 0", p, q)
		}
	}
}
