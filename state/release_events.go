package state

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
)

// Expect is what the proposer of a release event saw: the event applies
// only if the release is still there (a guarded update), so a previous
// leader's stale decision is refused with ErrConflict.
type Expect struct {
	Phase Phase `json:"phase"`
	Step  int   `json:"step"`
	// StepIndex, when set, must match too (an ACK is for one step's routes).
	StepIndex uint64 `json:"stepIndex,omitempty"`
	// Analyses, when set, must match ReleaseStatus.Analyses: the result
	// of an analysis is for the count it was started at, once.
	Analyses *int `json:"analyses,omitempty"`
}

// ExpectOf is what a decision about r expects.
func ExpectOf(r *Release) Expect {
	return Expect{Phase: r.Status.Phase, Step: r.Status.Step, StepIndex: r.Status.StepIndex}
}

func (e Expect) check(r *Release) error {
	st := &r.Status
	if st.Phase != e.Phase || st.Step != e.Step || (e.StepIndex != 0 && st.StepIndex != e.StepIndex) {
		return fmt.Errorf("%w: Release %q is %s at step %d (index %d), the decision expected %s at step %d",
			ErrConflict, r.Name(), st.Phase, st.Step, st.StepIndex, e.Phase, e.Step)
	}
	if e.Analyses != nil && *e.Analyses != st.Analyses {
		return fmt.Errorf("%w: Release %q has %d analyses recorded at step %d, the analysis result was for analysis %d",
			ErrConflict, r.Name(), st.Analyses, st.Step, *e.Analyses+1)
	}
	return nil
}

// On is the head of every release event: which release, what the
// proposer expected, and the message recorded with the decision.
type On struct {
	Release string `json:"release"`
	Expect  Expect `json:"expect"`
	Message string `json:"message,omitempty"`
}

// OnRelease is the head of an event about r as it is now.
func OnRelease(r *Release, msg string) On {
	return On{Release: r.Name(), Expect: ExpectOf(r), Message: msg}
}

// OnAnalysis is the head of the event that records the result of an
// analysis of r as it is now: it applies only while the release has the
// same number of analyses recorded, so one analysis count yields one
// result, however many were started.
func OnAnalysis(r *Release, msg string) On {
	on := OnRelease(r, msg)
	n := r.Status.Analyses
	on.Expect.Analyses = &n
	return on
}

func (o *On) target() *On { return o }

// Note is the message recorded with the event.
func (o *On) Note() string { return o.Message }

// check is the default: the transition table says everything.
func (o *On) check(*Release) (bool, error) { return false, nil }

// ReleaseEvent is one change to one release. applyRelease does what every
// event shares (the guard, the transition table, the decision record);
// the event does the rest.
type ReleaseEvent interface {
	Event
	target() *On
	// check refuses what the table cannot say; done means the event has
	// already happened (a repeated approval) and nothing changes.
	check(r *Release) (done bool, err error)
	// change applies the event to rt's copy of the release.
	change(rt *releaseTx)
}

// releaseTx is a release event being applied.
type releaseTx struct {
	*tx
	r *Release
	// verdict is recorded with the decision; skip leaves it unrecorded.
	verdict json.RawMessage
	skip    bool
	// webhooks are the webhook calls recorded with the decision.
	webhooks *WebhookRecord
}

func (rt *releaseTx) status() *ReleaseStatus { return &rt.r.Status }

// releaseChange applies a decoded release event.
type releaseChange struct{ e ReleaseEvent }

func (rc releaseChange) apply(t *tx) (any, error) { return applyRelease(t, rc.e) }

func applyRelease(t *tx, e ReleaseEvent) (any, error) {
	on := e.target()
	cur, ok := t.cur().Releases[on.Release]
	if !ok {
		return nil, fmt.Errorf("%w: Release %q", ErrNotFound, on.Release)
	}
	if err := on.Expect.check(cur); err != nil {
		return nil, err
	}
	tr, err := allowRelease(e.Type(), cur)
	if err != nil {
		return nil, err
	}
	if done, err := e.check(cur); err != nil || done {
		return nil, err
	}
	rt := &releaseTx{tx: t, r: t.release(on.Release)}
	e.change(rt)
	if !rt.skip {
		t.recordOn(rt.r, tr.Records, on.Message, rt.verdict)
		if rt.webhooks != nil {
			rt.r.Status.Decisions[len(rt.r.Status.Decisions)-1].Webhooks = rt.webhooks
		}
	}
	return rt.r.Status.Phase, nil
}

