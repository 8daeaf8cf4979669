package api

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/sluicehq/sluice/raft"
)

// MaxBackupBytes bounds a backup sent to POST /v1/snapshot.
const MaxBackupBytes = 64 << 20

// BackupHeader is the header a backup names its origin with.
const BackupHeader = "X-Sluice-Backup"

// snapshotSave serves a backup of the state (admin: it holds everything).
// By default it is taken on the leader after a barrier, so it holds every
// committed change; ?local=true takes this node's applied state instead,
// which works without a leader (a cluster that lost its quorum can still
// be backed up from any node).
func (s *Server) snapshotSave(w http.ResponseWriter, r *http.Request) {
	local := r.URL.Query().Get("local") == "true"
	if !local && !s.cluster.IsLeader() {
		s.write(s.snapshotSave)(w, r)
		return
	}
	if !local {
		if err := s.cluster.Barrier(r.Context()); err != nil {
			s.writeError(w, fmt.Errorf("wait for every committed change before the backup: %w", err))
			return
		}
	}
	var buf bytes.Buffer
	h, err := s.cluster.Backup(&buf)
	if err != nil {
		s.writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(BackupHeader, fmt.Sprintf("node=%s; stateIndex=%d", h.Node, h.StateIndex))
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
	s.log.Info("backup taken", "actor", actor(r), "state_index", h.StateIndex, "bytes", buf.Len(), "local", local)
}

// RestoreResponse is the body of a successful restore.
type RestoreResponse struct {
	raft.BackupHeader
	// Index is the state index after the restore.
	Index uint64 `json:"index"`
}

// snapshotRestore replaces the cluster's state with a backup (admin). A
// cluster that holds objects is only replaced with ?force=true.
func (s *Server) snapshotRestore(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeError(w, fmt.Errorf("%w: read body: %w", errBadRequest, err))
		return
	}
	h, err := s.cluster.RestoreBackup(r.Context(), data, r.URL.Query().Get("force") == "true")
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.log.Warn("state replaced from a backup", "actor", actor(r), "from_node", h.Node, "state_index", h.StateIndex, "saved_at", h.SavedAt)
	writeJSON(w, http.StatusOK, RestoreResponse{BackupHeader: h, Index: s.cluster.State().Index})
}
