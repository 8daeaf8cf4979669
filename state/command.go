package state

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/config"
)

// Type names a command.
type Type string

// Command types. Values are part of the Raft log format: never change one,
// only add.
const (
	// CmdApply creates or replaces documents, all or nothing.
	CmdApply Type = "apply"
	// CmdDelete removes one object.
	CmdDelete Type = "delete"
	// CmdSetMember records a node's addresses.
	CmdSetMember Type = "member.set"
	// CmdRemoveMember forgets a node.
	CmdRemoveMember Type = "member.remove"
)

// Command is the single envelope for every change to replicated state. The
// leader fills Time (Apply never reads a clock) and Actor (who asked).
type Command struct {
	Type    Type            `json:"type"`
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// ApplyPayload is the payload of CmdApply.
type ApplyPayload struct {
	Documents []config.Document `json:"documents"`
	// Assessments are the leader's risk assessments of the releases the
	// documents create (train members included), by release name.
	Assessments map[string]*Assessment `json:"assessments,omitempty"`
}

// DeletePayload is the payload of CmdDelete.
type DeletePayload struct {
	Kind config.Kind `json:"kind"`
	Name string      `json:"name"`
}

// RemoveMemberPayload is the payload of CmdRemoveMember.
type RemoveMemberPayload struct {
	ID string `json:"id"`
}

// ApplyResult reports what CmdApply changed.
type ApplyResult struct {
	Created   []string `json:"created,omitempty"`
	Updated   []string `json:"updated,omitempty"`
	Unchanged []string `json:"unchanged,omitempty"`
}

// NewCommand builds a command with a JSON payload.
func NewCommand(t Type, now time.Time, actor string, payload any) (Command, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return Command{}, fmt.Errorf("encode %s payload: %w", t, err)
	}
	return Command{Type: t, Time: now.UTC(), Actor: actor, Payload: raw}, nil
}

// Encode serialises a command for the Raft log.
func (c Command) Encode() ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode command %s: %w", c.Type, err)
	}
	return b, nil
}

// DecodeCommand parses a Raft log entry.
func DecodeCommand(b []byte) (Command, error) {
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return Command{}, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	return c, nil
}

func decodePayload(c Command, v any) error {
	if err := json.Unmarshal(c.Payload, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadPayload, c.Type, err)
	}
	return nil
}
