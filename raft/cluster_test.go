package raft

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cluster is a test cluster whose members can be stopped and restarted on
// the same data directory and address.
type cluster struct {
	t     *testing.T
	dirs  map[string]string
	addrs map[string]string
	nodes map[string]*Node
}

func newCluster(t *testing.T) *cluster {
	return &cluster{t: t, dirs: map[string]string{}, addrs: map[string]string{}, nodes: map[string]*Node{}}
}

// start opens node id, on a new data dir and free port the first time and
// on the same ones afterwards.
func (c *cluster) start(id string, bootstrap bool) *Node {
	c.t.Helper()
	dir, ok := c.dirs[id]
	if !ok {
		dir = c.t.TempDir()
		c.dirs[id] = dir
	}
	addr, ok := c.addrs[id]
	if !ok {
		addr = "127.0.0.1:0"
	}
	n := openNode(c.t, testConfig(c.t, id, dir, addr, bootstrap))
	c.addrs[id] = n.Addr()
	c.nodes[id] = n
	return n
}

func (c *cluster) stop(id string) {
	c.t.Helper()
	require.NoError(c.t, c.nodes[id].Close(), "close %s", id)
	delete(c.nodes, id)
}

func (c *cluster) running(ids ...string) []*Node {
	out := make([]*Node, 0, len(ids))
	for _, id := range ids {
		out = append(out, c.nodes[id])
	}
	return out
}

func serverIDs(t *testing.T, n *Node) map[string]string {
	t.Helper()
	servers, err := n.Servers()
	require.NoError(t, err)
	out := map[string]string{}
	for _, s := range servers {
		out[s.ID] = s.Suffrage
	}
	return out
}

func TestCluster(t *testing.T) {
	c := newCluster(t)
	n1 := c.start("n1", true)
	require.NoError(t, n1.WaitLeader(ctxT(t)))
	require.Eventually(t, n1.IsLeader, waitTimeout, waitTick)
	n2 := c.start("n2", false)
	n3 := c.start("n3", false)
	require.NoError(t, n1.AddVoter(ctxT(t), "n2", n2.Addr()))
	require.NoError(t, n1.AddVoter(ctxT(t), "n3", n3.Addr()))
	assert.Equal(t, map[string]string{"n1": "voter", "n2": "voter", "n3": "voter"}, serverIDs(t, n1))

	// Replication to every voter.
	applyServices(t, n1, "a")
	waitService(t, "a", n1, n2, n3)
	waitSameState(t, stateJSON(t, n1.State()), n2, n3)
	for _, f := range []*Node{n2, n3} {
		_, err := f.Apply(ctxT(t), applyCmd(t, "x"))
		require.ErrorIs(t, err, ErrNotLeader, "follower %s", f.ID())
		require.NoError(t, f.WaitLeader(ctxT(t)))
		id, addr := f.Leader()
		assert.Equal(t, "n1", id)
		assert.Equal(t, n1.Addr(), addr)
		assert.Equal(t, "Follower", f.Stats().RaftState)
	}
	servers, err := n2.Servers()
	require.NoError(t, err)
	leaders := 0
	for _, s := range servers {
		if s.Leader {
			leaders++
			assert.Equal(t, "n1", s.ID)
		}
	}
	assert.Equal(t, 1, leaders)

	// The leader stops: the other two elect a new one and keep working.
	c.stop("n1")
	leader := waitSingleLeader(t, c.running("n2", "n3")...)
	applyServices(t, leader, "b")
	waitService(t, "b", c.running("n2", "n3")...)

	// The old leader comes back on its data dir and catches up. Bootstrap
	// is ignored because there is existing state.
	n1 = c.start("n1", true)
	waitService(t, "b", n1)
	all := c.running("n1", "n2", "n3")
	leader = waitSingleLeader(t, all...)
	waitSameState(t, stateJSON(t, leader.State()), all...)

	// A non-voter receives the state but cannot apply.
	n4 := c.start("n4", false)
	require.NoError(t, leader.AddNonvoter(ctxT(t), "n4", n4.Addr()))
	applyServices(t, leader, "c")
	waitService(t, "a", n4)
	waitService(t, "c", n4)
	assert.Equal(t, "nonvoter", serverIDs(t, leader)["n4"])
	_, err = n4.Apply(ctxT(t), applyCmd(t, "x"))
	require.ErrorIs(t, err, ErrNotLeader)

	// RemoveServer takes it out of the configuration on every voter; it
	// no longer receives entries.
	require.NoError(t, leader.RemoveServer(ctxT(t), "n4"))
	for _, n := range all {
		require.Eventually(t, func() bool {
			_, ok := serverIDs(t, n)["n4"]
			return !ok
		}, waitTimeout, waitTick, "n4 still in %s's configuration", n.ID())
	}
	applyServices(t, leader, "d")
	waitService(t, "d", all...)
	assert.NotContains(t, n4.State().Services, "d", "a removed server must not receive new entries")
	c.stop("n4")

	// Stop everything and restart on the same data dirs: state intact, a
	// leader is elected, and it accepts writes.
	want := stateJSON(t, leader.State())
	for _, id := range []string{"n1", "n2", "n3"} {
		c.stop(id)
	}
	for _, id := range []string{"n1", "n2", "n3"} {
		c.start(id, true)
	}
	all = c.running("n1", "n2", "n3")
	leader = waitSingleLeader(t, all...)
	waitSameState(t, want, all...)
	applyServices(t, leader, "e")
	waitService(t, "e", all...)
	assert.Equal(t, map[string]string{"n1": "voter", "n2": "voter", "n3": "voter"}, serverIDs(t, leader))
}

