package raft

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// waitTimeout bounds every condition wait; generous because the machine is
// shared and the race detector slows Raft down.
const (
	waitTimeout = 20 * time.Second
	waitTick    = 10 * time.Millisecond
)

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testLogger buffers debug logs and prints them only if the test fails, so
// Raft goroutines logging after the test ends are harmless.
func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	buf := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node logs:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func testConfig(t *testing.T, id, dir, addr string, bootstrap bool) Config {
	t.Helper()
	return Config{
		NodeID:    id,
		DataDir:   dir,
		RaftAddr:  addr,
		Bootstrap: bootstrap,
		Logger:    testLogger(t).With("test", t.Name()),
		// hashicorp's defaults, longer than the server's: with 300 ms and a
		// 150 ms lease, a leader on two busy cores under -race lost its
		// lease while adding voters.
		HeartbeatTimeout:   time.Second,
		ElectionTimeout:    time.Second,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      20 * time.Millisecond,
	}
}

// openNode opens a node and closes it when the test ends.
func openNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, err := Open(cfg)
	require.NoError(t, err, "open node %s", cfg.NodeID)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// waitSingleLeader waits until exactly one of nodes is leader and every
// node agrees on it, and returns it.
func waitSingleLeader(t *testing.T, nodes ...*Node) *Node {
	t.Helper()
	var leader *Node
	require.Eventually(t, func() bool {
		leader = nil
		for _, n := range nodes {
			if n.IsLeader() {
				if leader != nil {
					return false
				}
				leader = n
			}
		}
		if leader == nil {
			return false
		}
		for _, n := range nodes {
			if id, _ := n.Leader(); id != leader.ID() {
				return false
			}
		}
		return true
	}, waitTimeout, waitTick, "no single agreed leader among %d nodes", len(nodes))
	return leader
}

// validService builds a Service that passes strict validation: protocol
// http, port 8080, one version with one endpoint.
func validService(name string) *config.Service {
	return &config.Service{
		APIVersion: config.APIVersion,
		Kind:       config.KindService,
		Metadata:   config.Metadata{Name: name},
		Spec: config.ServiceSpec{
			Protocol: config.ProtocolHTTP,
			Port:     8080,
			Versions: []config.Version{{
				Name:      "v1",
				Endpoints: []config.Endpoint{{Address: "127.0.0.1:9001"}},
			}},
		},
	}
}

func serviceDoc(name string) config.Document {
	return config.Document{Kind: config.KindService, Name: name, Service: validService(name)}
}

var testTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func applyCmd(t *testing.T, names ...string) state.Command {
	t.Helper()
	docs := make([]config.Document, 0, len(names))
	for _, n := range names {
		docs = append(docs, serviceDoc(n))
	}
	cmd, err := state.NewCommand(state.CmdApply, testTime, "test", state.ApplyPayload{Documents: docs})
	require.NoError(t, err)
	return cmd
}

func deleteCmd(t *testing.T, name string) state.Command {
	t.Helper()
	cmd, err := state.NewCommand(state.CmdDelete, testTime, "test", state.DeletePayload{Kind: config.KindService, Name: name})
	require.NoError(t, err)
	return cmd
}

func applyServices(t *testing.T, n *Node, names ...string) {
	t.Helper()
	_, err := n.Apply(ctxT(t), applyCmd(t, names...))
	require.NoError(t, err, "apply %v on %s", names, n.ID())
}

func stateJSON(t *testing.T, s *state.State) string {
	t.Helper()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	return string(b)
}

// waitService waits until every node has applied service name.
func waitService(t *testing.T, name string, nodes ...*Node) {
	t.Helper()
	for _, n := range nodes {
		require.Eventually(t, func() bool {
			_, ok := n.State().Services[name]
			return ok
		}, waitTimeout, waitTick, "service %s never reached node %s", name, n.ID())
	}
}

// waitSameState waits until every node's state serialises to want.
func waitSameState(t *testing.T, want string, nodes ...*Node) {
	t.Helper()
	for _, n := range nodes {
		require.Eventually(t, func() bool {
			return stateJSON(t, n.State()) == want
		}, waitTimeout, waitTick, "node %s never reached the expected state", n.ID())
	}
}

// recvBool waits for the next value on ch.
func recvBool(t *testing.T, ch <-chan bool, what string) bool {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		return false
	}
}
