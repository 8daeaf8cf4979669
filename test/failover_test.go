package test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLeaderHandsOverOnSIGTERM stops the leader of a 3-node cluster with
// SIGTERM and checks that it handed leadership over before it exited: it
// logged the hand-over before its Raft node stopped, a follower leads
// now, and no follower had to wait for its heartbeat timeout to start an
// election.
func TestLeaderHandsOverOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	procs := startCluster(t, 3)
	leader, followers := splitLeader(t, procs)
	from := map[*proc]int{}
	for _, p := range followers {
		from[p] = p.logs.len()
	}
	oldFrom := leader.logs.len()
	leader.stop(syscall.SIGTERM)

	logs := leader.logs.since(oldFrom)
	handed := slices.IndexFunc(logs, func(l string) bool { return strings.Contains(l, "leadership handed over") })
	stopped := slices.IndexFunc(logs, func(l string) bool { return strings.Contains(l, "raft node stopped") })
	require.GreaterOrEqual(t, handed, 0, "the leader did not hand leadership over:\n%s", strings.Join(logs, "\n"))
	require.Greater(t, stopped, handed, "the hand-over must come before the Raft node stops")

	newLeader := leaderOf(t, followers)
	require.NotEqual(t, leader.id, newLeader.id)
	eventually(t, 10*time.Second, "both followers follow "+newLeader.id, func() error {
		for _, p := range followers {
			m, err := p.client().Members(context.Background())
			if err != nil {
				return err
			}
			if m.Leader != newLeader.id {
				return fmt.Errorf("%s follows %q", p.id, m.Leader)
			}
		}
		return nil
	})
	for _, p := range followers {
		for _, l := range p.logs.since(from[p]) {
			require.NotContains(t, l, "heartbeat timeout reached", "%s waited for an election timeout", p.id)
		}
	}
	// The new leader can commit: the cluster is whole without the old one.
	_, err := newLeader.client().Apply(ctxT(t), "after-handover.yaml", []byte(serviceYAML("after-handover", 9000, 100)))
	require.NoError(t, err, fmt.Sprintf("apply on %s after the hand-over", newLeader.id))
}
