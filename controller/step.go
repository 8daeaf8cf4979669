// Package controller runs releases on the leader: it observes the
// replicated state, the proxies' ACKs and the analysis, decides with pure
// functions that return state events, and proposes each event as one Raft
// command.
package controller

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/analysis"
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
	NACKs      []string
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

// decideAck waits for every proxy group to hold the step's routes.
func decideAck(r *state.Release, fleet Fleet) Next {
	rs := &r.Status
	var behind, nacks []string
	streams := 0
	for _, g := range fleet.Groups {
		streams += g.Streams
		for _, n := range g.NACKs {
			nacks = append(nacks, fmt.Sprintf("group %s on %s rejected config: %s", g.Group, g.Node, n))
		}
		if g.AckedIndex < rs.StepIndex {
			behind = append(behind, fmt.Sprintf("%s@%s (acked %d)", g.Group, g.Node, g.AckedIndex))
		}
	}
	sort.Strings(nacks)
	sort.Strings(behind)
	switch {
	case len(nacks) > 0:
		return hold(r, state.HoldRejected, "held: "+strings.Join(nacks, "; "))
	case len(behind) == 0:
		return Next{Event: &state.AckStep{On: state.OnRelease(r, fmt.Sprintf("step %d (%d%%) applied: %d proxy group(s), %d stream(s) hold state index %d",
			rs.Step+1, rs.Weight, len(fleet.Groups), streams, rs.StepIndex))}}
	case fleet.Now.Sub(rs.StepStartedAt) >= rs.PolicySpec.AckTimeout.D():
		return hold(r, state.HoldAckTimeout, fmt.Sprintf("held: not every proxy group ACKed step %d within %s: %s", rs.Step+1, rs.PolicySpec.AckTimeout.D(), strings.Join(behind, ", ")))
	}
	return Next{}
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
}

// AdvanceDue says whether the analysis verdict would move the release
// into its next step now (it passed and the bake is over), and which
// step: the caller then estimates that step's exposure for AfterAnalysis.
func AdvanceDue(r *state.Release, v analysis.Verdict, now time.Time) (int, bool) {
	_, act, _ := analysis.Decide(r.Status.Counters, v, r.Status.PolicySpec)
	return advanceDue(r, act, now)
}

func advanceDue(r *state.Release, act analysis.Action, now time.Time) (int, bool) {
	rs := &r.Status
	if act != analysis.ActionAdvance || now.Before(rs.BakeUntil) || lastStep(r) {
		return 0, false
	}
	return rs.Step + 1, true
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
	analysed := func(msg string, h *state.Hold, e *state.Exposure) state.ReleaseEvent {
		return &state.RecordAnalysis{On: state.OnAnalysis(r, msg), Verdict: raw, Counters: &c, Hold: h, Exposure: e}
	}
	switch {
	case act == analysis.ActionRollBack:
		return &state.Rollback{On: state.OnAnalysis(r, fmt.Sprintf("rolled back at step %d (%d%%): %s", rs.Step+1, rs.Weight, reason)),
			Ending: state.Ending{Verdict: raw, Counters: &c}}
	case act != analysis.ActionAdvance:
		return analysed(reason, &state.Hold{Kind: state.HoldAnalysis, Message: "held: " + reason}, nil)
	case in.Now.Before(rs.BakeUntil):
		return analysed(fmt.Sprintf("%s; baking until %s", reason, rs.BakeUntil.UTC().Format(time.RFC3339)), nil, nil)
	case in.Lockstep != "":
		return analysed(in.Lockstep, &state.Hold{Kind: state.HoldLockstep, Message: in.Lockstep}, nil)
	case lastStep(r):
		return &state.Promote{On: state.OnAnalysis(r, fmt.Sprintf("promoted: step %d (%d%%) baked %s; %s", rs.Step+1, rs.Weight, bake, reason)),
			Ending: state.Ending{Verdict: raw, Counters: &c}}
	}
	next, _ := advanceDue(r, act, in.Now)
	e := estimateOrUnknown(in.Next, next)
	if h := gateStep(r, &e); h != nil {
		return analysed(h.Message, h, &e)
	}
	return &state.AdvanceStep{On: state.OnAnalysis(r, fmt.Sprintf("advance to step %d (%d%%): step %d baked %s; %s",
		rs.Step+2, r.StepWeight(next), rs.Step+1, bake, reason)), Verdict: raw, Exposure: &e}
}

// estimateOrUnknown is the estimate for step, or an unknown one when the
// caller made none (which an exposure budget refuses: fail closed).
func estimateOrUnknown(e *state.Exposure, step int) state.Exposure {
	if e != nil && e.Step == step {
		return *e
	}
	return state.Exposure{Step: step, Share: -1, Tenants: -1, Regions: -1, Source: state.ExposureUnknown, Detail: "not estimated"}
}
