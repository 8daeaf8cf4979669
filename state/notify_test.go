package state

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

const notifierDocs = `apiVersion: sluice.dev/v1alpha1
kind: Notifier
metadata: {name: all}
spec: {type: webhook, url: "http://hooks.local/all"}
---
apiVersion: sluice.dev/v1alpha1
kind: Notifier
metadata: {name: pager}
spec: {type: pagerduty, routingKeyEnv: PD_KEY}
---
apiVersion: sluice.dev/v1alpha1
kind: Notifier
metadata: {name: other}
spec: {type: webhook, url: "http://hooks.local/other", services: [other]}
`

func (m *machine) events(notifier string) []config.NotifyEvent {
	var out []config.NotifyEvent
	if box := m.st.Outboxes[notifier]; box != nil {
		for _, n := range box.Pending {
			out = append(out, n.Event)
		}
	}
	return out
}

func (m *machine) ack(notifier, id string) AckResult {
	m.t.Helper()
	c, err := NewCommand(CmdNotifyAck, t0, "controller", AckNotice{Notifier: notifier, ID: id})
	require.NoError(m.t, err)
	res, err := m.run(c)
	require.NoError(m.t, err)
	return res.(AckResult)
}

func TestNoticesFromReleaseDecisions(t *testing.T) {
	m := newMachine(t, baseDocs+"---\n"+notifierDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	require.Empty(t, m.events("all"), "creating a release is not one of the events")

	require.NoError(t, m.do(&StartRelease{On: m.on("start")}, t0, "controller"))
	require.NoError(t, m.do(&AckStep{On: m.on("acked")}, t0, "controller"))
	hold := &Hold{Kind: HoldAnalysis, Message: "burn rate 20 over 14.4"}
	a := &RecordAnalysis{On: OnAnalysis(m.rel(), "inconclusive"), Hold: hold}
	require.NoError(t, m.do(a, t0, "controller"))
	again := &RecordAnalysis{On: OnAnalysis(m.rel(), "inconclusive"), Hold: &Hold{Kind: HoldAnalysis, Message: "burn rate 21"}}
	require.NoError(t, m.do(again, t0, "controller"))
	require.NoError(t, m.do(&AdvanceStep{On: m.on("advance")}, t0, "controller"))
	risk := &HoldRelease{On: m.on("risk"), Hold: Hold{Kind: HoldRisk, Message: "high risk: approve step 2"}}
	require.NoError(t, m.do(risk, t0, "controller"))
	rb := &Rollback{On: m.on("burn rule fired")}
	rb.Verdict = []byte(`{"phase":"Failed"}`)
	require.NoError(t, m.do(rb, t0.Add(time.Minute), "controller"))

	require.Equal(t, []config.NotifyEvent{config.EventReleaseStarted, config.EventReleaseHeld, config.EventReleaseStepAdvanced,
		config.EventReleaseNeedsApproval, config.EventReleaseRolledBack}, m.events("all"),
		"the same hold again is not news; a new kind of hold is")
	require.Equal(t, []config.NotifyEvent{config.EventReleaseRolledBack}, m.events("pager"), "pagerduty defaults to rollbacks")
	require.Empty(t, m.events("other"), "filtered by service")

	box := m.st.Outboxes["all"]
	held := box.Pending[1]
	require.Equal(t, "burn rate 20 over 14.4", held.Hold.Message, "held says why")
	require.Equal(t, "greeter", held.Service)
	last := box.Pending[4]
	require.JSONEq(t, `{"phase":"Failed"}`, string(last.Verdict), "a rollback carries its verdict")
	require.Equal(t, fmt.Sprintf("%d.1", m.index), last.ID, "the id is the command's index and an ordinal")
	require.Equal(t, last.ID, m.st.Outboxes["pager"].Pending[0].ID, "one id for every notifier")
	require.Equal(t, t0.Add(time.Minute), last.Time)
	require.Equal(t, 2, last.Steps)
	require.Equal(t, "v1", last.From)
	require.Equal(t, "v2", last.To)
}

func TestNoticeAck(t *testing.T) {
	m := newMachine(t, baseDocs+"---\n"+notifierDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	require.NoError(t, m.do(&StartRelease{On: m.on("start")}, t0, "controller"))
	require.NoError(t, m.do(&Promote{On: m.on("done")}, t0, "controller"))
	box := m.st.Outboxes["all"]
	require.Len(t, box.Pending, 2)
	first := box.Pending[0].ID

	before := m.st
	require.True(t, m.ack("all", first).Acked)
	require.Len(t, before.Outboxes["all"].Pending, 2, "the state before is unchanged (copy on write)")
	require.Equal(t, []config.NotifyEvent{config.EventReleasePromoted}, m.events("all"))
	require.Equal(t, uint64(1), m.st.Outboxes["all"].Delivered)

	// A second ack (a previous leader's) changes nothing.
	same := m.st
	require.False(t, m.ack("all", first).Acked)
	require.Same(t, same, m.st)
	require.False(t, m.ack("nobody", first).Acked)
	require.Same(t, same, m.st)
}

func TestOutboxBounded(t *testing.T) {
	m := newMachine(t, baseDocs+"---\n"+notifierDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	require.NoError(t, m.do(&StartRelease{On: m.on("start")}, t0, "controller"))
	for i := 0; i < MaxOutbox+5; i++ {
		require.NoError(t, m.do(&HoldRelease{On: m.on("hold"), Hold: Hold{Kind: HoldAckTimeout}}, t0, "c"))
		require.NoError(t, m.do(&HoldRelease{On: m.on("hold"), Hold: Hold{Kind: HoldRejected}}, t0, "c"))
		if len(m.st.Outboxes["all"].Pending) >= MaxOutbox && m.st.Outboxes["all"].Dropped > 0 {
			break
		}
	}
	box := m.st.Outboxes["all"]
	require.Len(t, box.Pending, MaxOutbox)
	require.Positive(t, box.Dropped, "a full outbox counts what it drops")
	// Release progress goes on regardless.
	require.NoError(t, m.do(&Promote{On: m.on("done")}, t0, "controller"))
	require.Equal(t, PhasePromoted, m.rel().Status.Phase)
}

func TestNoticesFromTrain(t *testing.T) {
	m := newMachine(t, trainDocs+"---\n"+notifierDocs)
	require.NoError(t, m.applyYAML(trainDoc, t0))
	require.NoError(t, m.controller(&ClearMember{OnMember: m.memberOn("a", "start")}))
	require.NoError(t, m.controller(&StartRelease{On: m.relOn("t-a")}))
	require.NoError(t, m.controller(&Rollback{On: m.relOn("t-a")}))
	require.NoError(t, m.controller(&FailTrain{OnMember: m.memberOn("a", "member a rolledback: burn")}))
	require.NoError(t, m.controller(&UnwindMember{OnMember: m.memberOn("b", "cancel")}))
	require.NoError(t, m.controller(&UnwindMember{OnMember: m.memberOn("c", "cancel")}))
	require.NoError(t, m.controller(&FinishTrain{OnTrain: m.trainOn("done")}))
	require.Equal(t, []config.NotifyEvent{config.EventTrainStarted, config.EventReleaseStarted, config.EventReleaseRolledBack,
		config.EventTrainRollingBack, config.EventReleaseAborted, config.EventReleaseAborted, config.EventTrainRolledBack}, m.events("all"))
	box := m.st.Outboxes["all"]
	require.Equal(t, "t", box.Pending[1].Train, "a member's notices name its train")
	require.Equal(t, []config.NotifyEvent{config.EventReleaseRolledBack, config.EventTrainRolledBack}, m.events("pager"))
}

func TestNotifierDeleteDropsOutbox(t *testing.T) {
	m := newMachine(t, baseDocs+"---\n"+notifierDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	require.NoError(t, m.do(&StartRelease{On: m.on("start")}, t0, "controller"))
	require.NotEmpty(t, m.events("all"))
	c, err := NewCommand(CmdDelete, t0, "admin", DeletePayload{Kind: config.KindNotifier, Name: "all"})
	require.NoError(t, err)
	_, err = m.run(c)
	require.NoError(t, err)
	require.NotContains(t, m.st.Notifiers, "all")
	require.NotContains(t, m.st.Outboxes, "all")
	_, err = m.run(c)
	require.ErrorIs(t, err, ErrNotFound)
}

func TestNotifiersBounded(t *testing.T) {
	m := newMachine(t, baseDocs)
	var b strings.Builder
	for i := 0; i <= MaxNotifiers; i++ {
		fmt.Fprintf(&b, "---\napiVersion: sluice.dev/v1alpha1\nkind: Notifier\nmetadata: {name: n%d}\nspec: {type: webhook, url: \"http://h/x\"}\n", i)
	}
	before := m.st
	err := m.applyYAML(b.String(), t0)
	require.ErrorIs(t, err, config.ErrInvalid)
	require.ErrorContains(t, err, "at most 32 notifiers are allowed")
	require.Same(t, before, m.st, "nothing applied")
}

// TestNoticesFromGradualRollback: a gradual rollback pages when it starts
// and again (the same alert) when it ends; its steps back are not news.
func TestNoticesFromGradualRollback(t *testing.T) {
	m := newMachine(t, gradualDocs+"---\n"+notifierDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	require.NoError(t, m.do(&StartRelease{On: m.on("start")}, t0, "controller"))
	require.NoError(t, m.do(&AdvanceStep{On: m.on("advance")}, t0.Add(time.Minute), "controller"))
	at := t0.Add(2 * time.Minute)
	trig := &BurnReading{Rule: "fast", Window: config.Duration(10 * time.Second), Burn: 20}
	require.NoError(t, m.do(&GradualRollback{On: m.on("burn rule fast fired"), Trigger: trig, Bar: 30}, at, "controller"))
	require.Equal(t, []config.NotifyEvent{config.EventReleaseRollingBack}, m.events("pager"), "the start of a gradual rollback pages")
	require.NoError(t, m.do(&RollbackStep{On: m.on("step 2")}, at.Add(20*time.Second), "controller"))
	require.Len(t, m.events("pager"), 1, "a step back is not news")
	require.NoError(t, m.do(&RollbackStep{On: m.on("last step")}, at.Add(40*time.Second), "controller"))
	require.Equal(t, PhaseRolledBack, m.rel().Status.Phase)
	require.Equal(t, []config.NotifyEvent{config.EventReleaseRollingBack, config.EventReleaseRolledBack}, m.events("pager"))
	require.Equal(t, []config.NotifyEvent{config.EventReleaseStarted, config.EventReleaseStepAdvanced,
		config.EventReleaseRollingBack, config.EventReleaseRolledBack}, m.events("all"))
	require.Equal(t, "burn rule fast fired", m.st.Outboxes["pager"].Pending[0].Message)
}
