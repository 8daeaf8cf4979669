// Package controller runs releases on the leader: it observes the
// replicated state, the proxies' ACKs and the analysis, decides with pure
// functions that return state events, and proposes each event as one Raft
// command.
package controller

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// GroupAck is what one proxy group on one node holds.
type GroupAck struct {
	Node  string
	Group string
	// AckedIndex is the newest state index every stream of the group
	// holds; Streams how many streams the group has there.
	AckedIndex uint64
	Streams    int
	// Proxyless counts the streams of clients that do not mirror
	// (proxyless gRPC, see xds.Proxyless).
	Proxyless int
	NACKs     []string
}

// Fleet is what the controller saw of the proxy fleet at Now.
type Fleet struct {
	Now time.Time
	// Groups are the proxy groups of every reachable node.
	Groups []GroupAck
	// Unreachable lists nodes whose status could not be read.
	Unreachable []string
}

// Next is what to do about a release that moves traffic: propose Event,
// run an analysis (Analyze), or nothing.
type Next struct {
	Event   state.ReleaseEvent
	Analyze bool
	// Webhooks, when set, is the type of the webhooks to call first.
	Webhooks config.WebhookType
}

// DecideProgress is the pure first half of a controller step for a
// release that moves traffic: from the release and the fleet, the event to
// propose or whether an analysis is due. Releases that have not started
// go through DecideAdmission instead.
func DecideProgress(r *state.Release, fleet Fleet) Next {
	rs := &r.Status
	if rs.Phase != state.PhaseProgressing {
		return Next{}
	}
	if e := missingStep(r); e != nil {
		return Next{Event: e}
	}
	if !rs.Acked {
		return decideAck(r, fleet)
	}
	if webhooksPending(r, config.WebhookRollout) {
		// The step's analysis counts only once its rollout webhooks passed.
		if webhooksDue(r, config.WebhookRollout, fleet.Now) {
			return Next{Webhooks: config.WebhookRollout}
		}
		return Next{}
	}
	if fleet.Now.Before(rs.NextAnalysisAt) {
		return Next{}
	}
	return Next{Analyze: true}
}

// missingStep is the error event for a release that moves traffic at a
// step its plan does not have (a state older code could leave behind), or
// nil. It is recorded once; the release holds until a person acts.
func missingStep(r *state.Release) state.ReleaseEvent {
	if _, ok := r.CurrentStep(); ok {
		return nil
	}
	return errorEvent(r, fmt.Sprintf("release is %s at step %d of %d, which does not exist: it cannot be ACKed, analysed or advanced; pause, roll back or abort it",
		r.Status.Phase, r.Status.Step+1, len(r.Status.Plan)))
}

// errorEvent records an error once: nil when the release already holds
// with the same error.
func errorEvent(r *state.Release, msg string) state.ReleaseEvent {
	if h := r.Status.Hold; h != nil && h.Kind == state.HoldError && h.Message == msg {
		return nil
	}
	return &state.RecordError{On: state.OnRelease(r, msg)}
}

// hold records a hold once; repeating the same one is not news.
func hold(r *state.Release, kind state.HoldKind, msg string) Next {
	h := state.Hold{Kind: kind, Message: msg}
	if cur := r.Status.Hold; cur != nil && *cur == h {
		return Next{}
	}
	return Next{Event: &state.HoldRelease{On: state.OnRelease(r, msg), Hold: h}}
}

// AnalysisInput is everything the decision after an analysis needs, all
// observed before it is made.
type AnalysisInput struct {
	Verdict analysis.Verdict
	Now     time.Time
	// Next is the exposure estimate of the step the release would enter
	// (see AdvanceDue); nil when none was made.
	Next *state.Exposure
	// Lockstep is the train's lockstep hold (LockstepHold), if any.
	Lockstep string
	// Confirm are the answers of the confirm-promotion webhooks, called
	// when the verdict would promote (PromoteDue).
	Confirm []state.WebhookCall
}

// AdvanceDue says whether the analysis verdict would move the release
// into its next step now (it passed and the bake is over, counting only
// time with usable analysis data: BakedWith), and which
// step: the caller then estimates that step's exposure for AfterAnalysis.
func AdvanceDue(r *state.Release, v analysis.Verdict, now time.Time) (int, bool) {
	if _, ok := r.CurrentStep(); !ok {
		return 0, false
	}
	_, act, _ := analysis.Decide(r.Status.Counters, v, r.Status.PolicySpec)
	return advanceDue(r, act, BakedWith(&r.Status, v, now))
}

func advanceDue(r *state.Release, act analysis.Action, baked time.Duration) (int, bool) {
	rs := &r.Status
	if act != analysis.ActionAdvance || baked < rs.Plan[rs.Step].Bake.D() || lastStep(r) {
		return 0, false
	}
	return rs.Step + 1, true
}

