package raft

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	hraft "github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/state"
)

// memSink is an in-memory hraft.SnapshotSink.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

func fsmApply(t *testing.T, f *fsm, index uint64, cmd state.Command) applyResponse {
	t.Helper()
	b, err := cmd.Encode()
	require.NoError(t, err)
	resp, ok := f.Apply(&hraft.Log{Index: index, Type: hraft.LogCommand, Data: b}).(applyResponse)
	require.True(t, ok, "FSM must return applyResponse")
	return resp
}

func TestFSMApply(t *testing.T) {
	f := newFSM(slog.New(slog.DiscardHandler))
	require.NotNil(t, f.State())
	ch, cancel := f.subscribe()
	defer cancel()

	resp := fsmApply(t, f, 5, applyCmd(t, "web", "api"))
	require.NoError(t, resp.Err)
	assert.Equal(t, state.ApplyResult{Created: []string{"Service/web", "Service/api"}}, resp.Result)
	assert.Equal(t, uint64(5), f.State().Index)
	assert.Len(t, ch, 1)
	<-ch

	// Two changes before the subscriber reads coalesce into one signal.
	require.NoError(t, fsmApply(t, f, 6, deleteCmd(t, "api")).Err)
	require.NoError(t, fsmApply(t, f, 7, deleteCmd(t, "web")).Err)
	assert.Len(t, ch, 1)
	<-ch
	assert.Equal(t, uint64(7), f.State().Index)

	// Garbage in the log is an error response, not a panic, and changes
	// nothing.
	before := f.State()
	resp, ok := f.Apply(&hraft.Log{Index: 8, Type: hraft.LogCommand, Data: []byte("\x00not json")}).(applyResponse)
	require.True(t, ok)
	require.ErrorIs(t, resp.Err, state.ErrBadPayload)
	assert.Contains(t, resp.Err.Error(), "log entry 8")
	assert.Same(t, before, f.State())
	assert.Empty(t, ch)

	// A rejected command: same state, no signal.
	resp = fsmApply(t, f, 9, state.Command{Type: "bogus"})
	require.ErrorIs(t, resp.Err, state.ErrUnknownCommand)
	assert.Same(t, before, f.State())
	assert.Empty(t, ch)

	// After cancel no more signals.
	cancel()
	require.NoError(t, fsmApply(t, f, 10, applyCmd(t, "web")).Err)
	assert.Empty(t, ch)
}

func TestFSMSnapshotRestore(t *testing.T) {
	f := newFSM(slog.New(slog.DiscardHandler))
	for i := range 5 {
		require.NoError(t, fsmApply(t, f, uint64(i+1), applyCmd(t, fmt.Sprintf("svc%d", i))).Err)
	}
	require.NoError(t, fsmApply(t, f, 6, deleteCmd(t, "svc2")).Err)
	want := f.State()

	snap, err := f.Snapshot()
	require.NoError(t, err)
	// Later applies do not leak into a snapshot already taken.
	require.NoError(t, fsmApply(t, f, 7, applyCmd(t, "late")).Err)
	sink := &memSink{}
	require.NoError(t, snap.Persist(sink))
	snap.Release()
	assert.True(t, sink.closed)
	assert.False(t, sink.cancelled)

	g := newFSM(slog.New(slog.DiscardHandler))
	ch, cancel := g.subscribe()
	defer cancel()
	require.NoError(t, g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))))
	assert.Equal(t, stateJSON(t, want), stateJSON(t, g.State()))
	assert.Equal(t, uint64(6), g.State().Index)
	assert.NotContains(t, g.State().Services, "late")
	assert.Len(t, ch, 1, "Restore must notify subscribers")

	// A broken snapshot fails and keeps the current state.
	before := g.State()
	require.Error(t, g.Restore(io.NopCloser(strings.NewReader("{broken"))))
	assert.Same(t, before, g.State())
}

// errSink fails every write.
type errSink struct{ memSink }

func (s *errSink) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

func TestFSMPersistFailureCancelsSink(t *testing.T) {
	f := newFSM(slog.New(slog.DiscardHandler))
	require.NoError(t, fsmApply(t, f, 1, applyCmd(t, "web")).Err)
	snap, err := f.Snapshot()
	require.NoError(t, err)
	sink := &errSink{}
	require.Error(t, snap.Persist(sink))
	assert.True(t, sink.cancelled)
	assert.False(t, sink.closed)
}

func TestSnapshotAndRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, "n1", dir, "127.0.0.1:0", true)
	cfg.TrailingLogs = 2 // compact hard, so a restart must use the snapshot
	n := openNode(t, cfg)
	require.NoError(t, n.WaitLeader(ctxT(t)))
	require.Eventually(t, n.IsLeader, waitTimeout, waitTick)

	for i := range 10 {
		applyServices(t, n, fmt.Sprintf("svc%d", i))
	}
	require.NoError(t, n.Snapshot())
	snapIndex := n.Stats().LastSnapshotIndex
	require.Positive(t, snapIndex)
	snapState := n.State().Index
	entries, err := os.ReadDir(filepath.Join(dir, "snapshots"))
	require.NoError(t, err)
	assert.Len(t, entries, 1)
	// The log before the snapshot (minus trailing logs) is gone.
	first, err := n.store.FirstIndex()
	require.NoError(t, err)
	assert.Greater(t, first, uint64(1), "log must be compacted after the snapshot")

	for i := 10; i < 15; i++ {
		applyServices(t, n, fmt.Sprintf("svc%d", i))
	}
	_, err = n.Apply(ctxT(t), deleteCmd(t, "svc3"))
	require.NoError(t, err)
	want := stateJSON(t, n.State())
	require.NoError(t, n.Close())

	cfg.RaftAddr = n.Addr()
	n2 := openNode(t, cfg)
	// The snapshot is restored while opening, before any election.
	assert.GreaterOrEqual(t, n2.State().Index, snapState)
	require.NoError(t, n2.WaitLeader(ctxT(t)))
	waitSameState(t, want, n2)
	assert.Equal(t, snapIndex, n2.Stats().LastSnapshotIndex)
	applyServices(t, n2, "after-restart")
}