// StartRelease moves a release that has not started to its first step.
type StartRelease struct {
	On
	// Window says how the start time was chosen.
	Window StartWindow `json:"window,omitempty"`
	// Exposure is the estimate for the first step.
	Exposure *Exposure `json:"exposure,omitempty"`
}

func (*StartRelease) Type() Type { return CmdReleaseStart }

func (e *StartRelease) check(r *Release) (bool, error) {
	if r.Status.Blocked != "" {
		return false, fmt.Errorf("%w: Release %q cannot start: %s", ErrBadTransition, r.Name(), r.Status.Blocked)
	}
	return false, nil
}

func (e *StartRelease) change(rt *releaseTx) {
	rs := rt.status()
	if rs.Window != StartScheduled || e.Window == StartNow {
		rs.Window = e.Window
	}
	rs.ScheduledAt = time.Time{}
	rs.Phase, rs.StartedAt = PhaseProgressing, rt.time
	enterStep(rt.r, 0, rt.index, rt.time)
	// The first step waits for the groups recorded as serving the
	// service (served.go), as later steps wait for those of the step
	// before.
	rs.ExpectedGroups = rt.cur().ServedBy(rt.r.Service(), rt.time)
	rs.Exposure = e.Exposure
	st, selective := rt.r.Stage(0)
	rs.Limited = selective && st.Selective() || e.Exposure != nil && e.Exposure.Share >= 0 && e.Exposure.Share <= LimitedShare
}

// AckStep records that every proxy group holds the step's routes: the
// bake starts.
type AckStep struct {
	On
	// Groups are the proxy groups that held the step (sorted): they are
	// expected for the next one (ReleaseStatus.ExpectedGroups) and
	// recorded as serving the service, for its next release's first step
	// (ServiceStatus.Served).
	Groups []string `json:"groups,omitempty"`
}

func (*AckStep) Type() Type { return CmdReleaseAck }

func (e *AckStep) check(r *Release) (bool, error) {
	if r.Status.Acked {
		return false, fmt.Errorf("%w: step %d of Release %q is already ACKed", ErrBadTransition, r.Status.Step+1, r.Name())
	}
	if _, ok := r.CurrentStep(); !ok {
		return false, fmt.Errorf("%w: Release %q is at step %d of %d, which does not exist: there is nothing to ACK", ErrBadTransition, r.Name(), r.Status.Step+1, len(r.Status.Plan))
	}
	return false, nil
}

func (e *AckStep) change(rt *releaseTx) {
	rs := rt.status()
	step, _ := rt.r.CurrentStep()
	rs.Acked, rs.AckedAt = true, rt.time
	rs.ExpectedGroups = append([]string(nil), e.Groups...)
	rt.recordServed(rt.r.Service(), e.Groups)
	rs.BakeUntil = rt.time.Add(step.Bake.D())
	rs.NextAnalysisAt = rt.time.Add(rs.AnalysisInterval())
	rs.Hold = nil
}

// RecordAnalysis records an analysis that neither advances nor ends the
// release; it may hold it (Hold) or end a hold (Hold nil).
type RecordAnalysis struct {
	On
	Verdict  json.RawMessage    `json:"verdict,omitempty"`
	Counters *analysis.Counters `json:"counters,omitempty"`
	Hold     *Hold              `json:"hold,omitempty"`
	// Exposure is the estimate of the step an exposure hold waits for.
	Exposure *Exposure `json:"exposure,omitempty"`
	// Webhooks are the confirm-promotion calls made with the analysis.
	Webhooks *WebhookRecord `json:"webhooks,omitempty"`
	// Baked is the step's bake counted with this analysis (see
	// ReleaseStatus.Baked); nil leaves it as it is.
	Baked *config.Duration `json:"baked,omitempty"`
}

func (*RecordAnalysis) Type() Type { return CmdReleaseAnalysis }

func (e *RecordAnalysis) change(rt *releaseTx) {
	rs := rt.status()
	// Beyond the cap, only analyses that change the hold are recorded.
	rt.skip = len(rs.Decisions) >= maxDecisions && sameHold(rs.Hold, e.Hold)
	if e.Counters != nil {
		rs.Counters = *e.Counters
	}
	rs.Analyses++
	if e.Exposure != nil {
		rs.Exposure = e.Exposure
	}
	rs.Hold = e.Hold
	if e.Baked != nil {
		rs.Baked, rs.BakedTo = *e.Baked, rt.time
	}
	rs.NextAnalysisAt = rt.time.Add(rs.AnalysisInterval())
	rs.LastVerdict = e.Verdict
	rt.verdict = e.Verdict
	rt.webhooks = e.Webhooks
}

