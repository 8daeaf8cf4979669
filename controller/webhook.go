package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// WebhookCaller calls one webhook and reports its answer. It never
// fails: an unreachable webhook is a call with an error kind.
type WebhookCaller interface {
	Call(ctx context.Context, w config.WebhookSpec, p WebhookPayload) state.WebhookCall
}

// WebhookPayload is the JSON body POSTed to a webhook (the shape of
// Flagger's: the object's name, its phase and the webhook's metadata).
type WebhookPayload struct {
	// Name is the release's name; Webhook the webhook's.
	Name    string             `json:"name"`
	Webhook string             `json:"webhook"`
	Type    config.WebhookType `json:"type"`
	Service string             `json:"service"`
	From    string             `json:"from"`
	To      string             `json:"to"`
	Phase   state.Phase        `json:"phase"`
	// Step is the plan step (1-based; 0 before the first) and Weight the
	// new version's share of traffic in scope.
	Step     int               `json:"step"`
	Weight   uint32            `json:"weight"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// PayloadFor is the body of a call of webhook w about r.
func PayloadFor(r *state.Release, w config.WebhookSpec) WebhookPayload {
	return WebhookPayload{Name: r.Name(), Webhook: w.Name, Type: w.Type, Service: r.Service(), From: r.Status.From, To: r.Spec.Spec.To,
		Phase: r.Status.Phase, Step: r.Status.Step + 1, Weight: r.Status.Weight, Metadata: w.Metadata}
}

// webhooksPending reports whether r has webhooks of type t that it is not
// done with at its current step.
func webhooksPending(r *state.Release, t config.WebhookType) bool {
	return len(config.WebhooksOf(&r.Status.PolicySpec, t)) > 0 && !r.WebhooksDone(t, r.Status.Step)
}

// webhooksDue reports whether r's pending webhooks of type t may be
// called now: not while a failed call waits out its interval.
func webhooksDue(r *state.Release, t config.WebhookType, now time.Time) bool {
	return webhooksPending(r, t) && !now.Before(r.Status.NextWebhookAt)
}

// DecideWebhooks is pure: from the answers to the calls of r's webhooks of
// type t, the record of those calls and the hold they cause (nil unless
// the outcome is a hold). Every webhook passes only with a 2xx answer; a
// webhook without an answer fails (closed by default), and the failure
// action of a webhook the policy no longer names is hold. Post-rollout
// answers are only recorded.
func DecideWebhooks(r *state.Release, t config.WebhookType, calls []state.WebhookCall) (state.WebhookRecord, *state.Hold) {
	rec := state.WebhookRecord{Type: t, Step: r.Status.Step, Calls: calls, Outcome: state.WebhookPassed}
	if t == config.WebhookPostRollout {
		rec.Outcome = state.WebhookInformed
		return rec, nil
	}
	specs := config.WebhooksOf(&r.Status.PolicySpec, t)
	var failed []string
	answered := map[string]bool{}
	for _, c := range calls {
		answered[c.Name] = true
		if c.Passed() {
			continue
		}
		failed = append(failed, callText(c))
		if spec, ok := specNamed(specs, c.Name); ok && spec.OnFailure == config.WebhookRollback {
			rec.Outcome = state.WebhookRolledBack
		} else if rec.Outcome != state.WebhookRolledBack {
			rec.Outcome = state.WebhookHeld
		}
	}
	for _, s := range specs {
		if !answered[s.Name] {
			failed = append(failed, fmt.Sprintf("webhook %s was not called", s.Name))
			if rec.Outcome != state.WebhookRolledBack {
				rec.Outcome = state.WebhookHeld
			}
		}
	}
	if rec.Outcome != state.WebhookHeld {
		return rec, nil
	}
	return rec, &state.Hold{Kind: state.HoldWebhook, Message: fmt.Sprintf("held: %s webhook(s) failed: %s", t, strings.Join(failed, "; "))}
}

func specNamed(specs []config.WebhookSpec, name string) (config.WebhookSpec, bool) {
	for _, s := range specs {
		if s.Name == name {
			return s, true
		}
	}
	return config.WebhookSpec{}, false
}

// callText says what a call answered, for people; it leaves out the
// latency so that the same answer again reads the same.
func callText(c state.WebhookCall) string {
	switch c.Error {
	case "":
		return fmt.Sprintf("webhook %s answered %d", c.Name, c.Status)
	case state.WebhookErrStatus:
		return fmt.Sprintf("webhook %s answered %d, want 2xx", c.Name, c.Status)
	}
	return fmt.Sprintf("webhook %s: %s", c.Name, c.Error)
}

// WebhookEvent is pure: the event that records the calls of one webhook
// type made before a step (pre-rollout, rollout) or after the end
// (post-rollout): a record that passes or holds, or a rollback.
func WebhookEvent(r *state.Release, rec state.WebhookRecord, h *state.Hold) state.ReleaseEvent {
	switch rec.Outcome {
	case state.WebhookRolledBack:
		return rollBack(r, state.OnRelease(r, rolledBackAt(r)+": "+failedText(rec)),
			state.Ending{Webhooks: &rec}, nil)
	case state.WebhookHeld:
		return &state.RecordWebhooks{On: state.OnRelease(r, h.Message), Record: rec, Hold: h}
	}
	return &state.RecordWebhooks{On: state.OnRelease(r, fmt.Sprintf("%s webhook(s) %s: %s", rec.Type, rec.Outcome, answersText(rec))), Record: rec}
}

func failedText(rec state.WebhookRecord) string {
	var out []string
	for _, c := range rec.Calls {
		if !c.Passed() {
			out = append(out, callText(c))
		}
	}
	return fmt.Sprintf("%s webhook(s) failed: %s", rec.Type, strings.Join(out, "; "))
}

func answersText(rec state.WebhookRecord) string {
	out := make([]string, len(rec.Calls))
	for i, c := range rec.Calls {
		out[i] = callText(c)
	}
	return strings.Join(out, "; ")
}

// callWebhooks calls r's webhooks of type t one after the other, each
// within its own timeout, and returns every answer.
func (c *Controller) callWebhooks(ctx context.Context, r *state.Release, t config.WebhookType) []state.WebhookCall {
	var calls []state.WebhookCall
	for _, w := range config.WebhooksOf(&r.Status.PolicySpec, t) {
		if c.deps.Webhooks == nil {
			calls = append(calls, state.WebhookCall{Name: w.Name, Type: w.Type, URL: w.URL, Step: r.Status.Step, Weight: r.Status.Weight,
				Error: state.WebhookErrRequest, Detail: "this node has no webhook client"})
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, w.Timeout.D())
		call := c.deps.Webhooks.Call(wctx, w, PayloadFor(r, w))
		cancel()
		c.log.Debug("webhook called", "release", r.Name(), "webhook", w.Name, "type", string(t), "status", call.Status, "error", string(call.Error))
		calls = append(calls, call)
	}
	return calls
}

// runWebhooks calls r's webhooks of type t in the background and proposes
// the event their answers decide.
func (c *Controller) runWebhooks(ctx context.Context, r *state.Release, t config.WebhookType) {
	c.background(ctx, r, "webhook/"+r.Name(), func() state.ReleaseEvent {
		calls := c.callWebhooks(ctx, r, t)
		if ctx.Err() != nil {
			return nil
		}
		rec, h := DecideWebhooks(r, t, calls)
		return WebhookEvent(r, rec, h)
	})
}

// postRollout calls the post-rollout webhooks of every release that ended
// and has not called them yet.
func (c *Controller) postRollout(ctx context.Context, st *state.State) {
	for _, r := range st.Releases {
		if r.Status.Phase.Terminal() && webhooksPending(r, config.WebhookPostRollout) {
			c.guard(ctx, r, func() { c.runWebhooks(ctx, r, config.WebhookPostRollout) })
		}
	}
}
