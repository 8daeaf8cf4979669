package state

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
)

// A mirror step (config.StepSpec.Mirror) routes every user to stable
// while Envoy copies a share of the requests to the new version. Two
// events belong to it: SkipMirror records the proxy groups that cannot
// mirror (proxyless gRPC clients), and HoldMirror pauses a release whose
// mirror step failed when the policy says onMirrorFailure: hold.

// Mirror event types.
const (
	CmdReleaseMirrorSkip Type = "release.mirror-skip"
	CmdReleaseMirrorHold Type = "release.mirror-hold"
)

// DecisionMirrorSkip: a mirror step is served without mirroring to some
// proxy groups (ReleaseStatus.MirrorSkips says which, and why).
const DecisionMirrorSkip DecisionKind = "mirror-skip"

// HoldMirrorFailed: the mirror step's analysis failed and the policy
// says hold: the release is paused at its mirror step until a person
// resumes, rolls back or aborts it.
const HoldMirrorFailed HoldKind = "mirror-failed"

// MirrorSkipReason says why a proxy group does not mirror. Code matches
// the reason, never the decision's message.
type MirrorSkipReason string

// Mirror skip reasons.
const (
	// MirrorSkipProxyless: the group has proxyless gRPC clients (grpc-go),
	// which resolve routes themselves and do not implement
	// request_mirror_policies; they send every request to stable.
	MirrorSkipProxyless MirrorSkipReason = "proxyless"
)

// MirrorSkip is one proxy group a mirror step was not mirrored for.
type MirrorSkip struct {
	// Step is the plan index of the mirror step.
	Step   int              `json:"step"`
	Group  string           `json:"group"`
	Reason MirrorSkipReason `json:"reason"`
	// Streams is how many of the group's streams it concerns (the
	// proxyless ones) when it was recorded.
	Streams int `json:"streams"`
}

// MirrorShare is the share of requests (percent) plan step i shadows to
// the new version; 0 for a step that is not a mirror.
func (r *Release) MirrorShare(i int) uint32 {
	if i < 0 || i >= len(r.Status.Plan) {
		return 0
	}
	return r.Status.Plan[i].Mirror
}

// MirrorSkipped reports whether the current step's mirror was recorded as
// skipped for group.
func (r *Release) MirrorSkipped(group string) bool {
	return slices.ContainsFunc(r.Status.MirrorSkips, func(s MirrorSkip) bool {
		return s.Step == r.Status.Step && s.Group == group
	})
}

// SkipMirror records that the current mirror step is served without
// mirroring to some proxy groups: they route every request to stable.
type SkipMirror struct {
	On
	Skips []MirrorSkip `json:"skips"`
}

// Type is CmdReleaseMirrorSkip.
func (*SkipMirror) Type() Type { return CmdReleaseMirrorSkip }

func (e *SkipMirror) check(r *Release) (bool, error) {
	if err := atMirrorStep(r, "record a skipped mirror for"); err != nil {
		return false, err
	}
	if len(e.Skips) == 0 {
		return false, fmt.Errorf("%w: a mirror skip of Release %q names no proxy group", ErrBadPayload, r.Name())
	}
	for _, s := range e.Skips {
		if s.Step != r.Status.Step || s.Group == "" || s.Reason == "" {
			return false, fmt.Errorf("%w: mirror skip %+v of Release %q: want step %d, a group and a reason", ErrBadPayload, s, r.Name(), r.Status.Step)
		}
	}
	done := !slices.ContainsFunc(e.Skips, func(s MirrorSkip) bool { return !r.MirrorSkipped(s.Group) })
	return done, nil
}

func (e *SkipMirror) change(rt *releaseTx) {
	rs := rt.status()
	skips := slices.Clone(rs.MirrorSkips)
	for _, s := range e.Skips {
		if !rt.r.MirrorSkipped(s.Group) {
			skips = append(skips, s)
		}
	}
	rs.MirrorSkips = skips
}

// HoldMirror pauses a release whose mirror step failed its analysis
// (policy onMirrorFailure: hold). The mirror goes on, no user meets the
// new version, and a person decides. The step's counters and bake start
// again, so a resumed step is judged afresh; the verdict that failed it
// is recorded with the decision, the counters travel in the command.
type HoldMirror struct {
	On
	Verdict  json.RawMessage    `json:"verdict,omitempty"`
	Counters *analysis.Counters `json:"counters,omitempty"`
}

// Type is CmdReleaseMirrorHold.
func (*HoldMirror) Type() Type { return CmdReleaseMirrorHold }

func (e *HoldMirror) check(r *Release) (bool, error) {
	if err := atMirrorStep(r, "hold a failed mirror of"); err != nil {
		return false, err
	}
	if f := r.Status.PolicySpec.OnMirrorFailure; f != config.MirrorFailureHold {
		return false, fmt.Errorf("%w: the policy of Release %q says onMirrorFailure: %q, so a failed mirror step is not held", ErrBadTransition, r.Name(), f)
	}
	return false, nil
}

func (e *HoldMirror) change(rt *releaseTx) {
	rs := rt.status()
	pauseClock(rt.r, rt.time)
	rs.Hold = &Hold{Kind: HoldMirrorFailed, Message: e.Message}
	if e.Verdict != nil {
		rs.LastVerdict = e.Verdict
	}
	rs.Counters = analysis.Counters{}
	rs.Analyses++
	rs.Baked, rs.BakedTo = 0, rt.time
	rt.verdict = e.Verdict
}

// atMirrorStep refuses an event for a release whose current step is not
// a mirror step.
func atMirrorStep(r *Release, what string) error {
	if r.MirrorShare(r.Status.Step) == 0 {
		return fmt.Errorf("%w: cannot %s Release %q: step %d is not a mirror step", ErrBadTransition, what, r.Name(), r.Status.Step+1)
	}
	return nil
}
