package raft

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

func TestSingleNodeApply(t *testing.T) {
	dir := t.TempDir()
	n := openNode(t, testConfig(t, "n1", dir, "127.0.0.1:0", true))
	require.NoError(t, n.WaitLeader(ctxT(t)))
	require.Eventually(t, n.IsLeader, waitTimeout, waitTick)
	id, addr := n.Leader()
	assert.Equal(t, "n1", id)
	assert.Equal(t, n.Addr(), addr)
	assert.NotEqual(t, "127.0.0.1:0", n.Addr(), "port 0 must resolve to the real port")
	assert.FileExists(t, filepath.Join(dir, "raft.db"))
	assert.DirExists(t, filepath.Join(dir, "snapshots"))

	before := n.State()
	require.NotNil(t, before)
	assert.Empty(t, before.Services)

	changes, cancel := n.Subscribe()
	defer cancel()

	res, err := n.Apply(ctxT(t), applyCmd(t, "web"))
	require.NoError(t, err)
	assert.Equal(t, state.ApplyResult{Created: []string{"Service/web"}}, res)

	s := n.State()
	require.Contains(t, s.Services, "web")
	assert.Equal(t, validService("web"), s.Services["web"])
	// The FSM notifies before the future resolves, so the signal is
	// already there when Apply returns.
	select {
	case <-changes:
	default:
		t.Fatal("Subscribe did not fire after a state change")
	}
	st := n.Stats()
	assert.Equal(t, st.LastLogIndex, s.Index, "Index is the log index of the command that changed the state")
	assert.Equal(t, s.Index, st.StateIndex)
	assert.Equal(t, "Leader", st.RaftState)
	assert.Equal(t, "n1", st.LeaderID)
	assert.Equal(t, time.Duration(0), st.LastContact)
	assert.Positive(t, st.Term)

	// Re-applying the same document changes nothing: same pointer, same
	// Index, no notification.
	res, err = n.Apply(ctxT(t), applyCmd(t, "web"))
	require.NoError(t, err)
	assert.Equal(t, state.ApplyResult{Unchanged: []string{"Service/web"}}, res)
	assert.Same(t, s, n.State())
	assert.Empty(t, changes, "no notification for an apply that changed nothing")

	// An FSM error comes back wrapped and changes nothing.
	_, err = n.Apply(ctxT(t), deleteCmd(t, "missing"))
	require.Error(t, err)
	// config.CheckDelete reports it before the state's own check does;
	// either sentinel must survive the trip through Raft.
	assert.True(t, errors.Is(err, state.ErrNotFound) || errors.Is(err, config.ErrNotFound), "got %v", err)
	assert.Same(t, s, n.State())
	assert.Empty(t, changes)

	// A document the config checks reject: config.ErrInvalid, with the
	// field errors still extractable, and nothing applied.
	bad := serviceDoc("bad")
	bad.Service.Spec.Protocol = "ftp"
	cmd, err := state.NewCommand(state.CmdApply, testTime, "test", state.ApplyPayload{Documents: []config.Document{bad}})
	require.NoError(t, err)
	_, err = n.Apply(ctxT(t), cmd)
	require.ErrorIs(t, err, config.ErrInvalid)
	fieldErrs, ok := config.AsErrors(err)
	require.True(t, ok, "field errors must survive wrapping: %v", err)
	require.NotEmpty(t, fieldErrs)
	assert.Equal(t, "spec.protocol", fieldErrs[0].Field)
	assert.Same(t, s, n.State())

	_, err = n.Apply(ctxT(t), state.Command{Type: "no.such.command", Time: testTime})
	require.ErrorIs(t, err, state.ErrUnknownCommand)
	_, err = n.Apply(ctxT(t), state.Command{Type: state.CmdApply, Time: testTime, Payload: json.RawMessage(`"not an object"`)})
	require.ErrorIs(t, err, state.ErrBadPayload)
	assert.Same(t, s, n.State())

	// Delete works and fires.
	_, err = n.Apply(ctxT(t), deleteCmd(t, "web"))
	require.NoError(t, err)
	assert.NotContains(t, n.State().Services, "web")
	assert.Greater(t, n.State().Index, s.Index)
	select {
	case <-changes:
	default:
		t.Fatal("Subscribe did not fire after a delete")
	}

	require.NoError(t, n.Barrier(ctxT(t)))
	servers, err := n.Servers()
	require.NoError(t, err)
	assert.Equal(t, []Server{{ID: "n1", Address: n.Addr(), Suffrage: SuffrageVoter, Leader: true}}, servers)

	// After Close the node refuses work, and Close is idempotent.
	require.NoError(t, n.Close())
	require.NoError(t, n.Close())
	_, err = n.Apply(ctxT(t), applyCmd(t, "web"))
	require.ErrorIs(t, err, ErrShutdown)
	assert.False(t, n.IsLeader())
	assert.Equal(t, "Shutdown", n.Stats().RaftState)
	require.ErrorIs(t, n.WaitLeader(ctxT(t)), ErrShutdown)
}

