package test

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/config"
)

func serviceYAML(name string, port int, v1Weight int) string {
	return fmt.Sprintf(`apiVersion: sluice.dev/v1alpha1
kind: Service
metadata:
  name: %s
spec:
  protocol: http
  port: %d
  domains: [%s.example.com]
  versions:
    - name: v1
      weight: %d
      endpoints: [{address: "127.0.0.1:9001", region: eu-west, zone: a}]
    - name: v2
      weight: %d
      endpoints: [{address: "127.0.0.1:9002", region: us-east, zone: b}]
`, name, port, name, v1Weight, 100-v1Weight)
}

// serviceWeights reads a service from one node and returns v1's weight.
func serviceWeight(p *proc, name string) (uint32, error) {
	raw, err := p.client().Get(context.Background(), "services", name)
	if err != nil {
		return 0, err
	}
	var s config.Service
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, err
	}
	return config.EffectiveWeights(&s.Spec)[0], nil
}

func waitWeightEverywhere(t *testing.T, procs []*proc, name string, want uint32) {
	t.Helper()
	for _, p := range procs {
		eventually(t, 20*time.Second, fmt.Sprintf("%s on %s has v1 weight %d", name, p.id, want), func() error {
			w, err := serviceWeight(p, name)
			if err != nil {
				return err
			}
			if w != want {
				return fmt.Errorf("v1 weight %d", w)
			}
			return nil
		})
	}
}

// TestClusterReplicationFailoverRestart runs three real server processes
// with on-disk Raft stores and checks forwarding, failover, catch-up and a
// full-cluster restart.
func TestClusterReplicationFailoverRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three server processes")
	}
	procs := startCluster(t, 3)
	leader, followers := splitLeader(t, procs)
	follower := followers[0]

	// A write sent to a follower is forwarded to the leader and becomes
	// visible on all three nodes.
	_, err := follower.client().Apply(ctxT(t), "a.yaml", []byte(serviceYAML("shop", 8080, 80)))
	require.NoError(t, err)
	waitWeightEverywhere(t, procs, "shop", 80)

	// A bad apply through a follower comes back with file:line:col and
	// changes nothing anywhere.
	_, err = follower.client().Apply(ctxT(t), "bad.yaml", []byte(serviceYAML("shop", 8080, 80)+"    extra: 1\n"))
	require.Error(t, err)
	require.Contains(t, err.Error(), "bad.yaml:")
	require.ErrorIs(t, err, config.ErrInvalid)

	// Stop the leader: the others elect a new one and writes still work.
	leader.stop(syscall.SIGKILL)
	rest := followers
	newLeader := leaderOf(t, rest)
	require.NotEqual(t, leader.id, newLeader.id)
	eventually(t, 20*time.Second, "apply after failover", func() error {
		_, err := rest[0].client().Apply(context.Background(), "b.yaml", []byte(serviceYAML("shop", 8080, 50)))
		return err
	})
	waitWeightEverywhere(t, rest, "shop", 50)

	// The old leader comes back on the same data directory and catches up.
	leader.start()
	waitReady(t, leader)
	waitWeightEverywhere(t, []*proc{leader}, "shop", 50)

	// Restart the whole cluster: the state is intact and writes work.
	for _, p := range procs {
		p.stop(syscall.SIGTERM)
	}
	for _, p := range procs {
		p.start()
	}
	waitMembers(t, procs, 3)
	waitWeightEverywhere(t, procs, "shop", 50)
	eventually(t, 20*time.Second, "apply after full restart", func() error {
		_, err := procs[2].client().Apply(context.Background(), "c.yaml", []byte(serviceYAML("shop", 8080, 10)))
		return err
	})
	waitWeightEverywhere(t, procs, "shop", 10)
}

// TestNonVoterReplicates adds a non-voter: it receives the state and serves
// reads, and the voters' quorum does not depend on it.
func TestNonVoterReplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	boot := newProc(t, "v1", "--bootstrap")
	boot.startFresh()
	waitReady(t, boot)
	nv := newProc(t, "nv1", "--join", boot.api, "--nonvoter")
	nv.startFresh()
	eventually(t, 20*time.Second, "non-voter in configuration", func() error {
		m, err := boot.client().Members(context.Background())
		if err != nil {
			return err
		}
		for _, mm := range m.Members {
			if mm.ID == "nv1" && mm.Suffrage == "nonvoter" && mm.APIAddr != "" {
				return nil
			}
		}
		return fmt.Errorf("members: %+v", m.Members)
	})
	// A write sent to the non-voter is forwarded and replicated back to it.
	_, err := nv.client().Apply(ctxT(t), "a.yaml", []byte(serviceYAML("shop", 8080, 30)))
	require.NoError(t, err)
	waitWeightEverywhere(t, []*proc{boot, nv}, "shop", 30)

	// Leave removes it.
	require.NoError(t, boot.client().Leave(ctxT(t), "nv1"))
	m, err := boot.client().Members(ctxT(t))
	require.NoError(t, err)
	for _, mm := range m.Members {
		require.NotEqual(t, "nv1", mm.ID)
	}
}

// TestConsistentReads writes through one follower and reads through the
// other at once: a consistent read always sees the write that returned
// before it began. A node that cannot reach a quorum refuses one.
func TestConsistentReads(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three server processes")
	}
	procs := startCluster(t, 3)
	leader, followers := splitLeader(t, procs)
	reader := followers[1].client()
	reader.Consistent = true
	for w := uint32(1); w <= 30; w++ {
		_, err := followers[0].client().Apply(ctxT(t), "a.yaml", []byte(serviceYAML("shop", 8080, int(w))))
		require.NoError(t, err)
		raw, err := reader.Get(ctxT(t), "services", "shop")
		require.NoError(t, err)
		var s config.Service
		require.NoError(t, json.Unmarshal(raw, &s))
		require.Equal(t, w, config.EffectiveWeights(&s.Spec)[0], "a consistent read misses a write that returned before it")
	}
	// Alone, the last follower has no leader to confirm a read.
	leader.stop(syscall.SIGKILL)
	followers[0].stop(syscall.SIGKILL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := reader.Get(ctx, "services", "shop")
	require.Error(t, err)
	var e *api.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, 503, e.Status, e.Error())
	_, err = followers[1].client().Get(ctxT(t), "services", "shop")
	require.NoError(t, err, "a plain read is still answered from the node's state")
}
