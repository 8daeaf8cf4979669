package state

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/config"
)

// Type names a command. Values are part of the Raft log format: never
// change or reuse one, only add (raft/DESIGN.md, "Versioning the log").
type Type string

// Command types.
const (
	// CmdApply creates or replaces documents, all or nothing.
	CmdApply Type = "apply"
	// CmdDelete removes one object.
	CmdDelete Type = "delete"
	// CmdSetMember records a node's addresses.
	CmdSetMember Type = "member.set"
	// CmdRemoveMember forgets a node.
	CmdRemoveMember Type = "member.remove"
	// CmdUndo sends a service's traffic back to the version before its
	// last promotion at once (UndoService).
	CmdUndo Type = "service.undo"
)

// Release event types: one per ReleaseEvent (release_events.go).
const (
	CmdReleaseStart           Type = "release.start"
	CmdReleaseAck             Type = "release.ack"
	CmdReleaseAnalysis        Type = "release.analysis"
	CmdReleaseHold            Type = "release.hold"
	CmdReleaseAdvance         Type = "release.advance"
	CmdReleasePromote         Type = "release.promote"
	CmdReleaseRollback        Type = "release.rollback"
	CmdReleaseAbort           Type = "release.abort"
	CmdReleasePause           Type = "release.pause"
	CmdReleaseResume          Type = "release.resume"
	CmdReleaseApproveStep     Type = "release.approve-step"
	CmdReleaseOverrideGate    Type = "release.override-gate"
	CmdReleaseApproveStartNow Type = "release.approve-start-now"
	CmdReleaseAwait           Type = "release.await"
	CmdReleaseSchedule        Type = "release.schedule"
	CmdReleaseError           Type = "release.error"
)

// Train event types: one per TrainEvent (train_events.go).
const (
	CmdTrainHealth   Type = "train.health"
	CmdTrainClear    Type = "train.clear"
	CmdTrainFail     Type = "train.fail"
	CmdTrainRollback Type = "train.rollback"
	CmdTrainAbort    Type = "train.abort"
	CmdTrainUnwind   Type = "train.unwind"
	CmdTrainFinish   Type = "train.finish"
	CmdTrainPause    Type = "train.pause"
	CmdTrainResume   Type = "train.resume"
	CmdTrainError    Type = "train.error"
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
	// documents create (train members and declared versions included), by
	// release name.
	Assessments map[string]*Assessment `json:"assessments,omitempty"`
	// Force lets static weights move the traffic of a Service covered by
	// a policy at once; the API allows it to admins only, and it is
	// recorded on the service with the actor.
	Force bool `json:"force,omitempty"`
	// Defaults is the generation of policy defaults the releases this
	// entry creates get (config.Defaults); zero is an entry written before
	// generations were recorded. Proposers set config.CurrentDefaults.
	Defaults config.Defaults `json:"defaults,omitempty"`
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
	// Started names the releases that changed declared versions started.
	Started []string `json:"started,omitempty"`
	// Forced names the services whose static weights were forced.
	Forced []string `json:"forced,omitempty"`
}

// Event is a payload that changes a release, a train or a service: the
// controller's decisions and people's actions. Type is its command type.
type Event interface {
	Type() Type
}

// NewCommand builds a command with a JSON payload.
func NewCommand(t Type, now time.Time, actor string, payload any) (Command, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return Command{}, fmt.Errorf("encode %s payload: %w", t, err)
	}
	return Command{Type: t, Time: now.UTC(), Actor: actor, Payload: raw}, nil
}

