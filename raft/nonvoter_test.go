package raft

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNonvoterNeitherVotesNorLeads: with two voters and a non-voter, the
// loss of a voter leaves one voter, which cannot win an election
// without a second vote. Were the non-voter to vote, the voter would win;
// were it to campaign, it could lead. Neither may happen, while the
// non-voter still holds what was committed.
func TestNonvoterNeitherVotesNorLeads(t *testing.T) {
	c := newCluster(t)
	n1 := c.start("n1", true)
	require.NoError(t, n1.WaitLeader(ctxT(t)))
	require.Eventually(t, n1.IsLeader, waitTimeout, waitTick)
	n2 := c.start("n2", false)
	n3 := c.start("n3", false)
	require.NoError(t, n1.AddVoter(ctxT(t), "n2", n2.Addr()))
	require.NoError(t, n1.AddNonvoter(ctxT(t), "n3", n3.Addr()))
	assert.Equal(t, map[string]string{"n1": "voter", "n2": "voter", "n3": "nonvoter"}, serverIDs(t, n1))
	applyServices(t, n1, "a")
	waitService(t, "a", n2, n3)

	// Leadership moves to n2 (the only other voter: the non-voter is
	// never a candidate for it), then n1 goes away; n2 loses its lease,
	// since only the non-voter still answers it.
	require.NoError(t, n1.HandOver(ctxT(t)))
	require.Eventually(t, n2.IsLeader, waitTimeout, waitTick, "leadership did not move to n2")
	c.stop("n1")
	require.Eventually(t, func() bool { return !n2.IsLeader() }, waitTimeout, waitTick, "n2 kept leading without a quorum")
	// Several election timeouts (1 s in tests): n2 campaigns again and
	// again and must never gather a quorum; n3 must never lead.
	require.Never(t, func() bool { return n2.IsLeader() || n3.IsLeader() }, 6*time.Second, 50*time.Millisecond,
		"a leader was elected without a second voter")
	assert.NotEqual(t, "Leader", n3.Stats().RaftState)
	waitService(t, "a", n3)
}
