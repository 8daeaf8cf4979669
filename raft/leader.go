package raft

import (
	"context"
	"sync"
	"time"

	hraft "github.com/hashicorp/raft"
)

// leadershipRecheck is how often the watcher re-reads the Raft state even
// without an observation, in case hashicorp/raft dropped one (its observer
// channel is non-blocking).
const leadershipRecheck = 500 * time.Millisecond

// leaderTracker holds the last known leadership of this node and the
// LeaderChanges subscribers.
type leaderTracker struct {
	mu       sync.Mutex
	isLeader bool
	nextID   uint64
	subs     map[uint64]*leaderSub
	// changed is closed (and replaced) whenever an observation arrives, so
	// WaitLeader can wait without polling.
	changed chan struct{}
}

func (t *leaderTracker) init() {
	t.subs = map[uint64]*leaderSub{}
	t.changed = make(chan struct{})
}

// leaderSub delivers every leadership transition, in order, to one
// subscriber, without ever blocking the watcher: transitions queue up in
// memory (they alternate, so there are few) and a goroutine hands them over.
type leaderSub struct {
	ch   chan bool
	wake chan struct{}
	done chan struct{}

	mu    sync.Mutex
	queue []bool
	last  bool
}

func newLeaderSub(initial bool) *leaderSub {
	return &leaderSub{
		ch:    make(chan bool, 1),
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
		queue: []bool{initial},
		last:  initial,
	}
}

// push queues v if it differs from the last value queued.
func (s *leaderSub) push(v bool) {
	s.mu.Lock()
	if v == s.last {
		s.mu.Unlock()
		return
	}
	s.queue = append(s.queue, v)
	s.last = v
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *leaderSub) run() {
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			select {
			case <-s.wake:
				continue
			case <-s.done:
				return
			}
		}
		v := s.queue[0]
		s.mu.Unlock()
		select {
		case s.ch <- v:
			s.mu.Lock()
			s.queue = s.queue[1:]
			s.mu.Unlock()
		case <-s.done:
			return
		}
	}
}

// watchLeadership re-reads the Raft state on every leadership or state
// observation, on hashicorp's LeaderCh, and periodically.
func (n *Node) watchLeadership() {
	defer n.wg.Done()
	tick := time.NewTicker(leadershipRecheck)
	defer tick.Stop()
	leaderCh := n.raft.LeaderCh()
	for {
		n.refreshLeadership()
		select {
		case <-n.stop:
			return
		case <-n.obsCh:
		case <-leaderCh:
		case <-tick.C:
		}
	}
}

// refreshLeadership compares Raft's current state with the last known one,
// tells subscribers about a change, and wakes WaitLeader.
func (n *Node) refreshLeadership() {
	t := &n.leaders
	t.mu.Lock()
	defer t.mu.Unlock()
	n.refreshLocked()
	close(t.changed)
	t.changed = make(chan struct{})
}

func (n *Node) refreshLocked() {
	t := &n.leaders
	cur := n.raft.State() == hraft.Leader
	if cur == t.isLeader {
		return
	}
	t.isLeader = cur
	n.log.Info("leadership changed", "leader", cur, "term", n.raft.CurrentTerm())
	for _, s := range t.subs {
		s.push(cur)
	}
}

// IsLeader reports whether this node is the Raft leader right now.
func (n *Node) IsLeader() bool { return n.raft.State() == hraft.Leader }

// Leader returns the id and Raft address of the leader this node knows of,
// or empty strings when there is none.
func (n *Node) Leader() (id, raftAddr string) {
	addr, sid := n.raft.LeaderWithID()
	return string(sid), string(addr)
}

// LeaderChanges returns a channel that first receives whether this node is
// the leader now and then every change of that, in order: true when it
// becomes leader, false when it stops being leader (including on Close).
// Unlike hashicorp's LeaderCh no transition is dropped, so a quick
// lose-and-regain is seen as false then true. The channel is never closed;
// call cancel to unsubscribe.
func (n *Node) LeaderChanges() (<-chan bool, func()) {
	t := &n.leaders
	t.mu.Lock()
	n.refreshLocked()
	s := newLeaderSub(t.isLeader)
	id := t.nextID
	t.nextID++
	t.subs[id] = s
	t.mu.Unlock()
	go s.run()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			t.mu.Lock()
			delete(t.subs, id)
			t.mu.Unlock()
			close(s.done)
		})
	}
}

// WaitLeader blocks until this node knows of a leader (itself or another),
// ctx ends, or the node is closed (ErrShutdown).
func (n *Node) WaitLeader(ctx context.Context) error {
	for {
		n.leaders.mu.Lock()
		changed := n.leaders.changed
		n.leaders.mu.Unlock()
		if id, _ := n.Leader(); id != "" {
			return nil
		}
		select {
		case <-changed:
		case <-n.stop:
			return ErrShutdown
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
