package test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/test/xdsload"
	"github.com/sluicehq/sluice/xds"
)

// TestReconnectStormAfterRestartBuildsOnce connects 500 ADS streams at
// once to a follower of a three-node cluster, restarts that node's process
// on its data directory and connects 500 streams at once again, as every
// proxy does when its node comes back. Each time the group's snapshot is
// built once, plus once per rebuild the node did meanwhile for state
// changes, never once per stream.
func TestReconnectStormAfterRestartBuildsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three server processes")
	}
	const streams = 500
	procs := startCluster(t, 3)
	_, followers := splitLeader(t, procs)
	node := followers[0]
	ar, err := node.client().Apply(ctxT(t), "fleet.yaml", xdsload.FleetYAML(5))
	require.NoError(t, err)

	status := func() xds.Status {
		t.Helper()
		st, err := node.client().XDSStatus(ctxT(t))
		require.NoError(t, err)
		return *st
	}
	caughtUp := func() {
		t.Helper()
		eventually(t, 30*time.Second, node.id+" serving index "+fmt.Sprint(ar.Index), func() error {
			if st := status(); st.StateIndex < ar.Index {
				return fmt.Errorf("xDS state index %d", st.StateIndex)
			}
			return nil
		})
	}
	storm := func(what string) *xdsload.Client {
		t.Helper()
		before := status()
		opts := xdsload.FleetOptions(streams, 50)
		opts.Addr = node.xds
		c, err := xdsload.Dial(opts)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		require.NoError(t, c.WaitSynced(ctx, xdsload.SplitWeights(0)), what)
		var after xds.Status
		eventually(t, 30*time.Second, what+": every stream synced on the node", func() error {
			after = status()
			if len(after.Groups) != 1 || after.Groups[0].Synced != streams {
				return fmt.Errorf("groups %+v", after.Groups)
			}
			return nil
		})
		builds, rebuilds := after.Builds-before.Builds, after.Sequence-before.Sequence
		t.Logf("%s: %d builds, %d rebuilds", what, builds, rebuilds)
		require.GreaterOrEqual(t, builds, uint64(1), what)
		require.LessOrEqualf(t, builds, 1+rebuilds, "%s: the group was built %d times during %d rebuilds", what, builds, rebuilds)
		return c
	}

	caughtUp()
	c := storm("first connect")

	node.stop(syscall.SIGKILL)
	require.NoError(t, c.Close())
	node.start()
	waitReady(t, node)
	caughtUp()
	storm("after the restart")
}
