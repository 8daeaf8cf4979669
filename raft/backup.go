package raft

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// BackupFormat names the backup file format.
const BackupFormat = "sluice-backup/1"

// ErrBadBackup is returned for a backup file that cannot be restored: not
// a backup, truncated, corrupted or holding invalid objects. Nothing is
// changed then.
var ErrBadBackup = errors.New("not a restorable Sluice backup")

// ErrNotEmpty is returned when a restore would replace a state that holds
// objects and the caller did not say it may.
var ErrNotEmpty = errors.New("the cluster already holds objects")

// BackupHeader is the first line of a backup file. The rest of the file
// is the state snapshot, exactly as Raft snapshots store it.
type BackupHeader struct {
	Format string `json:"format"`
	// Node is the node that wrote the backup, StateIndex the state's
	// index (the xDS version) and AppliedIndex the Raft index applied then.
	Node         string `json:"node"`
	StateIndex   uint64 `json:"stateIndex"`
	AppliedIndex uint64 `json:"appliedIndex"`
	// SavedAt is the saving node's clock, for people; nothing depends on it.
	SavedAt time.Time `json:"savedAt"`
	// Bytes and SHA256 describe the snapshot after the header line.
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Backup writes this node's applied state as a backup file. The state is
// one immutable value, so the backup is consistent however busy the
// cluster is; call Barrier first on the leader for the newest state.
func (n *Node) Backup(w io.Writer) (BackupHeader, error) {
	st := n.State()
	var body bytes.Buffer
	if err := state.WriteSnapshot(st, &body); err != nil {
		return BackupHeader{}, err
	}
	sum := sha256.Sum256(body.Bytes())
	h := BackupHeader{Format: BackupFormat, Node: n.id, StateIndex: st.Index, AppliedIndex: n.Stats().AppliedIndex,
		SavedAt: time.Now().UTC(), Bytes: int64(body.Len()), SHA256: hex.EncodeToString(sum[:])}
	line, err := json.Marshal(h)
	if err != nil {
		return BackupHeader{}, err
	}
	if _, err := w.Write(append(line, '\n')); err != nil {
		return BackupHeader{}, fmt.Errorf("write backup: %w", err)
	}
	if _, err := w.Write(body.Bytes()); err != nil {
		return BackupHeader{}, fmt.Errorf("write backup: %w", err)
	}
	return h, nil
}

// maxHeaderLine bounds the header line of a backup.
const maxHeaderLine = 4 << 10

// ReadBackup reads and checks a backup file: header, size, checksum, the
// state itself, and every Service and ReleasePolicy in it against the
// configuration rules.
func ReadBackup(data []byte) (*state.State, BackupHeader, error) {
	var h BackupHeader
	r := bufio.NewReaderSize(bytes.NewReader(data), maxHeaderLine)
	line, err := r.ReadSlice('\n')
	if err != nil {
		return nil, h, fmt.Errorf("%w: no header line (%v)", ErrBadBackup, err)
	}
	if err := json.Unmarshal(line, &h); err != nil || h.Format != BackupFormat {
		return nil, h, fmt.Errorf("%w: the first line is not a %s header", ErrBadBackup, BackupFormat)
	}
	body := data[len(line):]
	sum := sha256.Sum256(body)
	switch {
	case int64(len(body)) != h.Bytes:
		return nil, h, fmt.Errorf("%w: the header announces %d bytes of state, the file holds %d (truncated?)", ErrBadBackup, h.Bytes, len(body))
	case hex.EncodeToString(sum[:]) != h.SHA256:
		return nil, h, fmt.Errorf("%w: checksum mismatch (the file is corrupted)", ErrBadBackup)
	}
	st, err := state.ReadSnapshot(bytes.NewReader(body))
	if err != nil {
		return nil, h, fmt.Errorf("%w: %w", ErrBadBackup, err)
	}
	if st.Index != h.StateIndex {
		return nil, h, fmt.Errorf("%w: state index %d, header says %d", ErrBadBackup, st.Index, h.StateIndex)
	}
	if err := checkObjects(st); err != nil {
		return nil, h, fmt.Errorf("%w: %w", ErrBadBackup, err)
	}
	return st, h, nil
}

// checkObjects runs the configuration rules over a restored state's
// services and policies, as if they were applied together.
func checkObjects(st *state.State) error {
	var docs []config.Document
	for _, name := range st.ServiceNames() {
		docs = append(docs, config.Document{Kind: config.KindService, Name: name, Service: st.Services[name]})
	}
	for _, name := range st.ReleasePolicyNames() {
		docs = append(docs, config.Document{Kind: config.KindReleasePolicy, Name: name, ReleasePolicy: st.Policies[name]})
	}
	if len(docs) == 0 {
		return nil
	}
	return config.Check(docs, state.New())
}

// RestoreBackup replaces the replicated state with a backup's, on every
// node: hashicorp/raft's user restore installs it as a snapshot past the
// current log and followers receive it. Leader only. The cluster's own
// membership records are kept (the backup's name the nodes of the cluster
// it came from). Unless force, a state that holds any object is not
// replaced. The backup is checked in full before anything changes.
func (n *Node) RestoreBackup(ctx context.Context, data []byte, force bool) (BackupHeader, error) {
	st, h, err := ReadBackup(data)
	if err != nil {
		return h, err
	}
	if cur := n.State(); !force && (len(cur.Services) > 0 || len(cur.Policies) > 0 || len(cur.Releases) > 0 || len(cur.Trains) > 0) {
		return h, fmt.Errorf("%w (%d services, %d policies, %d releases): restoring would replace them; say so explicitly (force)",
			ErrNotEmpty, len(cur.Services), len(cur.Policies), len(cur.Releases))
	}
	st.Members = n.State().Members
	var body bytes.Buffer
	if err := state.WriteSnapshot(st, &body); err != nil {
		return h, err
	}
	timeout, err := enqueueTimeout(ctx)
	if err != nil {
		return h, err
	}
	meta := &hraft.SnapshotMeta{Version: hraft.SnapshotVersionMax, Index: st.Index, Size: int64(body.Len())}
	errc := make(chan error, 1)
	go func() { errc <- n.raft.Restore(meta, &body, timeout) }()
	select {
	case err := <-errc:
		if err != nil {
			return h, raftError("restore backup", err)
		}
	case <-ctx.Done():
		return h, ctx.Err()
	}
	n.log.Info("state restored from a backup", "from_node", h.Node, "state_index", h.StateIndex, "saved_at", h.SavedAt)
	return h, nil
}
