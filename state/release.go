package state

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
)

// ErrConflict is returned when a guarded command's expectations no longer hold:
// another decision got there first (for example a previous leader's).
// Nothing changed.
var ErrConflict = errors.New("changed since the decision was made")

// ErrBadTransition is returned for an event the release's (or train's)
// phase does not allow (resuming a release that is not paused, promoting
// a finished one); see ReleaseTransitions and TrainTransitions.
var ErrBadTransition = errors.New("action not allowed in this phase")

// Phase is where a release is in its lifecycle.
type Phase string

// Release phases. Pending -> (AwaitingApproval) -> (Scheduled) ->
// Progressing(step i) <-> Paused -> Promoted | RolledBack | Aborted; a
// policy's gradual rollback goes Progressing -> RollingBack -> RolledBack
// (PhaseRollingBack, gradual.go).
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

// Waiting reports whether the release has not moved traffic yet.
func (p Phase) Waiting() bool {
	return p == PhasePending || p == PhaseAwaitingApproval || p == PhaseScheduled
}

// HoldKind says what a held release waits for. Code matches the kind,
// never the hold's message, which is for people.
type HoldKind string

// Hold kinds.
const (
	// HoldAckTimeout: not every proxy group ACKed the step in time.
	HoldAckTimeout HoldKind = "ack-timeout"
	// HoldRejected: a proxy group rejected (NACKed) the step's config.
	HoldRejected HoldKind = "rejected"
	// HoldAnalysis: the last analysis was not Successful.
	HoldAnalysis HoldKind = "analysis"
	// HoldLockstep: a train member waits for the peers of its level.
	HoldLockstep HoldKind = "lockstep"
	// HoldExposureBudget: the next step exposes more than the policy's
	// budget until a person approves it.
	HoldExposureBudget HoldKind = "exposure-budget"
	// HoldRisk: a high-risk release waits for a person to approve a step.
	HoldRisk HoldKind = "risk"
	// HoldGates: a required quality gate failed (AwaitingApproval).
	HoldGates HoldKind = "gates"
	// HoldNoWindow: no allowed start was found (AwaitingApproval).
	HoldNoWindow HoldKind = "no-window"
	// HoldScheduled: waiting for the scheduled start (Scheduled).
	HoldScheduled HoldKind = "scheduled"
	// HoldError: the controller could not decide (a bug it recovered
	// from); the release does not move until the cause is gone.
	HoldError HoldKind = "error"
)

// ClearedByStepApproval reports whether a person's approval of a step
// ends a hold of this kind.
func (k HoldKind) ClearedByStepApproval() bool {
	return k == HoldExposureBudget || k == HoldRisk
}

// Hold is why a release does not go on.
type Hold struct {
	Kind    HoldKind `json:"kind"`
	Message string   `json:"message"`
}

// StartWindow says how a release's start time was chosen.
type StartWindow string

// Start windows; the zero value means the policy has no schedule.
const (
	StartInWindow  StartWindow = "in-window"
	StartScheduled StartWindow = "scheduled"
	// StartNow: a person approved starting outside the window.
	StartNow StartWindow = "start-now"
)

// ExposureSource says where an exposure estimate's share came from.
type ExposureSource string

// Exposure sources.
const (
	// ExposurePlan: a plain percentage step exposes its weight.
	ExposurePlan ExposureSource = "plan"
	// ExposurePrometheus: measured from traffic by tenant and region.
	ExposurePrometheus ExposureSource = "prometheus"
	// ExposureDeclared: the cohort stage's expectedShare.
	ExposureDeclared ExposureSource = "expectedShare"
	// ExposureUnknown: it could not be estimated (Share is -1).
	ExposureUnknown ExposureSource = "unknown"
)