func TestApplyStampsTimeAndHonoursContext(t *testing.T) {
	n := openNode(t, testConfig(t, "n1", t.TempDir(), "127.0.0.1:0", true))
	require.NoError(t, n.WaitLeader(ctxT(t)))
	require.Eventually(t, n.IsLeader, waitTimeout, waitTick)

	// A zero time is stamped by the leader before the command is logged.
	cmd := applyCmd(t, "web")
	cmd.Time = time.Time{}
	before := time.Now()
	_, err := n.Apply(ctxT(t), cmd)
	require.NoError(t, err)
	var entry hraft.Log
	require.NoError(t, n.store.GetLog(n.State().Index, &entry))
	logged, err := state.DecodeCommand(entry.Data)
	require.NoError(t, err)
	assert.Equal(t, state.CmdApply, logged.Type)
	assert.False(t, logged.Time.Before(before.Truncate(time.Second)), "stamped time %v", logged.Time)
	assert.Equal(t, time.UTC, logged.Time.Location())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = n.Apply(ctx, applyCmd(t, "api"))
	require.ErrorIs(t, err, context.Canceled)
	assert.NotContains(t, n.State().Services, "api")
}

func TestApplyTooLarge(t *testing.T) {
	n := openNode(t, testConfig(t, "n1", t.TempDir(), "127.0.0.1:0", true))
	require.NoError(t, n.WaitLeader(ctxT(t)))
	big := make([]byte, 600<<10)
	for i := range big {
		big[i] = 'a'
	}
	payload, err := json.Marshal(string(big))
	require.NoError(t, err)
	_, err = n.Apply(ctxT(t), state.Command{Type: state.CmdApply, Time: testTime, Payload: payload})
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestNotLeader(t *testing.T) {
	// A node that was never bootstrapped nor added has no cluster: it can
	// never be leader.
	n := openNode(t, testConfig(t, "lonely", t.TempDir(), "127.0.0.1:0", false))
	_, err := n.Apply(ctxT(t), applyCmd(t, "web"))
	require.ErrorIs(t, err, ErrNotLeader)
	require.ErrorIs(t, n.Barrier(ctxT(t)), ErrNotLeader)
	require.ErrorIs(t, n.AddVoter(ctxT(t), "x", "127.0.0.1:1"), ErrNotLeader)
	require.ErrorIs(t, n.RemoveServer(ctxT(t), "x"), ErrNotLeader)
	assert.False(t, n.IsLeader())
	id, addr := n.Leader()
	assert.Empty(t, id)
	assert.Empty(t, addr)
	assert.Empty(t, n.State().Services)
	assert.Equal(t, time.Duration(-1), n.Stats().LastContact)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, n.WaitLeader(ctx), context.DeadlineExceeded)
}

func TestOpenErrors(t *testing.T) {
	base := testConfig(t, "n1", t.TempDir(), "127.0.0.1:0", true)
	for name, mutate := range map[string]func(*Config){
		"no id":          func(c *Config) { c.NodeID = "" },
		"no dir":         func(c *Config) { c.DataDir = "" },
		"no addr":        func(c *Config) { c.RaftAddr = "" },
		"lease too long": func(c *Config) { c.LeaderLeaseTimeout = c.HeartbeatTimeout + time.Millisecond },
		"bad advertise":  func(c *Config) { c.AdvertiseAddr = "no-port" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := base
			mutate(&cfg)
			_, err := Open(cfg)
			require.ErrorIs(t, err, ErrConfig)
		})
	}

	t.Run("unspecified bind address without advertise", func(t *testing.T) {
		cfg := base
		cfg.DataDir = t.TempDir()
		cfg.RaftAddr = "0.0.0.0:0"
		_, err := Open(cfg)
		require.Error(t, err)
	})

	t.Run("advertise address", func(t *testing.T) {
		cfg := base
		cfg.DataDir = t.TempDir()
		cfg.RaftAddr = "0.0.0.0:0"
		cfg.AdvertiseAddr = "127.0.0.1:7999"
		n := openNode(t, cfg)
		assert.Equal(t, "127.0.0.1:7999", n.Addr())
	})

	t.Run("data dir in use", func(t *testing.T) {
		cfg := base
		cfg.DataDir = t.TempDir()
		openNode(t, cfg)
		_, err := Open(cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "another node")
	})

	t.Run("data dir is a file", func(t *testing.T) {
		cfg := base
		f := filepath.Join(t.TempDir(), "file")
		require.NoError(t, os.WriteFile(f, nil, 0o600))
		cfg.DataDir = f
		_, err := Open(cfg)
		require.Error(t, err)
	})
}