// TestLeaderChangesOnRemoval: the leader removes itself, which makes it step
// down deterministically; its LeaderChanges goes true -> false and one of
// the others takes over.
func TestLeaderChangesOnRemoval(t *testing.T) {
	c := newCluster(t)
	n1 := c.start("n1", true)
	require.NoError(t, n1.WaitLeader(ctxT(t)))
	require.Eventually(t, n1.IsLeader, waitTimeout, waitTick)
	ch, cancel := n1.LeaderChanges()
	defer cancel()
	assert.True(t, recvBool(t, ch, "n1's current leadership"), "current value first")

	n2 := c.start("n2", false)
	n3 := c.start("n3", false)
	require.NoError(t, n1.AddVoter(ctxT(t), "n2", n2.Addr()))
	require.NoError(t, n1.AddVoter(ctxT(t), "n3", n3.Addr()))
	applyServices(t, n1, "a")
	waitService(t, "a", n2, n3)

	ch2, cancel2 := n2.LeaderChanges()
	defer cancel2()
	ch3, cancel3 := n3.LeaderChanges()
	defer cancel3()
	assert.False(t, recvBool(t, ch2, "n2's current leadership"))
	assert.False(t, recvBool(t, ch3, "n3's current leadership"))

	require.NoError(t, n1.RemoveServer(ctxT(t), "n1"))
	assert.False(t, recvBool(t, ch, "n1 stepping down"), "leader must see false after removing itself")
	assert.False(t, n1.IsLeader())

	leader := waitSingleLeader(t, n2, n3)
	leaderCh := map[*Node]<-chan bool{n2: ch2, n3: ch3}[leader]
	assert.True(t, recvBool(t, leaderCh, "new leader's true"))
	assert.Equal(t, map[string]string{"n2": "voter", "n3": "voter"}, serverIDs(t, leader))
	applyServices(t, leader, "b")
	waitService(t, "b", n2, n3)

	// Closing the new leader delivers false on its channel.
	c.stop(leader.ID())
	assert.False(t, recvBool(t, leaderCh, "false on Close"))
	// No further values: Close happens once.
	select {
	case v := <-leaderCh:
		t.Fatalf("unexpected extra value %v", v)
	default:
	}
}

func TestLeaderChangesSingleNode(t *testing.T) {
	n := openNode(t, testConfig(t, "n1", t.TempDir(), "127.0.0.1:0", true))
	ch, cancel := n.LeaderChanges()
	// The first value is the current one (false or true depending on how
	// far the election got); then only changes, so values alternate.
	var got []bool
	for !slices.Contains(got, true) {
		got = append(got, recvBool(t, ch, "leadership"))
	}
	for i := 1; i < len(got); i++ {
		assert.NotEqual(t, got[i-1], got[i], "values must alternate: %v", got)
	}
	require.NoError(t, n.Close())
	assert.False(t, recvBool(t, ch, "false on Close"))
	cancel()
	cancel() // idempotent

	// A subscriber after Close sees false.
	ch2, cancel2 := n.LeaderChanges()
	defer cancel2()
	assert.False(t, recvBool(t, ch2, "current value after Close"))
}

// TestHandOver moves leadership to another voter without an election
// timeout: HandOver on the leader, and Close of the leader.
func TestHandOver(t *testing.T) {
	c := newCluster(t)
	n1 := c.start("n1", true)
	require.Eventually(t, n1.IsLeader, waitTimeout, waitTick)
	require.ErrorIs(t, n1.HandOver(ctxT(t)), ErrNoVoter, "a single voter has nobody to hand over to")
	require.True(t, n1.IsLeader())
	n2 := c.start("n2", false)
	n3 := c.start("n3", false)
	require.NoError(t, n1.AddVoter(ctxT(t), "n2", n2.Addr()))
	require.NoError(t, n1.AddVoter(ctxT(t), "n3", n3.Addr()))
	applyServices(t, n1, "a")
	waitService(t, "a", n1, n2, n3)

	for _, f := range []*Node{n2, n3} {
		require.ErrorIs(t, f.HandOver(ctxT(t)), ErrNotLeader, "follower %s", f.ID())
	}
	term := n1.Stats().Term
	require.NoError(t, n1.HandOver(ctxT(t)))
	require.False(t, n1.IsLeader(), "the old leader steps down when the hand-over returns")
	leader := waitSingleLeader(t, n1, n2, n3)
	require.NotEqual(t, "n1", leader.ID())
	// A hand-over is one election in the next term; a timeout-driven one
	// would have needed the old leader to be silent.
	require.Equal(t, term+1, leader.Stats().Term)
	applyServices(t, leader, "b")
	waitService(t, "b", n1, n2, n3)

	// Closing the leader hands over first: by the time Close returns, a
	// voter already campaigns in the next term (it told the old leader so,
	// which is what ended the hand-over). Without it the others would
	// still be in the old term for a heartbeat timeout.
	term = leader.Stats().Term
	c.stop(leader.ID())
	var rest []*Node
	for _, n := range []*Node{n1, n2, n3} {
		if n != leader {
			rest = append(rest, n)
		}
	}
	require.True(t, slices.ContainsFunc(rest, func(n *Node) bool { return n.Stats().Term > term }),
		"no voter moved past term %d when Close returned", term)
	next := waitSingleLeader(t, rest...)
	require.Equal(t, term+1, next.Stats().Term)
}