// EventCommand builds the command that carries an event.
func EventCommand(e Event, now time.Time, actor string) (Command, error) {
	return NewCommand(e.Type(), now, actor, e)
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

// change is a decoded command: it applies itself to a transaction.
type change interface {
	apply(t *tx) (any, error)
}

// decodeWith decodes a command's payload into a T and wraps it as the
// change it is.
func decodeWith[T any](c Command, wrap func(*T) change) (change, error) {
	var v T
	if err := decodePayload(c, &v); err != nil {
		return nil, err
	}
	return wrap(&v), nil
}

// payload is a payload that applies itself.
func payload[P change](p P) change { return p }

// release is a release event, applied by applyRelease.
func release[P ReleaseEvent](p P) change { return releaseChange{p} }

// train is a train event, applied by applyTrain.
func train[P TrainEvent](p P) change { return trainChange{p} }

// decode turns a command into the typed change it carries. It only
// decodes: what each change does is its own apply.
func decode(c Command) (change, error) {
	switch c.Type {
	case CmdApply:
		return decodeWith(c, payload[*ApplyPayload])
	case CmdDelete:
		return decodeWith(c, payload[*DeletePayload])
	case CmdSetMember:
		return decodeWith(c, payload[*Member])
	case CmdRemoveMember:
		return decodeWith(c, payload[*RemoveMemberPayload])
	case CmdRiskModel:
		return funcChange{f: applyRiskModel, c: c}, nil
	case CmdRiskInstall:
		return decodeWith(c, payload[*InstallRiskModel])
	case CmdUndo:
		return decodeWith(c, payload[*UndoService])
	case CmdServiceGroups:
		return decodeWith(c, payload[*ObserveGroups])
	case CmdObserveEndpoints:
		return decodeWith(c, payload[*ObserveEndpoints])
	case CmdReleaseStart:
		return decodeWith(c, release[*StartRelease])
	case CmdReleaseAck:
		return decodeWith(c, release[*AckStep])
	case CmdReleaseAnalysis:
		return decodeWith(c, release[*RecordAnalysis])
	case CmdReleaseHold:
		return decodeWith(c, release[*HoldRelease])
	case CmdReleaseAdvance:
		return decodeWith(c, release[*AdvanceStep])
	case CmdReleasePromote:
		return decodeWith(c, release[*Promote])
	case CmdReleaseRollback:
		return decodeWith(c, release[*Rollback])
	case CmdReleaseAbort:
		return decodeWith(c, release[*Abort])
	case CmdReleasePause:
		return decodeWith(c, release[*Pause])
	case CmdReleaseResume:
		return decodeWith(c, release[*Resume])
	case CmdReleaseApproveStep:
		return decodeWith(c, release[*ApproveStep])
	case CmdReleaseOverrideGate:
		return decodeWith(c, release[*OverrideGate])
	case CmdReleaseApproveStartNow:
		return decodeWith(c, release[*ApproveStartNow])
	case CmdReleaseAwait:
		return decodeWith(c, release[*Await])
	case CmdReleaseSchedule:
		return decodeWith(c, release[*Schedule])
	case CmdReleaseError:
		return decodeWith(c, release[*RecordError])
	case CmdReleaseRetireOld:
		return decodeWith(c, release[*RetireOld])
	case CmdReleaseWebhook:
		return decodeWith(c, release[*RecordWebhooks])
	case CmdReleaseRollbackGradual:
		return decodeWith(c, release[*GradualRollback])
	case CmdReleaseRollbackStep:
		return decodeWith(c, release[*RollbackStep])
	case CmdReleaseRollbackNow:
		return decodeWith(c, release[*RollbackNow])
	case CmdReleaseMirrorSkip:
		return decodeWith(c, release[*SkipMirror])
	case CmdReleaseMirrorHold:
		return decodeWith(c, release[*HoldMirror])
	case CmdTrainHealth:
		return decodeWith(c, train[*RecordHealth])
	case CmdTrainClear:
		return decodeWith(c, train[*ClearMember])
	case CmdTrainFail:
		return decodeWith(c, train[*FailTrain])
	case CmdTrainRollback:
		return decodeWith(c, train[*RollbackTrain])
	case CmdTrainAbort:
		return decodeWith(c, train[*AbortTrain])
	case CmdTrainUnwind:
		return decodeWith(c, train[*UnwindMember])
	case CmdTrainFinish:
		return decodeWith(c, train[*FinishTrain])
	case CmdTrainPause:
		return decodeWith(c, train[*PauseTrain])
	case CmdTrainResume:
		return decodeWith(c, train[*ResumeTrain])
	case CmdTrainError:
		return decodeWith(c, train[*RecordTrainError])
	case CmdNotifyAck:
		return decodeWith(c, payload[*AckNotice])
	case cmdLegacyReleaseUpdate:
		return decodeLegacyRelease(c)
	case cmdLegacyTrainUpdate:
		return decodeLegacyTrain(c)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownCommand, c.Type)
}

// funcChange applies a command through a function of the whole state
// (the risk model's, which owns its payload).
type funcChange struct {
	f func(*State, Command) (*State, any, error)
	c Command
}

func (fc funcChange) apply(t *tx) (any, error) {
	cur := t.cur()
	next, res, err := fc.f(cur, fc.c)
	if err != nil {
		return nil, err
	}
	if next != cur {
		t.replace(next)
	}
	return res, nil
}
