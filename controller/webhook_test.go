package controller

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// fakeWebhooks answers each webhook by name with its status (0: not
// reachable) and keeps every payload it was sent.
type fakeWebhooks struct {
	mu     sync.Mutex
	status map[string]int
	sent   []WebhookPayload
}

func (f *fakeWebhooks) set(name string, status int) {
	f.mu.Lock()
	f.status[name] = status
	f.mu.Unlock()
}

func (f *fakeWebhooks) Call(_ context.Context, w config.WebhookSpec, p WebhookPayload) state.WebhookCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, p)
	c := state.WebhookCall{Name: w.Name, Type: w.Type, URL: w.URL, Step: p.Step - 1, Weight: p.Weight, Status: f.status[w.Name]}
	switch {
	case c.Status == 0:
		c.Error = state.WebhookErrConnection
	case !c.Passed():
		c.Error = state.WebhookErrStatus
	}
	return c
}

// calls counts the calls of one webhook.
func (f *fakeWebhooks) calls(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, p := range f.sent {
		if p.Webhook == name {
			n++
		}
	}
	return n
}

const webhookPolicy = `
  webhooks:
    - {name: smoke, type: pre-rollout, url: "http://smoke/", metadata: {suite: smoke}}
    - {name: load, type: rollout, url: "http://load/", onFailure: %s}
    - {name: confirm, type: confirm-promotion, url: "http://confirm/"}
    - {name: notify, type: post-rollout, url: "http://notify/"}
`

func webhookWorld(loadFailure string) string {
	return strings.Replace(loopWorld, "  steps: [{weight: 10, bake: 10s}, {weight: 50, bake: 10s}]\n",
		"  steps: [{weight: 10, bake: 10s}, {weight: 50, bake: 10s}]"+strings.Replace(webhookPolicy, "%s", loadFailure, 1), 1)
}

func newWebhookRig(t *testing.T, loadFailure string, hooks *fakeWebhooks) *loopRig {
	rig := newLoopRig(t, webhookWorld(loadFailure), planEstimator{})
	rig.c.deps.Webhooks = hooks
	return rig
}

func lastDecision(r *state.Release) state.Decision {
	return r.Status.Decisions[len(r.Status.Decisions)-1]
}