func sameHold(a, b *Hold) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// HoldRelease records why a release cannot go on (ACK timeout, NACK, an
// exposure or risk approval to wait for).
type HoldRelease struct {
	On
	Hold Hold `json:"hold"`
	// Exposure is the estimate of the step the hold waits for.
	Exposure *Exposure `json:"exposure,omitempty"`
}

func (*HoldRelease) Type() Type { return CmdReleaseHold }

func (e *HoldRelease) change(rt *releaseTx) {
	rs := rt.status()
	if e.Exposure != nil {
		rs.Exposure = e.Exposure
	}
	h := e.Hold
	rs.Hold = &h
}

// AdvanceStep moves to the next step.
type AdvanceStep struct {
	On
	Verdict json.RawMessage `json:"verdict,omitempty"`
	// Exposure is the estimate for the step entered.
	Exposure *Exposure `json:"exposure,omitempty"`
}

func (*AdvanceStep) Type() Type { return CmdReleaseAdvance }

func (e *AdvanceStep) check(r *Release) (bool, error) {
	if r.Status.Step+1 >= len(r.Status.Plan) {
		return false, fmt.Errorf("%w: Release %q is at its last step (%d of %d): promote it instead", ErrBadTransition, r.Name(), r.Status.Step+1, len(r.Status.Plan))
	}
	return false, nil
}

func (e *AdvanceStep) change(rt *releaseTx) {
	rs := rt.status()
	if e.Verdict != nil {
		rs.LastVerdict = e.Verdict
	}
	enterStep(rt.r, rs.Step+1, rt.index, rt.time)
	rs.Exposure = e.Exposure
	rt.verdict = e.Verdict
}

// Ending is what the events that end a release with a verdict carry.
type Ending struct {
	Verdict  json.RawMessage    `json:"verdict,omitempty"`
	Counters *analysis.Counters `json:"counters,omitempty"`
	// Webhooks are the webhook calls the ending was decided on (a
	// confirm-promotion that passed, a webhook that rolls back).
	Webhooks *WebhookRecord `json:"webhooks,omitempty"`
}

func (e Ending) note(rt *releaseTx) {
	rs := rt.status()
	if e.Counters != nil {
		rs.Counters = *e.Counters
	}
	if e.Verdict != nil {
		rs.LastVerdict = e.Verdict
	}
	rt.verdict = e.Verdict
	rt.webhooks = e.Webhooks
}

// Promote ends the release with all traffic on the new version.
type Promote struct {
	On
	Ending
}

func (*Promote) Type() Type { return CmdReleasePromote }

func (e *Promote) change(rt *releaseTx) {
	e.note(rt)
	finish(rt.tx, rt.r, PhasePromoted, rt.r.Spec.Spec.To, 100, e.Message)
	keepOld(rt)
}

// Rollback ends the release with all traffic on the stable version.
type Rollback struct {
	On
	Ending
}

func (*Rollback) Type() Type { return CmdReleaseRollback }

func (e *Rollback) change(rt *releaseTx) {
	e.note(rt)
	finish(rt.tx, rt.r, PhaseRolledBack, rt.r.Status.From, 0, e.Message)
}

// Abort is a person stopping the release: traffic back to stable.
type Abort struct{ On }

func (*Abort) Type() Type { return CmdReleaseAbort }

func (e *Abort) change(rt *releaseTx) {
	finish(rt.tx, rt.r, PhaseAborted, rt.r.Status.From, 0, e.Message)
}

// Pause stops the release's clock; traffic stays where it is.
type Pause struct{ On }

func (*Pause) Type() Type { return CmdReleasePause }

func (e *Pause) change(rt *releaseTx) { pauseClock(rt.r, rt.time) }

// Resume starts a paused release's clock again.
type Resume struct{ On }

func (*Resume) Type() Type { return CmdReleaseResume }

func (e *Resume) change(rt *releaseTx) { resumeClock(rt.r, rt.time) }

