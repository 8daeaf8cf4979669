package state

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/sluicehq/sluice/config"
)

// ErrConflict is returned when a release update's preconditions no longer
// hold: another decision got there first (for example a previous leader's).
// Nothing changed.
var ErrConflict = errors.New("release changed since the decision was made")

// ErrBadTransition is returned for an action the release's phase does not
// allow (resuming a release that is not paused, promoting a finished one).
var ErrBadTransition = errors.New("action not allowed in this phase")

// Phase is where a release is in its lifecycle.
type Phase string

// Release phases. Pending -> Progressing(step i) <-> Paused -> Promoted |
// RolledBack | Aborted.
const (
	PhasePending Phase = "Pending"
	// PhaseAwaitingApproval: a required quality gate failed, or no window
	// is available; only a person's approval moves it on.
	PhaseAwaitingApproval Phase = "AwaitingApproval"
	// PhaseScheduled: submitted outside its release window; it starts at
	// ScheduledAt (or when a person approves starting now).
	PhaseScheduled   Phase = "Scheduled"
	PhaseProgressing Phase = "Progressing"
	PhasePaused      Phase = "Paused"
	PhasePromoted    Phase = "Promoted"
	PhaseRolledBack  Phase = "RolledBack"
	PhaseAborted     Phase = "Aborted"
)

// Terminal reports whether the release has ended.
func (p Phase) Terminal() bool {
	return p == PhasePromoted || p == PhaseRolledBack || p == PhaseAborted
}

// Action is what a release update does.
type Action string

// Release actions. Each is applied by one Raft command.
const (
	// ActStart moves a Pending release to its first step.
	ActStart Action = "start"
	// ActAck records that every proxy group holds the step's routes; the
	// bake starts.
	ActAck Action = "ack"
	// ActAnalysis records an analysis that neither advances nor ends the
	// release (it may hold it).
	ActAnalysis Action = "analysis"
	// ActHold records why a release cannot go on (ACK timeout, NACK).
	ActHold Action = "hold"
	// ActAdvance moves to the next step.
	ActAdvance Action = "advance"
	// ActPromote ends the release with all traffic on the new version.
	ActPromote Action = "promote"
	// ActRollback ends the release with all traffic on the stable version.
	ActRollback Action = "rollback"
	// ActAbort is a person stopping the release: traffic back to stable.
	ActAbort Action = "abort"
	// ActPause stops the clock; ActResume starts it again.
	ActPause  Action = "pause"
	ActResume Action = "resume"
	// ActApprove records a person's approval: for a step (exposure budget,
	// high risk), a quality gate override, or starting now.
	ActApprove Action = "approve"
	// ActAwait moves a release to AwaitingApproval, saying why.
	ActAwait Action = "await"
	// ActSchedule moves a release to Scheduled at a chosen start time.
	ActSchedule Action = "schedule"
)

// Exposure is an estimate of what one step exposes to the new version.
type Exposure struct {
	// Step is the plan index the estimate is for.
	Step int `json:"step"`
	// Share is the estimated share of all traffic (percent) sent to the
	// new version; -1 when it could not be estimated.
	Share float64 `json:"share"`
	// Tenants and Regions count what the step exposes; -1 means all.
	Tenants int `json:"tenants"`
	Regions int `json:"regions"`
	// Source says where Share came from: "plan" (a plain percentage),
	// "prometheus", "expectedShare" or "unknown".
	Source string `json:"source"`
	Detail string `json:"detail,omitempty"`
	// Over lists the budget limits the step exceeds.
	Over []string `json:"over,omitempty"`
}

// Approval is a person's go-ahead: for one step, to override one failed
// quality gate (Gate), or to start now outside the window (StartNow).
type Approval struct {
	Step     int       `json:"step"`
	Gate     string    `json:"gate,omitempty"`
	StartNow bool      `json:"startNow,omitempty"`
	Actor    string    `json:"actor"`
	Time     time.Time `json:"time"`
	Reason   string    `json:"reason,omitempty"`
}