// TestWebhooksGateARelease drives a release through every webhook type:
// a failing pre-rollout holds it before any traffic (recorded once,
// called again only after the interval), rollout runs once per step after
// the ACK and before the analysis, a failing confirm-promotion holds the
// last step until it answers 2xx, and post-rollout is called once after
// the end and recorded without changing it.
func TestWebhooksGateARelease(t *testing.T) {
	hooks := &fakeWebhooks{status: map[string]int{"smoke": 503, "load": 200, "confirm": 500}}
	rig := newWebhookRig(t, "hold", hooks)

	rig.tick()
	r := rig.rel("r")
	require.Equal(t, state.PhasePending, r.Status.Phase, "no traffic before pre-rollout passes")
	require.True(t, r.HeldFor(state.HoldWebhook))
	d := lastDecision(r)
	require.Equal(t, state.DecisionWebhook, d.Action)
	require.Equal(t, state.WebhookHeld, d.Webhooks.Outcome)
	require.Equal(t, 503, d.Webhooks.Calls[0].Status)
	require.Equal(t, state.WebhookErrStatus, d.Webhooks.Calls[0].Error)
	require.Equal(t, map[string]string{"suite": "smoke"}, hooks.sent[0].Metadata)
	require.Equal(t, 0, hooks.sent[0].Step)
	n := len(r.Status.Decisions)

	rig.tick()
	require.Equal(t, 1, hooks.calls("smoke"), "not called again before the interval")
	rig.clock.advance(time.Second)
	rig.tick()
	require.Equal(t, 2, hooks.calls("smoke"))
	require.Len(t, rig.rel("r").Status.Decisions, n, "the same hold is not recorded again")

	hooks.set("smoke", 204)
	rig.clock.advance(time.Second)
	rig.tick()
	r = rig.rel("r")
	require.Nil(t, r.Status.Hold)
	require.Equal(t, state.WebhookPassed, lastDecision(r).Webhooks.Outcome)
	rig.tick()
	require.Equal(t, state.PhaseProgressing, rig.rel("r").Status.Phase)
	require.Equal(t, 0, hooks.calls("load"), "rollout waits for the ACK")

	rig.tick() // ACK
	rig.tick() // rollout webhook of step 1
	require.Equal(t, 1, hooks.calls("load"))
	require.True(t, rig.rel("r").WebhooksDone(config.WebhookRollout, 0))
	rig.bakeFor(10) // analyses, one a second: advance at the tenth
	require.Equal(t, 1, rig.rel("r").Status.Step)
	rig.tick() // ACK
	rig.tick() // rollout webhook of step 2
	require.Equal(t, 2, hooks.calls("load"), "rollout runs once per step")
	require.Equal(t, 2, hooks.sent[len(hooks.sent)-1].Step)

	rig.bakeFor(10) // the tenth analysis would promote: confirm-promotion answers 500
	r = rig.rel("r")
	require.Equal(t, state.PhaseProgressing, r.Status.Phase)
	require.True(t, r.HeldFor(state.HoldWebhook))
	d = lastDecision(r)
	require.Equal(t, state.DecisionAnalysis, d.Action)
	require.NotEmpty(t, d.Verdict, "the analysis is recorded with the calls")
	require.Equal(t, 500, d.Webhooks.Calls[0].Status)

	hooks.set("confirm", 200)
	rig.clock.advance(time.Second)
	rig.tick()
	r = rig.rel("r")
	require.Equal(t, state.PhasePromoted, r.Status.Phase)
	d = lastDecision(r)
	require.Equal(t, state.DecisionPromote, d.Action)
	require.Equal(t, 200, d.Webhooks.Calls[0].Status)
	require.Equal(t, 2, hooks.calls("confirm"))

	rig.tick() // post-rollout: notify is unreachable, recorded only
	r = rig.rel("r")
	require.Equal(t, state.PhasePromoted, r.Status.Phase)
	d = lastDecision(r)
	require.Equal(t, state.DecisionWebhook, d.Action)
	require.Equal(t, state.WebhookInformed, d.Webhooks.Outcome)
	require.Equal(t, state.WebhookErrConnection, d.Webhooks.Calls[0].Error)
	rig.tick()
	require.Equal(t, 1, hooks.calls("notify"), "post-rollout is called once")
}

// TestRolloutWebhookRollsBack: a failing rollout webhook whose policy says
// rollback ends the release, and the rollback carries the call.
func TestRolloutWebhookRollsBack(t *testing.T) {
	hooks := &fakeWebhooks{status: map[string]int{"smoke": 200, "load": 502}}
	rig := newWebhookRig(t, "rollback", hooks)
	for range 4 { // pre-rollout, start, ACK, rollout
		rig.tick()
	}
	r := rig.rel("r")
	require.Equal(t, state.PhaseRolledBack, r.Status.Phase)
	d := r.Status.Decisions[len(r.Status.Decisions)-1]
	if d.Action != state.DecisionRollback { // post-rollout may have run already
		d = r.Status.Decisions[len(r.Status.Decisions)-2]
	}
	require.Equal(t, state.DecisionRollback, d.Action)
	require.Equal(t, state.WebhookRolledBack, d.Webhooks.Outcome)
	require.Equal(t, 502, d.Webhooks.Calls[0].Status)
	require.Equal(t, 0, hooks.calls("confirm"))
}

