package state

import (
	"fmt"
	"slices"
)

// OnTrain is the head of every train event: which train, the phase the
// proposer saw (a guarded update) and the message recorded.
type OnTrain struct {
	Train   string     `json:"train"`
	Expect  TrainPhase `json:"expectPhase"`
	Message string     `json:"message,omitempty"`
}

// OnTrainNow is the head of an event about t as it is now.
func OnTrainNow(t *Train, msg string) OnTrain {
	return OnTrain{Train: t.Name(), Expect: t.Status.Phase, Message: msg}
}

// Note is the message recorded with the event.
func (o *OnTrain) Note() string { return o.Message }

func (o *OnTrain) head() *OnTrain     { return o }
func (o *OnTrain) about() string      { return "" }
func (o *OnTrain) check(*Train) error { return nil }

// OnMember is the head of a train event about one member.
type OnMember struct {
	OnTrain
	Member string `json:"member"`
}

func (o *OnMember) about() string { return o.Member }

func (o *OnMember) check(t *Train) error {
	if _, ok := t.Member(o.Member); !ok {
		return fmt.Errorf("%w: ReleaseTrain %q has no member %q", ErrNotFound, t.Name(), o.Member)
	}
	return nil
}

// TrainEvent is one change to one train (and, through it, to its
// members' releases). applyTrain does the guard, the table and the
// record; the event does the rest.
type TrainEvent interface {
	Event
	head() *OnTrain
	// about is the member the event is about ("" for the whole train).
	about() string
	check(t *Train) error
	change(tt *trainTx) error
}

// trainTx is a train event being applied.
type trainTx struct {
	*tx
	t *Train
}

func (tt *trainTx) member(name string) *TrainMemberStatus {
	m, _ := tt.t.Member(name)
	return m
}

// memberRelease applies a train event's effect to a member's release
// where ReleaseTransitions allows event e: ok is false when it does not.
func (tt *trainTx) memberRelease(m *TrainMemberStatus, e Type) (*Release, bool) {
	r := tt.cur().Releases[m.Release]
	if r == nil || !AllowedFor(e, r) {
		return nil, false
	}
	return tt.release(m.Release), true
}

type trainChange struct{ e TrainEvent }

func (tc trainChange) apply(t *tx) (any, error) { return applyTrain(t, tc.e) }

func applyTrain(t *tx, e TrainEvent) (any, error) {
	h := e.head()
	cur, ok := t.cur().Trains[h.Train]
	if !ok {
		return nil, fmt.Errorf("%w: ReleaseTrain %q", ErrNotFound, h.Train)
	}
	if cur.Status.Phase != h.Expect {
		return nil, fmt.Errorf("%w: ReleaseTrain %q is %s, the decision expected %s", ErrConflict, h.Train, cur.Status.Phase, h.Expect)
	}
	tr, err := allowTrain(e.Type(), cur)
	if err != nil {
		return nil, err
	}
	if err := e.check(cur); err != nil {
		return nil, err
	}
	tt := &trainTx{tx: t, t: t.train(h.Train)}
	if err := e.change(tt); err != nil {
		return nil, err
	}
	msg := h.Message
	if m := e.about(); m != "" {
		msg = m + ": " + msg
	}
	record(&tt.t.Status.Decisions, t.decision(tr.Records, msg))
	return tt.t.Status.Phase, nil
}

// RecordHealth records one health check attempt of a member.
type RecordHealth struct {
	OnMember
	Health HealthStatus `json:"health"`
}

func (*RecordHealth) Type() Type { return CmdTrainHealth }

func (e *RecordHealth) check(t *Train) error {
	if err := e.OnMember.check(t); err != nil {
		return err
	}
	if m, _ := t.Member(e.Member); m.Cleared {
		return fmt.Errorf("%w: member %s of ReleaseTrain %q has started already", ErrBadTransition, e.Member, t.Name())
	}
	return nil
}

func (e *RecordHealth) change(tt *trainTx) error {
	tt.member(e.Member).Health = e.Health
	return nil
}

// ClearMember lets a member's release start: what it depends on got far
// enough and its health check passed.
type ClearMember struct{ OnMember }

func (*ClearMember) Type() Type { return CmdTrainClear }

func (e *ClearMember) check(t *Train) error {
	if err := e.OnMember.check(t); err != nil {
		return err
	}
	if m, _ := t.Member(e.Member); m.Cleared {
		return fmt.Errorf("%w: member %s of ReleaseTrain %q is cleared already", ErrBadTransition, e.Member, t.Name())
	}
	return nil
}

func (e *ClearMember) change(tt *trainTx) error {
	m := tt.member(e.Member)
	m.Cleared = true
	if r, ok := tt.memberRelease(m, CmdTrainClear); ok {
		r.Status.Blocked = ""
		tt.recordOn(r, DecisionClear, e.Message, nil)
	}
	return nil
}

// stop starts the joint rollback.
func stop(tt *trainTx, member, reason string, abort bool) {
	ts := &tt.t.Status
	ts.Phase, ts.Reason, ts.FailedMember, ts.Abort = TrainRollingBack, reason, member, abort
}

