package state

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/config"
)

// CmdReleaseWebhook records the calls of a policy's webhooks at one point
// of a release (RecordWebhooks).
const CmdReleaseWebhook Type = "release.webhook"

// DecisionWebhook: the policy's webhooks of one type were called; the
// decision carries every call and its answer (Decision.Webhooks).
const DecisionWebhook DecisionKind = "webhook"

// HoldWebhook: a webhook did not answer 2xx and its policy says hold; it
// is called again after the analysis interval.
const HoldWebhook HoldKind = "webhook"

// WebhookErrorKind says why one webhook call did not pass. Code matches
// the kind, never the call's Detail, which is for people.
type WebhookErrorKind string

// Webhook error kinds; the zero value is an answer that passed.
const (
	// WebhookErrStatus: the webhook answered, with a status other than 2xx.
	WebhookErrStatus WebhookErrorKind = "status"
	// WebhookErrTimeout: no answer within the webhook's timeout.
	WebhookErrTimeout WebhookErrorKind = "timeout"
	// WebhookErrConnection: the webhook could not be reached (refused,
	// name not resolved, TLS failed, connection reset).
	WebhookErrConnection WebhookErrorKind = "connection"
	// WebhookErrRequest: the request could not be made at all.
	WebhookErrRequest WebhookErrorKind = "request"
)

// WebhookCall is one call of one webhook and its answer, as the leader
// observed it: what was sent (URL and a summary of the body) and what came
// back (status, the start of the body, latency, error kind).
type WebhookCall struct {
	Name string             `json:"name"`
	Type config.WebhookType `json:"type"`
	URL  string             `json:"url"`
	// Step and Weight are the release's when the call was made, as sent
	// in the body; BodyBytes is the size of the body sent.
	Step      int    `json:"step"`
	Weight    uint32 `json:"weight"`
	BodyBytes int    `json:"bodyBytes"`
	// Status is the HTTP status of the answer (0 without one).
	Status int `json:"status,omitempty"`
	// Body is the start of the answer's body (MaxWebhookBody bytes).
	Body    string           `json:"body,omitempty"`
	Latency config.Duration  `json:"latency"`
	Error   WebhookErrorKind `json:"error,omitempty"`
	// Detail says what went wrong, for people.
	Detail string `json:"detail,omitempty"`
}

// MaxWebhookBody is how much of a webhook's answer is recorded.
const MaxWebhookBody = 256

// Passed reports whether the call passed: a 2xx answer.
func (c WebhookCall) Passed() bool {
	return c.Error == "" && c.Status >= 200 && c.Status < 300
}

// WebhookOutcome is what the calls of one webhook type decided.
type WebhookOutcome string

// Webhook outcomes.
const (
	// WebhookPassed: every call answered 2xx; the release goes on.
	WebhookPassed WebhookOutcome = "pass"
	// WebhookHeld: a call failed and its webhook holds on failure.
	WebhookHeld WebhookOutcome = "hold"
	// WebhookRolledBack: a call failed and its webhook rolls back.
	WebhookRolledBack WebhookOutcome = "rollback"
	// WebhookInformed: post-rollout calls, recorded whatever they answered.
	WebhookInformed WebhookOutcome = "recorded"
)

// WebhookRecord is the calls of one webhook type at one point of a
// release (Step is the release's step then, -1 before the first) and the
// outcome decided from their answers.
type WebhookRecord struct {
	Type    config.WebhookType `json:"type"`
	Step    int                `json:"step"`
	Calls   []WebhookCall      `json:"calls"`
	Outcome WebhookOutcome     `json:"outcome"`
}

// WebhookPass records that a release is done with its webhooks of one
// type at one step: they passed, or (post-rollout) they were called.
type WebhookPass struct {
	Type config.WebhookType `json:"type"`
	Step int                `json:"step"`
}

// WebhooksDone reports whether the release is done with its webhooks of
// type t at step (see WebhookPass).
func (r *Release) WebhooksDone(t config.WebhookType, step int) bool {
	for _, p := range r.Status.DoneWebhooks {
		if p.Type == t && p.Step == step {
			return true
		}
	}
	return false
}

// RecordWebhooks records the calls of the policy's webhooks of one type
// that passed, held the release, or (post-rollout, after the release
// ended) were only called. A rollback decided by a webhook is a Rollback
// carrying the record; confirm-promotion calls ride on the analysis
// decision they belong to.
type RecordWebhooks struct {
	On
	Record WebhookRecord `json:"record"`
	// Hold is set when Record.Outcome is WebhookHeld.
	Hold *Hold `json:"hold,omitempty"`
}

// Type is CmdReleaseWebhook.
func (*RecordWebhooks) Type() Type { return CmdReleaseWebhook }

func (e *RecordWebhooks) check(r *Release) (bool, error) {
	rec := &e.Record
	ended := r.Status.Phase.Terminal()
	switch {
	case (rec.Type == config.WebhookPostRollout) != ended:
		return false, fmt.Errorf("%w: %s webhooks of Release %q cannot be recorded while it is %s", ErrBadTransition, rec.Type, r.Name(), r.Status.Phase)
	case rec.Type == config.WebhookConfirmPromotion:
		return false, fmt.Errorf("%w: confirm-promotion webhooks are recorded with the analysis that would promote", ErrBadPayload)
	case rec.Outcome == WebhookHeld && e.Hold == nil, rec.Outcome != WebhookHeld && e.Hold != nil:
		return false, fmt.Errorf("%w: a webhook record holds exactly when its outcome is %q", ErrBadPayload, WebhookHeld)
	case rec.Outcome != WebhookPassed && rec.Outcome != WebhookHeld && rec.Outcome != WebhookInformed:
		return false, fmt.Errorf("%w: webhook outcome %q cannot be recorded alone", ErrBadPayload, rec.Outcome)
	case rec.Step != r.Status.Step:
		return false, fmt.Errorf("%w: webhook record for step %d, Release %q is at step %d", ErrConflict, rec.Step, r.Name(), r.Status.Step)
	}
	return r.WebhooksDone(rec.Type, rec.Step), nil
}

func (e *RecordWebhooks) change(rt *releaseTx) {
	rs := rt.status()
	rec := e.Record
	rt.webhooks = &rec
	if e.Hold != nil {
		// The same hold again is not news: the timer moves, the
		// history does not grow.
		rt.skip = sameHold(rs.Hold, e.Hold)
		h := *e.Hold
		rs.Hold = &h
		rs.NextWebhookAt = rt.time.Add(rs.AnalysisInterval())
		return
	}
	rs.DoneWebhooks = append(rs.DoneWebhooks, WebhookPass{Type: rec.Type, Step: rec.Step})
	rs.NextWebhookAt = time.Time{}
	if rt.r.HeldFor(HoldWebhook) {
		rs.Hold = nil
	}
}