// TestNoWebhookClientFailsClosed: without a client every webhook fails;
// nothing passes by default.
func TestNoWebhookClientFailsClosed(t *testing.T) {
	rig := newLoopRig(t, webhookWorld("hold"), planEstimator{})
	rig.tick()
	r := rig.rel("r")
	require.Equal(t, state.PhasePending, r.Status.Phase)
	require.True(t, r.HeldFor(state.HoldWebhook))
	require.Equal(t, state.WebhookErrRequest, lastDecision(r).Webhooks.Calls[0].Error)
}

func TestDecideWebhooks(t *testing.T) {
	rel := &state.Release{Status: state.ReleaseStatus{Step: 1, PolicySpec: config.ReleasePolicySpec{Webhooks: []config.WebhookSpec{
		{Name: "a", Type: config.WebhookRollout, OnFailure: config.WebhookHold},
		{Name: "b", Type: config.WebhookRollout, OnFailure: config.WebhookRollback},
		{Name: "n", Type: config.WebhookPostRollout},
	}}}}
	ok := func(name string) state.WebhookCall { return state.WebhookCall{Name: name, Status: 200} }
	bad := func(name string, status int) state.WebhookCall {
		return state.WebhookCall{Name: name, Status: status, Error: state.WebhookErrStatus}
	}
	tests := []struct {
		name  string
		t     config.WebhookType
		calls []state.WebhookCall
		want  state.WebhookOutcome
		hold  string
	}{
		{"every call 2xx", config.WebhookRollout, []state.WebhookCall{ok("a"), ok("b")}, state.WebhookPassed, ""},
		{"a hold webhook fails", config.WebhookRollout, []state.WebhookCall{bad("a", 503), ok("b")}, state.WebhookHeld,
			"held: rollout webhook(s) failed: webhook a answered 503, want 2xx"},
		{"a rollback webhook fails", config.WebhookRollout, []state.WebhookCall{bad("a", 503), bad("b", 404)}, state.WebhookRolledBack, ""},
		{"a 3xx is not a pass", config.WebhookRollout, []state.WebhookCall{bad("a", 302), ok("b")}, state.WebhookHeld,
			"held: rollout webhook(s) failed: webhook a answered 302, want 2xx"},
		{"a timeout", config.WebhookRollout, []state.WebhookCall{{Name: "a", Error: state.WebhookErrTimeout}, ok("b")}, state.WebhookHeld,
			"held: rollout webhook(s) failed: webhook a: timeout"},
		{"a webhook not called", config.WebhookRollout, []state.WebhookCall{ok("a")}, state.WebhookHeld,
			"held: rollout webhook(s) failed: webhook b was not called"},
		{"no calls at all", config.WebhookRollout, nil, state.WebhookHeld,
			"held: rollout webhook(s) failed: webhook a was not called; webhook b was not called"},
		{"post-rollout is only recorded", config.WebhookPostRollout, []state.WebhookCall{{Name: "n", Error: state.WebhookErrConnection}}, state.WebhookInformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, h := DecideWebhooks(rel, tt.t, tt.calls)
			require.Equal(t, tt.want, rec.Outcome)
			require.Equal(t, 1, rec.Step)
			require.Equal(t, tt.calls, rec.Calls)
			if tt.hold == "" {
				require.Nil(t, h)
				return
			}
			require.Equal(t, &state.Hold{Kind: state.HoldWebhook, Message: tt.hold}, h)
		})
	}
}