// ApproveStep is a person's approval of entering plan step Step (0-based):
// it ends an exposure-budget or risk hold.
type ApproveStep struct {
	On
	Step int `json:"step"`
}

func (*ApproveStep) Type() Type { return CmdReleaseApproveStep }

func (e *ApproveStep) check(r *Release) (bool, error) {
	if e.Step < 0 || e.Step >= len(r.Status.Plan) {
		return false, fmt.Errorf("%w: cannot approve step %d of Release %q (%s, %d steps)", ErrBadTransition, e.Step+1, r.Name(), r.Status.Phase, len(r.Status.Plan))
	}
	return r.Approved(e.Step), nil
}

func (e *ApproveStep) change(rt *releaseTx) {
	rs := rt.status()
	rs.Approvals = append(rs.Approvals, Approval{Step: e.Step, Actor: rt.actor, Time: rt.time, Reason: e.Message})
	if rt.r.WaitsForStepApproval() {
		rs.Hold = nil
	}
}

// OverrideGate is a person letting a release past a failed required
// quality gate.
type OverrideGate struct {
	On
	Gate string `json:"gate"`
}

func (*OverrideGate) Type() Type { return CmdReleaseOverrideGate }

func (e *OverrideGate) check(r *Release) (bool, error) {
	for _, g := range r.Spec.Spec.Gates {
		if g.Name == e.Gate && g.Required && !g.Passed {
			return r.GateOverridden(e.Gate), nil
		}
	}
	return false, fmt.Errorf("%w: Release %q has no failed required gate %q", ErrBadTransition, r.Name(), e.Gate)
}

func (e *OverrideGate) change(rt *releaseTx) {
	rs := rt.status()
	rs.Approvals = append(rs.Approvals, Approval{Step: -1, Gate: e.Gate, Actor: rt.actor, Time: rt.time, Reason: e.Message})
	if rs.Phase == PhaseAwaitingApproval && len(rt.r.FailedGates()) == 0 {
		rs.Phase, rs.Hold = PhasePending, nil
	}
}

// ApproveStartNow is a person's approval of starting outside the window.
type ApproveStartNow struct{ On }

func (*ApproveStartNow) Type() Type { return CmdReleaseApproveStartNow }

func (e *ApproveStartNow) check(r *Release) (bool, error) { return r.StartNowApproved(), nil }

func (e *ApproveStartNow) change(rt *releaseTx) {
	rs := rt.status()
	rs.Approvals = append(rs.Approvals, Approval{Step: -1, StartNow: true, Actor: rt.actor, Time: rt.time, Reason: e.Message})
	if rs.Phase == PhaseScheduled || (rs.Phase == PhaseAwaitingApproval && len(rt.r.FailedGates()) == 0) {
		rs.Phase, rs.Hold, rs.ScheduledAt = PhasePending, nil, time.Time{}
	}
}

// Await moves a release to AwaitingApproval: only a person moves it on.
type Await struct {
	On
	Hold Hold `json:"hold"`
}

func (*Await) Type() Type { return CmdReleaseAwait }

func (e *Await) change(rt *releaseTx) {
	h := e.Hold
	rt.status().Phase, rt.status().Hold = PhaseAwaitingApproval, &h
}

// Schedule moves a release to Scheduled at a start time chosen by the
// window optimizer, whose suggestion is kept as a JSON object.
type Schedule struct {
	On
	At         time.Time       `json:"at"`
	Suggestion json.RawMessage `json:"suggestion,omitempty"`
}

func (*Schedule) Type() Type { return CmdReleaseSchedule }

func (e *Schedule) check(r *Release) (bool, error) {
	if e.At.IsZero() {
		return false, fmt.Errorf("%w: scheduling Release %q needs a start time", ErrBadPayload, r.Name())
	}
	return false, nil
}

func (e *Schedule) change(rt *releaseTx) {
	rs := rt.status()
	rs.Phase, rs.ScheduledAt, rs.Schedule, rs.Window = PhaseScheduled, e.At, e.Suggestion, StartScheduled
	rs.Hold = &Hold{Kind: HoldScheduled, Message: e.Message}
}

// RecordError records that the controller could not decide about a
// release (it recovered from a panic): the release holds, with the error.
type RecordError struct{ On }

func (*RecordError) Type() Type { return CmdReleaseError }

func (e *RecordError) change(rt *releaseTx) {
	rt.status().Hold = &Hold{Kind: HoldError, Message: e.Message}
}
