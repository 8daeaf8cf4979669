// Package servertest starts real single-node Sluice servers (Raft on disk
// in a temporary directory, xDS and API on free loopback ports) for tests
// of other packages.
package servertest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/raft"
	"github.com/sluicehq/sluice/server"
)

// Start runs a bootstrapped node with short Raft timeouts, lets configure
// change its configuration first (nil changes nothing), waits until it is
// ready and closes it when the test ends.
func Start(t testing.TB, configure func(*server.Config)) *server.Node {
	t.Helper()
	cfg := server.Config{
		NodeID: "t1", DataDir: t.TempDir(), Bootstrap: true, Dev: true,
		APIAddr: "127.0.0.1:0", XDSAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0",
		Raft: raft.Config{HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond},
	}
	if configure != nil {
		configure(&cfg)
	}
	n, err := server.Start(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	c := api.NewClient(n.APIAddr())
	deadline := time.Now().Add(20 * time.Second)
	for !c.Ready(context.Background()) {
		require.True(t, time.Now().Before(deadline), "node never became ready")
		time.Sleep(20 * time.Millisecond)
	}
	return n
}
