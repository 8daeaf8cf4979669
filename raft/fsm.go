package raft

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	hraft "github.com/hashicorp/raft"

	"github.com/sluicehq/sluice/state"
)

// applyResponse is what the FSM returns for every log entry. The leader's
// Node.Apply hands Result to the proposer and surfaces Err.
type applyResponse struct {
	Result any
	Err    error
}

// fsm applies committed log entries to the replicated state. It holds the
// current state behind an atomic pointer: State values are immutable (copy
// on write), so readers never lock and Snapshot needs no copy.
//
// Apply is deterministic: it reads nothing but the log entry and the current
// state (no clock, no randomness, no I/O), so every node computes the same
// state for the same log.
type fsm struct {
	log *slog.Logger
	cur atomic.Pointer[state.State]

	mu     sync.Mutex
	nextID uint64
	subs   map[uint64]chan struct{}
}

var _ hraft.FSM = (*fsm)(nil)

func newFSM(log *slog.Logger) *fsm {
	f := &fsm{log: log, subs: map[uint64]chan struct{}{}}
	f.cur.Store(state.New())
	return f
}

// State returns the latest applied state; never nil.
func (f *fsm) State() *state.State { return f.cur.Load() }

// Apply implements hraft.FSM. A command that does not decode, or that the
// state rejects, changes nothing and comes back as the response error on
// every node alike.
func (f *fsm) Apply(l *hraft.Log) any {
	cmd, err := state.DecodeCommand(l.Data)
	if err != nil {
		f.log.Warn("rejected undecodable log entry", "index", l.Index, "error", err)
		return applyResponse{Err: fmt.Errorf("decode log entry %d: %w", l.Index, err)}
	}
	cur := f.cur.Load()
	next, res, err := applyCommand(cur, l.Index, cmd)
	if err != nil {
		f.log.Debug("command rejected", "index", l.Index, "type", cmd.Type, "actor", cmd.Actor, "error", err)
		return applyResponse{Err: err}
	}
	if next != cur {
		f.cur.Store(next)
		f.notify()
	}
	return applyResponse{Result: res}
}

// applyCommand runs state.Apply and turns a panic into an error. The state
// is copy on write, so a panic leaves the current state untouched, and since
// Apply is deterministic every node rejects the same entry the same way
// instead of the whole cluster crash-looping on it.
func applyCommand(cur *state.State, index uint64, cmd state.Command) (next *state.State, res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			next, res, err = cur, nil, fmt.Errorf("%w: applying %s at index %d panicked: %v", ErrApplyPanic, cmd.Type, index, r)
		}
	}()
	return state.Apply(cur, index, cmd)
}

// Snapshot implements hraft.FSM. The current state is immutable, so the
// snapshot simply keeps the pointer.
func (f *fsm) Snapshot() (hraft.FSMSnapshot, error) {
	return &fsmSnapshot{s: f.cur.Load()}, nil
}

// Restore implements hraft.FSM: it replaces the whole state with the one in
// the snapshot and notifies subscribers.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s, err := state.ReadSnapshot(rc)
	if err != nil {
		return fmt.Errorf("restore FSM: %w", err)
	}
	f.cur.Store(s)
	f.log.Info("state restored from snapshot", "stateIndex", s.Index)
	f.notify()
	return nil
}

// subscribe registers a coalescing change notification channel.
func (f *fsm) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	f.mu.Lock()
	id := f.nextID
	f.nextID++
	f.subs[id] = ch
	f.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			f.mu.Lock()
			delete(f.subs, id)
			f.mu.Unlock()
		})
	}
}

func (f *fsm) notify() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range f.subs {
		select {
		case ch <- struct{}{}:
		default: // a notification is already pending: coalesce
		}
	}
}

// fsmSnapshot persists one immutable state.
type fsmSnapshot struct {
	s *state.State
}

func (s *fsmSnapshot) Persist(sink hraft.SnapshotSink) error {
	if err := state.WriteSnapshot(s.s, sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("persist snapshot: close sink: %w", err)
	}
	return nil
}

func (s *fsmSnapshot) Release() {}