// PromoteDue says whether the verdict would promote the release now (it
// passed, the last step baked long enough with data: BakedWith): the
// caller then calls the confirm-promotion webhooks for AfterAnalysis.
func PromoteDue(r *state.Release, v analysis.Verdict, now time.Time) bool {
	step, ok := r.CurrentStep()
	if !ok {
		return false
	}
	_, act, _ := analysis.Decide(r.Status.Counters, v, r.Status.PolicySpec)
	return act == analysis.ActionAdvance && BakedWith(&r.Status, v, now) >= step.Bake.D() && lastStep(r)
}

func lastStep(r *state.Release) bool {
	return r.Status.Step+1 >= len(r.Status.Plan) || r.Status.Weight >= 100
}

// AfterAnalysis is the pure second half: from a verdict and what was
// observed with it, the whole decision. analysis.Decide counts and applies
// the policy's limits; only a Successful verdict after the bake advances
// (or promotes after the last step), unless the train's lockstep or the
// exposure budget holds it; a rollback carries the verdict that caused it.
func AfterAnalysis(r *state.Release, in AnalysisInput) state.ReleaseEvent {
	rs := &r.Status
	if e := missingStep(r); e != nil {
		return e
	}
	raw, err := json.Marshal(in.Verdict)
	if err != nil {
		return errorEvent(r, fmt.Sprintf("the analysis verdict cannot be recorded (%v); holding", err))
	}
	c, act, reason := analysis.Decide(rs.Counters, in.Verdict, rs.PolicySpec)
	bake := rs.Plan[rs.Step].Bake.D()
	baked := BakedWith(rs, in.Verdict, in.Now)
	bakedD := config.Duration(baked)
	analysed := func(msg string, h *state.Hold, e *state.Exposure) state.ReleaseEvent {
		return &state.RecordAnalysis{On: state.OnAnalysis(r, msg), Verdict: raw, Counters: &c, Hold: h, Exposure: e, Baked: &bakedD}
	}
	bakedMsg := bakeNote(baked, bake)
	switch {
	case act == analysis.ActionRollBack:
		if e := mirrorHold(r, raw, c, reason); e != nil {
			return e
		}
		return rollBack(r, state.OnAnalysis(r, rolledBackAt(r)+": "+reason),
			state.Ending{Verdict: raw, Counters: &c}, &in.Verdict)
	case act != analysis.ActionAdvance:
		return analysed(reason, &state.Hold{Kind: state.HoldAnalysis, Message: "held: " + reason}, nil)
	case baked < bake:
		return analysed(fmt.Sprintf("%s; %s", reason, bakedMsg), nil, nil)
	case in.Lockstep != "":
		return analysed(in.Lockstep, &state.Hold{Kind: state.HoldLockstep, Message: in.Lockstep}, nil)
	case lastStep(r):
		return promote(r, in, state.Ending{Verdict: raw, Counters: &c}, fmt.Sprintf("step %d (%d%%) %s; %s", rs.Step+1, rs.Weight, bakedMsg, reason))
	}
	next, _ := advanceDue(r, act, baked)
	e := estimateOrUnknown(in.Next, next)
	if h := gateStep(r, &e); h != nil {
		return analysed(h.Message, h, &e)
	}
	return &state.AdvanceStep{On: state.OnAnalysis(r, fmt.Sprintf("advance to step %d (%d%%): step %d %s; %s",
		rs.Step+2, r.StepWeight(next), rs.Step+1, bakedMsg, reason)), Verdict: raw, Exposure: &e}
}

// promote ends a release that passed its last step, once its
// confirm-promotion webhooks (if it has any) answered 2xx; a failed one
// holds (the analysis goes on, and calls it again) or rolls back.
func promote(r *state.Release, in AnalysisInput, end state.Ending, why string) state.ReleaseEvent {
	if !webhooksPending(r, config.WebhookConfirmPromotion) {
		return &state.Promote{On: state.OnAnalysis(r, "promoted: "+why), Ending: end}
	}
	rec, h := DecideWebhooks(r, config.WebhookConfirmPromotion, in.Confirm)
	switch rec.Outcome {
	case state.WebhookPassed:
		end.Webhooks = &rec
		return &state.Promote{On: state.OnAnalysis(r, fmt.Sprintf("promoted: %s; confirm-promotion: %s", why, answersText(rec))), Ending: end}
	case state.WebhookRolledBack:
		end.Webhooks = &rec
		return rollBack(r, state.OnAnalysis(r, rolledBackAt(r)+": "+failedText(rec)), end, &in.Verdict)
	}
	return &state.RecordAnalysis{On: state.OnAnalysis(r, fmt.Sprintf("%s; %s", h.Message, why)), Verdict: end.Verdict, Counters: end.Counters, Hold: h, Webhooks: &rec}
}

// estimateOrUnknown is the estimate for step, or an unknown one when the
// caller made none (which an exposure budget refuses: fail closed).
func estimateOrUnknown(e *state.Exposure, step int) state.Exposure {
	if e != nil && e.Step == step {
		return *e
	}
	return state.Exposure{Step: step, Share: -1, Tenants: -1, Regions: -1, Source: state.ExposureUnknown, Detail: "not estimated"}
}