// Decision is one entry of a release's record: what was decided, when, by
// whom and why, with the inputs (the analysis verdict) it was based on.
type Decision struct {
	Seq    int       `json:"seq"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action Action    `json:"action"`
	// Phase, Step and Weight are the release's after the decision.
	Phase  Phase  `json:"phase"`
	Step   int    `json:"step"`
	Weight uint32 `json:"weight"`
	// Index is the Raft index of the command that made the decision.
	Index   uint64 `json:"index"`
	Message string `json:"message"`
	// Verdict is the analysis behind the decision (analysis.Verdict as
	// JSON), when there was one.
	Verdict json.RawMessage `json:"verdict,omitempty"`
}

// Counters count analyses within the current step.
type Counters struct {
	Successes int `json:"successes"`
	Failures  int `json:"failures"`
	// Inconclusive and Errors count consecutive analyses of that phase.
	Inconclusive int `json:"inconclusive"`
	Errors       int `json:"errors"`
}

// ReleaseStatus is the replicated progress of a release. Every deadline is
// an absolute time taken from commands, so a new leader resumes exactly
// where the old one stopped.
type ReleaseStatus struct {
	Phase Phase `json:"phase"`
	// From is the version traffic leaves (resolved at creation).
	From string `json:"from"`
	// Policy is the covering policy's name and PolicySpec its spec as it was
	// when the release was created, with defaults filled in: changing the
	// policy later does not change a running release.
	Policy     string                   `json:"policy,omitempty"`
	PolicySpec config.ReleasePolicySpec `json:"policySpec"`
	Plan       []config.StepSpec        `json:"plan"`
	// Step is the index into Plan (-1 before the first step).
	Step int `json:"step"`
	// Weight is the new version's share of traffic now.
	Weight uint32 `json:"weight"`
	// StepIndex is the state index whose routes carry the current step;
	// proxies must ACK it before the bake starts.
	StepIndex     uint64    `json:"stepIndex,omitempty"`
	StepStartedAt time.Time `json:"stepStartedAt,omitempty"`
	Acked         bool      `json:"acked"`
	AckedAt       time.Time `json:"ackedAt,omitempty"`
	// BakeUntil is when the step may advance (given a Successful verdict).
	BakeUntil time.Time `json:"bakeUntil,omitempty"`
	// NextAnalysisAt is when the next analysis is due.
	NextAnalysisAt time.Time `json:"nextAnalysisAt,omitempty"`
	PausedAt       time.Time `json:"pausedAt,omitempty"`
	Counters       Counters  `json:"counters"`
	// Holding says why the release is not advancing, when it is held.
	Holding string `json:"holding,omitempty"`
	// LastVerdict is the latest analysis (analysis.Verdict as JSON).
	LastVerdict json.RawMessage `json:"lastVerdict,omitempty"`
	// Train and Member are set for a release created by a train; Blocked
	// says why it may not start yet (the train clears it).
	Train   string `json:"train,omitempty"`
	Member  string `json:"member,omitempty"`
	Blocked string `json:"blocked,omitempty"`
	// Assessment is the risk score and plan the leader computed when the
	// release was submitted.
	Assessment *Assessment `json:"assessment,omitempty"`
	// Window says how the start time was chosen: "in-window",
	// "scheduled", "start-now" (a person's approval) or "" (no schedule).
	Window string `json:"window,omitempty"`
	// ScheduledAt is when a Scheduled release starts; Schedule is the
	// window optimizer's suggestion behind it (JSON).
	ScheduledAt time.Time       `json:"scheduledAt,omitempty"`
	Schedule    json.RawMessage `json:"schedule,omitempty"`
	// Exposure is the estimate for the current step (or, while held by
	// the exposure budget, for the step it is waiting to enter).
	Exposure  *Exposure  `json:"exposure,omitempty"`
	Approvals []Approval `json:"approvals,omitempty"`
	// Limited is set when the release started blast-radius-limited: its
	// first step was a cohort of tenants, regions or headers, or exposed
	// at most LimitedShare percent of traffic.
	Limited   bool       `json:"limited"`
	Decisions []Decision `json:"decisions"`
	CreatedAt time.Time  `json:"createdAt"`
	StartedAt time.Time  `json:"startedAt,omitempty"`
	EndedAt   time.Time  `json:"endedAt,omitempty"`
	// Reason is why the release ended.
	Reason string `json:"reason,omitempty"`
}

// Release is a release and its progress.
type Release struct {
	Spec   config.Release `json:"spec"`
	Status ReleaseStatus  `json:"status"`
}

// Name returns the release's name.
func (r *Release) Name() string { return r.Spec.Metadata.Name }

// Service returns the released service's name.
func (r *Release) Service() string { return r.Spec.Spec.Service }

// CurrentStep returns the plan step in force, if any.
func (r *Release) CurrentStep() (config.StepSpec, bool) {
	if r.Status.Step < 0 || r.Status.Step >= len(r.Status.Plan) {
		return config.StepSpec{}, false
	}
	return r.Status.Plan[r.Status.Step], true
}

// Hold reasons that wait for a person to approve a step start with one of
// these; an approval of that step clears them.
const (
	HoldExposureBudget = "exposure budget"
	HoldRisk           = "risk:"
)

// HeldForStepApproval reports whether the release holds until a person
// approves a step (exposure budget or high risk).
func (r *Release) HeldForStepApproval() bool {
	h := r.Status.Holding
	return strings.HasPrefix(h, HoldExposureBudget) || strings.HasPrefix(h, HoldRisk)
}

// LimitedShare is the largest first-step share of traffic (percent) that
// still counts as a blast-radius-limited start.
const LimitedShare = 10

// Approved reports whether a person approved entering plan step i.
func (r *Release) Approved(step int) bool {
	for _, a := range r.Status.Approvals {
		if a.Step == step && a.Gate == "" && !a.StartNow {
			return true
		}
	}
	return false
}

// GateOverridden reports whether a person overrode a failed gate.
func (r *Release) GateOverridden(gate string) bool {
	for _, a := range r.Status.Approvals {
		if a.Gate == gate {
			return true
		}
	}
	return false
}

// StartNowApproved reports whether a person approved starting now.
func (r *Release) StartNowApproved() bool {
	for _, a := range r.Status.Approvals {
		if a.StartNow {
			return true
		}
	}
	return false
}

// FailedGates lists the required quality gates that did not pass and no
// person has overridden.
func (r *Release) FailedGates() []string {
	var out []string
	for _, g := range r.Spec.Spec.Gates {
		if g.Required && !g.Passed && !r.GateOverridden(g.Name) {
			out = append(out, g.Name)
		}
	}
	return out
}

// Waiting reports whether the release has not moved traffic yet.
func (p Phase) Waiting() bool {
	return p == PhasePending || p == PhaseAwaitingApproval || p == PhaseScheduled
}

// Stage returns the cohort stage of plan step i, if it names one.
func (r *Release) Stage(i int) (config.CohortStage, bool) {
	if i < 0 || i >= len(r.Status.Plan) || r.Status.Plan[i].Cohort == "" {
		return config.CohortStage{}, false
	}
	return r.Status.PolicySpec.Cohorts.Stage(r.Status.Plan[i].Cohort)
}

// StepWeight is the new version's share of the traffic in scope at plan
// step i: the step's weight, or its cohort stage's percent.
func (r *Release) StepWeight(i int) uint32 {
	if st, ok := r.Stage(i); ok {
		return st.EffectivePercent()
	}
	return r.Status.Plan[i].Weight
}

// clone copies a release deeply enough to change its status.
func (r *Release) clone() *Release {
	c := *r
	c.Status.Decisions = append([]Decision(nil), r.Status.Decisions...)
	c.Status.Plan = append([]config.StepSpec(nil), r.Status.Plan...)
	c.Status.Approvals = append([]Approval(nil), r.Status.Approvals...)
	return &c
}