// TestHTTPWebhooks calls real HTTP servers: the JSON body, a clipped
// answer, a redirect that is not followed, a timeout and a refused
// connection, each with its error kind.
func TestHTTPWebhooks(t *testing.T) {
	var got WebhookPayload
	var ctype string
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/ok":
			ctype = req.Header.Get("Content-Type")
			b, _ := io.ReadAll(req.Body)
			_ = json.Unmarshal(b, &got)
			_, _ = io.WriteString(w, strings.Repeat("x", 1000))
		case "/redirect":
			http.Redirect(w, req, "/ok", http.StatusFound)
		case "/slow":
			select {
			case <-req.Context().Done():
			case <-release:
			}
		default:
			http.Error(w, "no such gate", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	defer close(release)
	h := &HTTPWebhooks{}
	p := WebhookPayload{Name: "r", Webhook: "w", Type: config.WebhookRollout, Service: "web", Step: 2, Weight: 50, Metadata: map[string]string{"k": "v"}}
	call := func(path string, timeout time.Duration) state.WebhookCall {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return h.Call(ctx, config.WebhookSpec{Name: "w", Type: config.WebhookRollout, URL: srv.URL + path}, p)
	}

	c := call("/ok", 5*time.Second)
	require.True(t, c.Passed(), "%+v", c)
	require.Equal(t, 200, c.Status)
	require.Len(t, c.Body, state.MaxWebhookBody)
	require.Equal(t, p, got)
	require.Equal(t, "application/json", ctype)
	require.Equal(t, 1, c.Step)
	require.Positive(t, c.BodyBytes)

	c = call("/missing", 5*time.Second)
	require.Equal(t, state.WebhookErrStatus, c.Error)
	require.Equal(t, 404, c.Status)
	require.Equal(t, "no such gate\n", c.Body)

	c = call("/redirect", 5*time.Second)
	require.Equal(t, http.StatusFound, c.Status, "redirects are not followed")
	require.False(t, c.Passed())

	c = call("/slow", 100*time.Millisecond)
	require.Equal(t, state.WebhookErrTimeout, c.Error)

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	c = h.Call(context.Background(), config.WebhookSpec{Name: "w", URL: closed.URL}, p)
	require.Equal(t, state.WebhookErrConnection, c.Error)
	require.NotEmpty(t, c.Detail)
}

// TestConfirmPromotionDecision: the pure decision at the last step
// promotes only on 2xx answers; without answers it holds (closed by
// default), and a rollback webhook's failure rolls back with the verdict
// and the calls.
func TestConfirmPromotionDecision(t *testing.T) {
	spec := config.PolicyDefaults(&config.ReleasePolicySpec{Services: []string{"svc"}, Webhooks: []config.WebhookSpec{
		{Name: "confirm", Type: config.WebhookConfirmPromotion, URL: "http://c/", OnFailure: config.WebhookRollback}}})
	r := &state.Release{Status: state.ReleaseStatus{Phase: state.PhaseProgressing, Step: 1, Weight: 50, Acked: true, BakeUntil: t0,
		Plan: []config.StepSpec{{Weight: 10}, {Weight: 50}}, PolicySpec: spec}}
	r.Spec.Metadata.Name = "r"
	in := AnalysisInput{Verdict: analysis.Verdict{Phase: analysis.PhaseSuccessful, Reason: "ok"}, Now: t0.Add(time.Second)}
	require.True(t, PromoteDue(r, in.Verdict, in.Now))

	e := AfterAnalysis(r, in)
	held, ok := e.(*state.RecordAnalysis)
	require.True(t, ok, "%T", e)
	require.Equal(t, state.HoldWebhook, held.Hold.Kind)
	require.Contains(t, held.Hold.Message, "webhook confirm was not called")

	in.Confirm = []state.WebhookCall{{Name: "confirm", Status: 403, Error: state.WebhookErrStatus}}
	rb, ok := AfterAnalysis(r, in).(*state.Rollback)
	require.True(t, ok)
	require.Equal(t, state.WebhookRolledBack, rb.Webhooks.Outcome)
	require.NotEmpty(t, rb.Verdict)

	in.Confirm = []state.WebhookCall{{Name: "confirm", Status: 200}}
	p, ok := AfterAnalysis(r, in).(*state.Promote)
	require.True(t, ok)
	require.Equal(t, state.WebhookPassed, p.Webhooks.Outcome)
	require.Contains(t, p.Message, "confirm-promotion: webhook confirm answered 200")
}
