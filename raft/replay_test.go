package raft

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/state"
)

// format1 is a data directory recorded by the log format of the first
// release (release.update / train.update commands): see testdata/format1.
const format1 = "testdata/format1"

type format1Expect struct {
	SnapshotIndex uint64 `json:"snapshotIndex"`
	LastIndex     uint64 `json:"lastIndex"`
	StateIndex    uint64 `json:"stateIndex"`
}

// copyDir copies a recorded data directory, so the test never writes to
// testdata.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o600)
	})
	require.NoError(t, err)
	return dst
}

func readFormat1(t *testing.T) (format1Expect, map[string]any) {
	t.Helper()
	var exp format1Expect
	b, err := os.ReadFile(filepath.Join(format1, "expect.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &exp))
	b, err = os.ReadFile(filepath.Join(format1, "state.json"))
	require.NoError(t, err)
	var want map[string]any
	require.NoError(t, json.Unmarshal(b, &want))
	upgradeFormat1(want)
	return exp, want
}

// upgradeFormat1 turns format 1's state JSON into today's. These are the
// only differences the format change allows: unset times are left out
// (omitzero) instead of written as the zero time, and a hold is an object
// with a kind instead of text (the recorded history ends with no release
// held, so there is none to convert).
func upgradeFormat1(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if x == "0001-01-01T00:00:00Z" {
				delete(v, k)
				continue
			}
			upgradeFormat1(x)
		}
		if _, ok := v["holding"]; ok {
			panic("format 1 state with a hold: convert it here")
		}
	case []any:
		for _, x := range v {
			upgradeFormat1(x)
		}
	}
}

// replay starts a node on a copy of the recorded data directory and waits
// until it has applied the whole log.
func replay(t *testing.T, dir string, exp format1Expect) *Node {
	t.Helper()
	n := openNode(t, testConfig(t, "n1", dir, "127.0.0.1:0", false))
	waitSingleLeader(t, n)
	// Raft counts an entry applied when it hands it to the FSM, so wait
	// for the state itself: its index is the last entry that changed it.
	require.Eventually(t, func() bool { return n.State().Index >= exp.StateIndex && n.Stats().AppliedIndex >= exp.LastIndex },
		waitTimeout, waitTick, "the node never applied the recorded log up to %d", exp.LastIndex)
	return n
}

// asJSON renders a state the way a snapshot stores it, as a generic value.
func asJSON(t *testing.T, s *state.State) map[string]any {
	t.Helper()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// TestReplayFormat1 starts a node on a log and snapshot written by the
// first log format: the snapshot is restored, the entries after it are
// applied, and the node reaches the state the old code reached.
func TestReplayFormat1(t *testing.T) {
	exp, want := readFormat1(t)
	n := replay(t, copyDir(t, filepath.Join(format1, "data")), exp)
	require.Equal(t, exp.StateIndex, n.State().Index)
	require.Equal(t, want, asJSON(t, n.State()))
	checkFormat1State(t, n.State())
}

// TestReplayFormat1FullLog replays every recorded entry from the start,
// without the snapshot: every command of the old format still decodes
// and applies to the same state.
func TestReplayFormat1FullLog(t *testing.T) {
	exp, want := readFormat1(t)
	dir := copyDir(t, filepath.Join(format1, "data"))
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "snapshots")))
	n := replay(t, dir, exp)
	require.Equal(t, want, asJSON(t, n.State()))
	checkFormat1State(t, n.State())
}

// checkFormat1State spells out what the recorded history did, so that a
// decoder that lost a field on both sides of the comparison is caught.
func checkFormat1State(t *testing.T, st *state.State) {
	t.Helper()
	phases := map[string]state.Phase{"r1": state.PhasePromoted, "r2": state.PhaseRolledBack, "r3": state.PhaseAborted,
		"r4": state.PhasePromoted, "t-a": state.PhaseRolledBack, "t-b": state.PhaseRolledBack}
	for name, p := range phases {
		require.Equal(t, p, st.Releases[name].Status.Phase, name)
	}
	require.Equal(t, []uint32{0, 0, 100}, st.RouteWeights("greeter"))
	require.Equal(t, []uint32{100, 0}, st.RouteWeights("web"))
	require.Equal(t, []uint32{100, 0}, st.RouteWeights("a"))
	require.Empty(t, st.Active)

	r1 := st.Releases["r1"]
	require.Equal(t, 10, len(r1.Status.Decisions))
	require.JSONEq(t, `"Successful"`, string(mustField(t, r1.Status.Decisions[9].Verdict, "phase")))
	require.NotNil(t, r1.Status.Assessment)
	require.Equal(t, "bob", r1.Spec.Spec.Change.Author)

	r3 := st.Releases["r3"]
	require.Len(t, r3.Status.Approvals, 2)
	require.Equal(t, "integration", r3.Status.Approvals[0].Gate)
	require.Equal(t, 1, r3.Status.Approvals[1].Step)
	require.Equal(t, "carol", r3.Status.Approvals[1].Actor)

	r4 := st.Releases["r4"]
	require.JSONEq(t, `"UTC"`, string(mustField(t, r4.Status.Schedule, "timezone")))
	require.True(t, r4.StartNowApproved())

	tr := st.Trains["t"]
	require.Equal(t, state.TrainRolledBack, tr.Status.Phase)
	require.Equal(t, "b", tr.Status.FailedMember)
	require.Equal(t, []string{"a"}, tr.Status.RollbackOrder)
	// The train was paused for 61 s while t-a baked: its bake moved out by
	// as much.
	ta := st.Releases["t-a"]
	require.Equal(t, ta.Status.AckedAt.Add(30*time.Second+61*time.Second), ta.Status.BakeUntil)
}

func mustField(t *testing.T, raw json.RawMessage, field string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m), "%s", raw)
	return m[field]
}
