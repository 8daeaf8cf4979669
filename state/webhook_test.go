package state

import (
	"testing"

	"github.com/sluicehq/sluice/config"
	"github.com/stretchr/testify/require"
)

// TestRecordWebhooks: a hold is recorded once with its calls and times
// the next call; a pass ends the hold and is remembered per type and
// step; post-rollout records only after the end; a stale step conflicts.
func TestRecordWebhooks(t *testing.T) {
	m := newMachine(t, baseDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	failed := WebhookCall{Name: "smoke", Type: config.WebhookPreRollout, URL: "http://smoke/", Step: -1, Status: 503, Error: WebhookErrStatus}
	hold := &Hold{Kind: HoldWebhook, Message: "held: smoke answered 503"}
	held := func() *RecordWebhooks {
		return &RecordWebhooks{On: m.on(hold.Message), Hold: hold,
			Record: WebhookRecord{Type: config.WebhookPreRollout, Step: -1, Calls: []WebhookCall{failed}, Outcome: WebhookHeld}}
	}
	require.NoError(t, m.do(held(), t0, "controller"))
	r := m.rel()
	require.True(t, r.HeldFor(HoldWebhook))
	require.Equal(t, t0.Add(r.Status.AnalysisInterval()), r.Status.NextWebhookAt)
	d := r.Status.Decisions[len(r.Status.Decisions)-1]
	require.Equal(t, DecisionWebhook, d.Action)
	require.Equal(t, []WebhookCall{failed}, d.Webhooks.Calls)
	n := len(r.Status.Decisions)

	later := t0.Add(r.Status.AnalysisInterval())
	require.NoError(t, m.do(held(), later, "controller"))
	require.Len(t, m.rel().Status.Decisions, n, "the same hold again is not re-recorded")
	require.Equal(t, later.Add(r.Status.AnalysisInterval()), m.rel().Status.NextWebhookAt, "but the next call moves")

	ok := failed
	ok.Status, ok.Error = 200, ""
	pass := &RecordWebhooks{On: m.on("pre-rollout passed"), Record: WebhookRecord{Type: config.WebhookPreRollout, Step: -1, Calls: []WebhookCall{ok}, Outcome: WebhookPassed}}
	require.NoError(t, m.do(pass, later, "controller"))
	r = m.rel()
	require.Nil(t, r.Status.Hold)
	require.True(t, r.WebhooksDone(config.WebhookPreRollout, -1))
	require.False(t, r.WebhooksDone(config.WebhookRollout, -1))
	require.True(t, r.Status.NextWebhookAt.IsZero())
	require.Len(t, r.Status.Decisions, n+1)
	require.True(t, r.Status.Decisions[n].Webhooks.Calls[0].Passed())

	// A record for another step than the release's is stale.
	stale := &RecordWebhooks{On: m.on("x"), Record: WebhookRecord{Type: config.WebhookRollout, Step: 3, Outcome: WebhookPassed}}
	before := m.st
	require.ErrorIs(t, m.do(stale, later, "controller"), ErrConflict)
	require.Same(t, before, m.st)

	// post-rollout only after the end.
	post := func() *RecordWebhooks {
		return &RecordWebhooks{On: m.on("post-rollout"), Record: WebhookRecord{Type: config.WebhookPostRollout, Step: m.rel().Status.Step, Outcome: WebhookInformed,
			Calls: []WebhookCall{{Name: "notify", Type: config.WebhookPostRollout, Error: WebhookErrConnection}}}}
	}
	require.ErrorIs(t, m.do(post(), later, "controller"), ErrBadTransition)
	require.NoError(t, m.do(&Abort{On: m.on("abort")}, later, "alice"))
	require.NoError(t, m.do(post(), later, "controller"))
	require.True(t, m.rel().WebhooksDone(config.WebhookPostRollout, m.rel().Status.Step))
	n = len(m.rel().Status.Decisions)
	require.NoError(t, m.do(post(), later, "controller"), "a repeated record is a no-op")
	require.Len(t, m.rel().Status.Decisions, n)
}

// TestRecordWebhooksRefusesWhatItDoesNotRecord: confirm-promotion rides
// on the analysis, a rollback is a Rollback, a hold needs its Hold.
func TestRecordWebhooksRefusesWhatItDoesNotRecord(t *testing.T) {
	m := newMachine(t, baseDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	for _, e := range []*RecordWebhooks{
		{Record: WebhookRecord{Type: config.WebhookConfirmPromotion, Step: -1, Outcome: WebhookPassed}},
		{Record: WebhookRecord{Type: config.WebhookRollout, Step: -1, Outcome: WebhookRolledBack}},
		{Record: WebhookRecord{Type: config.WebhookRollout, Step: -1, Outcome: WebhookHeld}},
	} {
		e.On = m.on("x")
		before := m.st
		require.ErrorIs(t, m.do(e, t0, "controller"), ErrBadPayload, "%+v", e.Record)
		require.Same(t, before, m.st)
	}
}