// Exposure is an estimate of what one step exposes to the new version.
type Exposure struct {
	// Step is the plan index the estimate is for.
	Step int `json:"step"`
	// Share is the estimated share of all traffic (percent) sent to the
	// new version; -1 when it could not be estimated.
	Share float64 `json:"share"`
	// Tenants and Regions count what the step exposes; -1 means all.
	Tenants int            `json:"tenants"`
	Regions int            `json:"regions"`
	Source  ExposureSource `json:"source"`
	Detail  string         `json:"detail,omitempty"`
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

// DecisionKind names what a recorded decision did.
type DecisionKind string

// Decision kinds of a release's record (and of a train's, below).
const (
	DecisionCreate   DecisionKind = "create"
	DecisionStart    DecisionKind = "start"
	DecisionAck      DecisionKind = "ack"
	DecisionAnalysis DecisionKind = "analysis"
	DecisionHold     DecisionKind = "hold"
	DecisionAdvance  DecisionKind = "advance"
	DecisionPromote  DecisionKind = "promote"
	DecisionRollback DecisionKind = "rollback"
	DecisionAbort    DecisionKind = "abort"
	DecisionPause    DecisionKind = "pause"
	DecisionResume   DecisionKind = "resume"
	DecisionApprove  DecisionKind = "approve"
	DecisionAwait    DecisionKind = "await"
	DecisionSchedule DecisionKind = "schedule"
	// DecisionClear: a train let its member start.
	DecisionClear DecisionKind = "clear"
	// DecisionError: the controller failed to decide (see HoldError).
	DecisionError DecisionKind = "error"
	// DecisionUndo: a person sent a promoted release's traffic back at
	// once (`release undo --now`); recorded on the release and service.
	DecisionUndo DecisionKind = "undo"
	// DecisionForceWeights: an admin applied static weights to a Service
	// covered by a policy (recorded on the service).
	DecisionForceWeights DecisionKind = "force-weights"
)

// Decision is one entry of a release's (train's, service's) record: what
// was decided, when, by whom and why, with the inputs (the analysis
// verdict) it was based on. Decisions are made by the tx's record helpers
// only.
type Decision struct {
	Seq    int          `json:"seq"`
	Time   time.Time    `json:"time"`
	Actor  string       `json:"actor"`
	Action DecisionKind `json:"action"`
	// Phase, Step and Weight are the release's after the decision.
	Phase  Phase  `json:"phase"`
	Step   int    `json:"step"`
	Weight uint32 `json:"weight"`
	// Index is the Raft index of the command that made the decision.
	Index   uint64 `json:"index"`
	Message string `json:"message"`
	// Verdict is the analysis behind the decision (analysis.Verdict as
	// a JSON object), when there was one. State never reads it: it is
	// the record of what the analysis saw.
	Verdict json.RawMessage `json:"verdict,omitempty"`
	// Webhooks are the webhook calls behind the decision and their
	// answers, when it was made on them.
	Webhooks *WebhookRecord `json:"webhooks,omitempty"`
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
	StepStartedAt time.Time `json:"stepStartedAt,omitzero"`
	Acked         bool      `json:"acked"`
	AckedAt       time.Time `json:"ackedAt,omitzero"`
	// ExpectedGroups are the proxy groups that held the last ACKed step,
	// or, at the first step, those recorded as serving the service
	// (ServiceStatus.Served), sorted: the step's ACK waits for each of them to hold a
	// stream on a live node, for up to the policy's ackTimeout. It is
	// replicated so that a new leader, whose proxies have not reconnected
	// yet, still knows whom to wait for.
	ExpectedGroups []string `json:"expectedGroups,omitempty"`
	// BakeUntil is the earliest the step may advance (given a Successful
	// verdict): the ACK plus the step's bake, pushed out by pauses.
	BakeUntil time.Time `json:"bakeUntil,omitzero"`
	// Baked is how much of the step's bake analyses with usable data
	// covered (the step advances once it reaches the bake), and BakedTo
	// the time it was counted up to: each counted analysis, then a resume
	// (unset until the first, which counts from AckedAt). Time without
	// usable data (Prometheus down, no samples) is not counted; the
	// controller decides how much each analysis covers. Both are set only
	// by events that carry a count, so replaying an older log reaches the
	// state it reached then.
	Baked   config.Duration `json:"baked,omitempty"`
	BakedTo time.Time       `json:"bakedTo,omitzero"`
	// NextAnalysisAt is when the next analysis is due.
	NextAnalysisAt time.Time `json:"nextAnalysisAt,omitzero"`
	PausedAt       time.Time `json:"pausedAt,omitzero"`
	// Counters count the analyses of the current step (analysis.Decide
	// keeps them).
	Counters analysis.Counters `json:"counters"`
	// Analyses is how many analyses were recorded for the current step;
	// an analysis result expects the count it was started for
	// (Expect.Analyses), so a second result for the same count is refused.
	Analyses int `json:"analyses,omitempty"`
	// Hold says why the release is not advancing, when it is held.
	Hold *Hold `json:"hold,omitempty"`
	// MirrorSkips are the proxy groups mirror steps were not mirrored for
	// (state/mirror.go).
	MirrorSkips []MirrorSkip `json:"mirrorSkips,omitempty"`
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
	// Window says how the start time was chosen.
	Window StartWindow `json:"window,omitempty"`
	// ScheduledAt is when a Scheduled release starts; Schedule is the
	// window optimizer's suggestion behind it (a JSON object).
	ScheduledAt time.Time       `json:"scheduledAt,omitzero"`
	Schedule    json.RawMessage `json:"schedule,omitempty"`
	// Exposure is the estimate for the current step (or, while held by
	// the exposure budget, for the step it is waiting to enter).
	Exposure  *Exposure  `json:"exposure,omitempty"`
	Approvals []Approval `json:"approvals,omitempty"`
	// Rollback is the progress of a gradual rollback (gradual.go), set
	// when one started.
	Rollback *RollbackStatus `json:"rollback,omitempty"`
	// Limited is set when the release started blast-radius-limited: its
	// first step was a cohort of tenants, regions or headers, or exposed
	// at most LimitedShare percent of traffic.
	Limited bool `json:"limited"`
	// DoneWebhooks lists the webhook types (and steps) the release is
	// done with; NextWebhookAt is when a webhook that held it is called
	// again.
	DoneWebhooks  []WebhookPass `json:"doneWebhooks,omitempty"`
	NextWebhookAt time.Time     `json:"nextWebhookAt,omitzero"`
	Decisions     []Decision    `json:"decisions"`
	CreatedAt     time.Time     `json:"createdAt"`
	StartedAt     time.Time     `json:"startedAt,omitzero"`
	EndedAt       time.Time     `json:"endedAt,omitzero"`
	// Reason is why the release ended.
	Reason string `json:"reason,omitempty"`
}

// AnalysisInterval is how often the release is analysed (the policy's
// analysis interval, default 5s).
func (rs *ReleaseStatus) AnalysisInterval() time.Duration {
	if a := rs.PolicySpec.Analysis; a != nil && a.Interval > 0 {
		return a.Interval.D()
	}
	return 5 * time.Second
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

// HeldFor reports whether the release is held for a reason of kind k.
func (r *Release) HeldFor(k HoldKind) bool { return r.Status.Hold != nil && r.Status.Hold.Kind == k }

// WaitsForStepApproval reports whether the release holds until a person
// approves a step (exposure budget or high risk).
func (r *Release) WaitsForStepApproval() bool {
	return r.Status.Hold != nil && r.Status.Hold.Kind.ClearedByStepApproval()
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
	c.Status.DoneWebhooks = append([]WebhookPass(nil), r.Status.DoneWebhooks...)
	return &c
}