// FailTrain starts the joint rollback because a member failed.
type FailTrain struct{ OnMember }

func (*FailTrain) Type() Type { return CmdTrainFail }

func (e *FailTrain) change(tt *trainTx) error {
	stop(tt, e.Member, e.Message, false)
	return nil
}

// RollbackTrain is a person's joint rollback.
type RollbackTrain struct{ OnTrain }

func (*RollbackTrain) Type() Type { return CmdTrainRollback }

func (e *RollbackTrain) change(tt *trainTx) error {
	stop(tt, "", e.Message, false)
	return nil
}

// AbortTrain is a person's joint rollback that ends the train Aborted.
type AbortTrain struct{ OnTrain }

func (*AbortTrain) Type() Type { return CmdTrainAbort }

func (e *AbortTrain) change(tt *trainTx) error {
	stop(tt, "", e.Message, true)
	return nil
}

// UnwindMember rolls back one member during the joint rollback: a release
// that never moved traffic is cancelled (Aborted), one that did is rolled
// back, even if it was promoted.
type UnwindMember struct{ OnMember }

func (*UnwindMember) Type() Type { return CmdTrainUnwind }

func (e *UnwindMember) check(t *Train) error {
	if err := e.OnMember.check(t); err != nil {
		return err
	}
	if m, _ := t.Member(e.Member); m.Unwound {
		return fmt.Errorf("%w: member %s of ReleaseTrain %q was unwound already", ErrBadTransition, e.Member, t.Name())
	}
	return nil
}

func (e *UnwindMember) change(tt *trainTx) error {
	m := tt.member(e.Member)
	m.Unwound = true
	tt.t.Status.RollbackOrder = append(tt.t.Status.RollbackOrder, m.Name)
	r, ok := tt.memberRelease(m, CmdTrainUnwind)
	if !ok {
		return nil // it ended on its own
	}
	if r.Status.Phase.Waiting() {
		r.Status.Blocked = ""
		finish(tt.tx, r, PhaseAborted, r.Status.From, 0, "cancelled: "+e.Message)
	} else {
		finish(tt.tx, r, PhaseRolledBack, r.Status.From, 0, "joint rollback: "+e.Message)
	}
	tt.recordOn(r, DecisionRollback, r.Status.Reason, nil)
	return nil
}

// FinishTrain ends the train once every member has ended.
type FinishTrain struct{ OnTrain }

func (*FinishTrain) Type() Type { return CmdTrainFinish }

func (e *FinishTrain) change(tt *trainTx) error {
	ts := &tt.t.Status
	for _, m := range ts.Members {
		if r := tt.cur().Releases[m.Release]; r == nil || !r.Status.Phase.Terminal() {
			return fmt.Errorf("%w: member %s of ReleaseTrain %q has not ended", ErrBadTransition, m.Name, tt.t.Name())
		}
	}
	switch {
	case ts.Phase == TrainProgressing:
		ts.Phase = TrainPromoted
	case ts.Abort:
		ts.Phase = TrainAborted
	default:
		ts.Phase = TrainRolledBack
	}
	ts.EndedAt = tt.time
	for _, m := range ts.Members {
		if tt.cur().Active[m.Service] == m.Release {
			delete(tt.active(), m.Service)
		}
	}
	return nil
}

// PauseTrain stops the train and the clocks of its members that move
// traffic (the others cannot start while the train is paused).
type PauseTrain struct{ OnTrain }

func (*PauseTrain) Type() Type { return CmdTrainPause }

func (e *PauseTrain) change(tt *trainTx) error {
	tt.t.Status.Phase = TrainPaused
	eachMember(tt, CmdReleasePause, []Phase{PhaseProgressing}, func(r *Release) {
		pauseClock(r, tt.time)
		tt.recordOn(r, DecisionPause, "train pause: "+e.Message, nil)
	})
	return nil
}

// ResumeTrain restarts the train and its paused members, as Resume does
// for one release.
type ResumeTrain struct{ OnTrain }

func (*ResumeTrain) Type() Type { return CmdTrainResume }

func (e *ResumeTrain) change(tt *trainTx) error {
	tt.t.Status.Phase = TrainProgressing
	eachMember(tt, CmdReleaseResume, []Phase{PhasePaused}, func(r *Release) {
		resumeClock(r, tt.time)
		tt.recordOn(r, DecisionResume, "train resume: "+e.Message, nil)
	})
	return nil
}

// eachMember runs f on every member release in one of phases that
// release event e may be applied to.
func eachMember(tt *trainTx, e Type, phases []Phase, f func(*Release)) {
	for i := range tt.t.Status.Members {
		m := &tt.t.Status.Members[i]
		if r := tt.cur().Releases[m.Release]; r == nil || !slices.Contains(phases, r.Status.Phase) {
			continue
		}
		if r, ok := tt.memberRelease(m, e); ok {
			f(r)
		}
	}
}

// RecordTrainError records that the controller could not decide about a
// train (it recovered from a panic).
type RecordTrainError struct{ OnTrain }

func (*RecordTrainError) Type() Type { return CmdTrainError }

func (e *RecordTrainError) change(*trainTx) error { return nil }
