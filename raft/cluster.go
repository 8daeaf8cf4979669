package raft

import (
	"context"
	"fmt"
	"strconv"
	"time"

	hraft "github.com/hashicorp/raft"
)

// Suffrage values reported in Server.
const (
	SuffrageVoter    = "voter"
	SuffrageNonvoter = "nonvoter"
)

// Server is one member of the Raft configuration.
type Server struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	// Suffrage is "voter" or "nonvoter" (a staging server shows as
	// "staging").
	Suffrage string `json:"suffrage"`
	// Leader is true for the leader this node knows of.
	Leader bool `json:"leader"`
}

// AddVoter adds (or promotes) a voting member. Leader only. The new node
// must be running without Bootstrap and reachable at addr.
func (n *Node) AddVoter(ctx context.Context, id, addr string) error {
	timeout, err := enqueueTimeout(ctx)
	if err != nil {
		return fmt.Errorf("add voter %s: %w", id, err)
	}
	f := n.raft.AddVoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, timeout)
	if err := wait(ctx, f); err != nil {
		return raftError(fmt.Sprintf("add voter %s at %s", id, addr), err)
	}
	return nil
}

// AddNonvoter adds a member that receives the log but does not vote.
// Leader only.
func (n *Node) AddNonvoter(ctx context.Context, id, addr string) error {
	timeout, err := enqueueTimeout(ctx)
	if err != nil {
		return fmt.Errorf("add nonvoter %s: %w", id, err)
	}
	f := n.raft.AddNonvoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, timeout)
	if err := wait(ctx, f); err != nil {
		return raftError(fmt.Sprintf("add nonvoter %s at %s", id, addr), err)
	}
	return nil
}

// RemoveServer removes a member from the configuration. Leader only. A
// leader may remove itself: it steps down once the change is committed.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	timeout, err := enqueueTimeout(ctx)
	if err != nil {
		return fmt.Errorf("remove server %s: %w", id, err)
	}
	f := n.raft.RemoveServer(hraft.ServerID(id), 0, timeout)
	if err := wait(ctx, f); err != nil {
		return raftError("remove server "+id, err)
	}
	return nil
}

// Servers returns the latest Raft configuration known to this node.
func (n *Node) Servers() ([]Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, raftError("get raft configuration", err)
	}
	leaderID, _ := n.Leader()
	cfg := f.Configuration()
	out := make([]Server, 0, len(cfg.Servers))
	for _, s := range cfg.Servers {
		out = append(out, Server{
			ID:       string(s.ID),
			Address:  string(s.Address),
			Suffrage: suffrage(s.Suffrage),
			Leader:   leaderID != "" && string(s.ID) == leaderID,
		})
	}
	return out, nil
}

func suffrage(s hraft.ServerSuffrage) string {
	switch s {
	case hraft.Voter:
		return SuffrageVoter
	case hraft.Nonvoter:
		return SuffrageNonvoter
	default:
		return "staging"
	}
}

// Stats is a point-in-time view of the node for metrics and status pages.
type Stats struct {
	NodeID string `json:"nodeId"`
	// RaftState is "Follower", "Candidate", "Leader" or "Shutdown".
	RaftState  string `json:"raftState"`
	LeaderID   string `json:"leaderId"`
	LeaderAddr string `json:"leaderAddr"`
	Term       uint64 `json:"term"`

	LastLogIndex uint64 `json:"lastLogIndex"`
	LastLogTerm  uint64 `json:"lastLogTerm"`
	CommitIndex  uint64 `json:"commitIndex"`
	// AppliedIndex is the last index handed to the FSM.
	AppliedIndex uint64 `json:"appliedIndex"`
	// FSMPending is how many committed batches wait to be applied.
	FSMPending        uint64 `json:"fsmPending"`
	LastSnapshotIndex uint64 `json:"lastSnapshotIndex"`
	LastSnapshotTerm  uint64 `json:"lastSnapshotTerm"`
	// ConfigurationIndex is the log index of the latest membership change.
	ConfigurationIndex uint64 `json:"configurationIndex"`
	// NumPeers counts the other voters (0 if this node is not a voter).
	NumPeers uint64 `json:"numPeers"`
	// LastContact is the time since the leader was last heard from: 0 on
	// the leader, -1 if never.
	LastContact time.Duration `json:"lastContact"`

	// StateIndex is state.State.Index: the log index of the last command
	// that changed the state, which is also the xDS snapshot version.
	StateIndex uint64 `json:"stateIndex"`
}

// Stats returns the node's current Raft statistics.
func (n *Node) Stats() Stats {
	m := n.raft.Stats()
	u := func(k string) uint64 {
		v, _ := strconv.ParseUint(m[k], 10, 64) // absent (e.g. after shutdown) reads as 0
		return v
	}
	leaderID, leaderAddr := n.Leader()
	st := Stats{
		NodeID:             n.id,
		RaftState:          m["state"],
		LeaderID:           leaderID,
		LeaderAddr:         leaderAddr,
		Term:               u("term"),
		LastLogIndex:       u("last_log_index"),
		LastLogTerm:        u("last_log_term"),
		CommitIndex:        u("commit_index"),
		AppliedIndex:       u("applied_index"),
		FSMPending:         u("fsm_pending"),
		LastSnapshotIndex:  u("last_snapshot_index"),
		LastSnapshotTerm:   u("last_snapshot_term"),
		ConfigurationIndex: u("latest_configuration_index"),
		NumPeers:           u("num_peers"),
		StateIndex:         n.State().Index,
	}
	switch last := n.raft.LastContact(); {
	case st.RaftState == hraft.Leader.String():
		st.LastContact = 0
	case last.IsZero():
		st.LastContact = -1
	default:
		st.LastContact = time.Since(last)
	}
	return st
}
