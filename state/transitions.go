package state

import (
	"fmt"
	"slices"
)

// Transition is one row of a state machine's table: an event, the kind of
// decision it records, and the phases it may be applied in.
type Transition[P ~string] struct {
	Event   Type
	Records DecisionKind
	From    []P
}

// ReleaseTransitions is the one table of the release state machine: which
// event may be applied in which phase. Releases and train members use it
// alike: a train event that changes its members' releases (clear, unwind,
// pause, resume) applies to a member only where this table allows it.
// Events check what the table cannot say (a step that exists, a gate that
// failed) in their own check.
func ReleaseTransitions() []Transition[Phase] {
	waiting := []Phase{PhasePending, PhaseAwaitingApproval, PhaseScheduled}
	live := append(slices.Clone(waiting), PhaseProgressing, PhasePaused)
	movable := append(slices.Clone(waiting), PhaseProgressing)
	progressing := []Phase{PhaseProgressing}
	// A gradual rollback is analysed (its burn may switch it to instant)
	// and may be ended at once by a person; it cannot be paused, promoted
	// or advanced.
	rollingBack := []Phase{PhaseRollingBack}
	ending := append(slices.Clone(live), PhaseRollingBack)
	every := append(slices.Clone(ending), PhasePromoted, PhaseRolledBack, PhaseAborted)
	return []Transition[Phase]{
		{CmdReleaseStart, DecisionStart, waiting},
		{CmdReleaseAck, DecisionAck, progressing},
		{CmdReleaseAnalysis, DecisionAnalysis, []Phase{PhaseProgressing, PhaseRollingBack}},
		{CmdReleaseHold, DecisionHold, movable},
		{CmdReleaseAdvance, DecisionAdvance, progressing},
		{CmdReleasePromote, DecisionPromote, live},
		{CmdReleaseRollback, DecisionRollback, ending},
		{CmdReleaseAbort, DecisionAbort, ending},
		{CmdReleaseRollbackGradual, DecisionRollbackGradual, progressing},
		{CmdReleaseRollbackStep, DecisionRollbackStep, rollingBack},
		{CmdReleaseRollbackNow, DecisionRollback, rollingBack},
		{CmdReleasePause, DecisionPause, movable},
		{CmdReleaseResume, DecisionResume, []Phase{PhasePaused}},
		{CmdReleaseApproveStep, DecisionApprove, live},
		{CmdReleaseOverrideGate, DecisionApprove, live},
		{CmdReleaseApproveStartNow, DecisionApprove, waiting},
		{CmdReleaseAwait, DecisionAwait, waiting},
		{CmdReleaseSchedule, DecisionSchedule, waiting},
		{CmdReleaseError, DecisionError, ending},
		{CmdReleaseWebhook, DecisionWebhook, every},
		{CmdReleaseRetireOld, DecisionRetireOld, []Phase{PhasePromoted}},
		{CmdReleaseMirrorSkip, DecisionMirrorSkip, progressing},
		{CmdReleaseMirrorHold, DecisionHold, progressing},
		// Train events, as they apply to a member's release.
		{CmdTrainClear, DecisionClear, every},
		{CmdTrainUnwind, DecisionRollback, append(slices.Clone(live), PhasePromoted)},
	}
}

// TrainTransitions is the table of the train state machine.
func TrainTransitions() []Transition[TrainPhase] {
	running := []TrainPhase{TrainProgressing}
	stoppable := []TrainPhase{TrainProgressing, TrainPaused}
	return []Transition[TrainPhase]{
		{CmdTrainHealth, DecisionHealth, running},
		{CmdTrainClear, DecisionClear, running},
		{CmdTrainFail, DecisionFail, stoppable},
		{CmdTrainRollback, DecisionRollback, stoppable},
		{CmdTrainAbort, DecisionAbort, stoppable},
		{CmdTrainUnwind, DecisionUnwind, []TrainPhase{TrainRollingBack}},
		{CmdTrainFinish, DecisionFinish, []TrainPhase{TrainProgressing, TrainRollingBack}},
		{CmdTrainPause, DecisionPause, running},
		{CmdTrainResume, DecisionResume, []TrainPhase{TrainPaused}},
		{CmdTrainError, DecisionError, []TrainPhase{TrainProgressing, TrainPaused, TrainRollingBack}},
	}
}

// lookup finds an event's row.
func lookup[P ~string](table []Transition[P], e Type) (Transition[P], bool) {
	for _, tr := range table {
		if tr.Event == e {
			return tr, true
		}
	}
	return Transition[P]{}, false
}

// AllowedFor reports whether release event e may be applied to r now.
func AllowedFor(e Type, r *Release) bool {
	tr, ok := lookup(ReleaseTransitions(), e)
	return ok && slices.Contains(tr.From, r.Status.Phase)
}

// allowRelease returns event e's row if r's phase allows it, else
// ErrBadTransition saying so.
func allowRelease(e Type, r *Release) (Transition[Phase], error) {
	tr, ok := lookup(ReleaseTransitions(), e)
	if !ok {
		return tr, fmt.Errorf("%w: %q is not a release event", ErrBadPayload, e)
	}
	if !slices.Contains(tr.From, r.Status.Phase) {
		return tr, fmt.Errorf("%w: cannot %s Release %q while it is %s%s", ErrBadTransition, tr.Records, r.Name(), r.Status.Phase, refusalHint(e, r))
	}
	return tr, nil
}

// refusalHint says what to do instead, for the refusals people meet.
func refusalHint(e Type, r *Release) string {
	switch {
	case (e == CmdReleaseRollback || e == CmdReleaseAbort) && r.Status.Phase == PhasePromoted:
		return fmt.Sprintf(": it was promoted and moves no traffic any more; to go back to %s, run `sluice release undo %s` (a new release, analysed like any other) or `sluice release undo %s --now` (at once, approver role)",
			r.Status.From, r.Service(), r.Service())
	case e == CmdReleaseApproveStartNow:
		return ": start-now approves a release that has not started"
	}
	return ""
}

func allowTrain(e Type, t *Train) (Transition[TrainPhase], error) {
	tr, ok := lookup(TrainTransitions(), e)
	if !ok {
		return tr, fmt.Errorf("%w: %q is not a train event", ErrBadPayload, e)
	}
	if !slices.Contains(tr.From, t.Status.Phase) {
		return tr, fmt.Errorf("%w: cannot %s ReleaseTrain %q while it is %s", ErrBadTransition, tr.Records, t.Name(), t.Status.Phase)
	}
	return tr, nil
}
