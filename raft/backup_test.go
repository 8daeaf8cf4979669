package raft

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/state"
)

// withoutMembers is a state's JSON without its membership records, which a
// restore keeps from the cluster restored into.
func withoutMembers(t *testing.T, s *state.State) string {
	t.Helper()
	c := *s
	c.Members = nil
	return stateJSON(t, &c)
}

// TestBackupRestoreIntoFreshCluster: a backup of one cluster restored into
// a fresh two-node cluster gives both nodes the identical state (members
// aside), and the restored cluster keeps committing with newer indexes.
func TestBackupRestoreIntoFreshCluster(t *testing.T) {
	src := openNode(t, testConfig(t, "a1", t.TempDir(), "127.0.0.1:0", true))
	require.Eventually(t, src.IsLeader, waitTimeout, waitTick)
	applyServices(t, src, "shop", "cart")
	_, err := src.Apply(ctxT(t), deleteCmd(t, "cart"))
	require.NoError(t, err)
	applyServices(t, src, "pay")
	var buf bytes.Buffer
	h, err := src.Backup(&buf)
	require.NoError(t, err)
	require.Equal(t, src.State().Index, h.StateIndex)

	c := newCluster(t)
	b1 := c.start("b1", true)
	require.Eventually(t, b1.IsLeader, waitTimeout, waitTick)
	b2 := c.start("b2", false)
	require.NoError(t, b1.AddVoter(ctxT(t), "b2", b2.Addr()))
	membersBefore := stateJSON(t, &state.State{Members: b1.State().Members})

	_, err = b1.RestoreBackup(ctxT(t), buf.Bytes(), false)
	require.NoError(t, err)
	want := withoutMembers(t, src.State())
	for _, n := range []*Node{b1, b2} {
		require.Eventually(t, func() bool { return withoutMembers(t, n.State()) == want }, waitTimeout, waitTick, "node %s", n.ID())
	}
	require.Equal(t, membersBefore, stateJSON(t, &state.State{Members: b1.State().Members}), "membership records are the new cluster's")

	applyServices(t, b1, "after")
	waitService(t, "after", b2)
	require.Greater(t, b1.State().Index, h.StateIndex, "indexes go on past the restored state's")
}

// TestRestoreRefusesDamagedBackups: a truncated or corrupted file, a file
// that is no backup, and one whose objects break the rules are refused
// with ErrBadBackup and change nothing; a cluster with objects is not
// replaced unless forced.
func TestRestoreRefusesDamagedBackups(t *testing.T) {
	n := openNode(t, testConfig(t, "n1", t.TempDir(), "127.0.0.1:0", true))
	require.Eventually(t, n.IsLeader, waitTimeout, waitTick)
	applyServices(t, n, "shop")
	var buf bytes.Buffer
	_, err := n.Backup(&buf)
	require.NoError(t, err)
	good := buf.Bytes()

	flipped := bytes.Clone(good)
	flipped[len(flipped)-10] ^= 0x20
	invalid := reseal(t, good, func(s string) string { return strings.Replace(s, `"protocol":"http"`, `"protocol":"smtp"`, 1) })
	for name, data := range map[string][]byte{
		"truncated":  good[:len(good)-20],
		"corrupted":  flipped,
		"not backup": []byte("{\"services\": {}}\n{}"),
		"empty":      nil,
		"bad object": invalid,
	} {
		_, err := n.RestoreBackup(ctxT(t), data, true)
		require.ErrorIs(t, err, ErrBadBackup, name)
	}
	require.Contains(t, n.State().Services, "shop")

	applyServices(t, n, "cart")
	_, err = n.RestoreBackup(ctxT(t), good, false)
	require.ErrorIs(t, err, ErrNotEmpty)
	require.Contains(t, n.State().Services, "cart")
	_, err = n.RestoreBackup(ctxT(t), good, true)
	require.NoError(t, err)
	require.NotContains(t, n.State().Services, "cart", "forced: the backup's state replaces the current one")
}

// reseal edits a backup's state and fixes its header, as a careful forger
// would: only the configuration rules can catch it.
func reseal(t *testing.T, backup []byte, edit func(string) string) []byte {
	t.Helper()
	i := bytes.IndexByte(backup, '\n')
	var h BackupHeader
	require.NoError(t, json.Unmarshal(backup[:i], &h))
	body := edit(string(backup[i+1:]))
	require.NotEqual(t, string(backup[i+1:]), body, "the edit changed nothing")
	sum := sha256.Sum256([]byte(body))
	h.Bytes, h.SHA256 = int64(len(body)), hex.EncodeToString(sum[:])
	line, err := json.Marshal(h)
	require.NoError(t, err)
	return append(append(line, '\n'), body...)
}
