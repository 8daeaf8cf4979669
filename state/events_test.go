package state

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// releaseEvents builds one event of every release command type.
func releaseEvents(on On) map[Type]ReleaseEvent {
	return map[Type]ReleaseEvent{
		CmdReleaseStart:           &StartRelease{On: on},
		CmdReleaseAck:             &AckStep{On: on},
		CmdReleaseAnalysis:        &RecordAnalysis{On: on},
		CmdReleaseHold:            &HoldRelease{On: on, Hold: Hold{Kind: HoldAckTimeout, Message: "m"}},
		CmdReleaseAdvance:         &AdvanceStep{On: on},
		CmdReleasePromote:         &Promote{On: on},
		CmdReleaseRollback:        &Rollback{On: on},
		CmdReleaseAbort:           &Abort{On: on},
		CmdReleasePause:           &Pause{On: on},
		CmdReleaseResume:          &Resume{On: on},
		CmdReleaseApproveStep:     &ApproveStep{On: on, Step: 1},
		CmdReleaseOverrideGate:    &OverrideGate{On: on, Gate: "g"},
		CmdReleaseApproveStartNow: &ApproveStartNow{On: on},
		CmdReleaseAwait:           &Await{On: on, Hold: Hold{Kind: HoldGates, Message: "m"}},
		CmdReleaseSchedule:        &Schedule{On: on, At: t0},
		CmdReleaseError:           &RecordError{On: on},
		CmdReleaseWebhook:         &RecordWebhooks{On: on, Record: WebhookRecord{Outcome: WebhookPassed}},
		CmdReleaseRollbackGradual: &GradualRollback{On: on},
		CmdReleaseRollbackStep:    &RollbackStep{On: on},
		CmdReleaseRollbackNow:     &RollbackNow{On: on},
		CmdReleaseMirrorSkip:      &SkipMirror{On: on, Skips: []MirrorSkip{{Group: "g", Reason: MirrorSkipProxyless}}},
		CmdReleaseMirrorHold:      &HoldMirror{On: on},
	}
}

// TestReleaseTransitionsRefuseEveryOtherPhase applies every release event
// in every phase its row does not list: each is refused with
// ErrBadTransition and changes nothing. Every event type has one row.
func TestReleaseTransitionsRefuseEveryOtherPhase(t *testing.T) {
	phases := []Phase{PhasePending, PhaseAwaitingApproval, PhaseScheduled, PhaseProgressing, PhasePaused, PhasePromoted, PhaseRolledBack, PhaseAborted, PhaseRollingBack}
	table := ReleaseTransitions()
	for typ, e := range releaseEvents(On{}) {
		require.Equal(t, typ, e.Type())
		n := 0
		for _, row := range table {
			if row.Event == typ {
				n++
			}
		}
		require.Equal(t, 1, n, "%s has one row", typ)
	}
	for _, row := range table {
		for _, p := range phases {
			if slices.Contains(row.From, p) {
				continue
			}
			e, ok := releaseEvents(On{})[row.Event]
			if !ok {
				continue // a train event's row, tested with trains
			}
			m := newMachine(t, baseDocs)
			require.NoError(t, m.applyYAML(releaseDoc, t0))
			r := m.st.Releases["r1"].clone()
			r.Status.Phase = p
			m.st.Releases["r1"] = r
			*e.target() = OnRelease(r, "x")
			before := m.st
			err := m.do(e, t0, "tester")
			require.ErrorIs(t, err, ErrBadTransition, "%s while %s", row.Event, p)
			require.Same(t, before, m.st)
		}
	}
}

// TestRollbackOfPromotedPointsAtUndo: the refusal says what to do.
func TestRollbackOfPromotedPointsAtUndo(t *testing.T) {
	m := newMachine(t, baseDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	require.NoError(t, m.do(&Promote{On: m.on("promote")}, t0, "alice"))
	err := m.do(&Rollback{On: m.on("rollback")}, t0, "alice")
	require.ErrorIs(t, err, ErrBadTransition)
	require.ErrorContains(t, err, "sluice release undo greeter")
}

// TestApprovalClearsHoldsByKind: a step approval ends a hold of a kind
// that waits for one, whatever its text, and no other.
func TestApprovalClearsHoldsByKind(t *testing.T) {
	m := newMachine(t, baseDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	require.NoError(t, m.do(&StartRelease{On: m.on("start")}, t0, "c"))
	require.NoError(t, m.do(&HoldRelease{On: m.on("h"), Hold: Hold{Kind: HoldAckTimeout, Message: "exposure budget: looks like one"}}, t0, "c"))
	require.NoError(t, m.do(&ApproveStep{On: m.on("ok"), Step: 1}, t0, "alice"))
	require.Equal(t, HoldAckTimeout, m.rel().Status.Hold.Kind, "an ACK-timeout hold stays, whatever its text says")

	require.NoError(t, m.do(&HoldRelease{On: m.on("h"), Hold: Hold{Kind: HoldRisk, Message: "any words"}}, t0, "c"))
	require.NoError(t, m.do(&ApproveStep{On: m.on("ok"), Step: 0}, t0, "alice"))
	require.Nil(t, m.rel().Status.Hold, "a risk hold ends with the approval")

	// Approving the same step again changes nothing.
	before := m.st
	require.NoError(t, m.do(&ApproveStep{On: m.on("again"), Step: 0}, t0, "alice"))
	require.Same(t, before, m.st)
}

// TestEventPayloadsAreReadableJSON: verdicts and suggestions are JSON
// objects in the log, and unset times are left out.
func TestEventPayloadsAreReadableJSON(t *testing.T) {
	e := &RecordAnalysis{On: On{Release: "r1", Expect: Expect{Phase: PhaseProgressing}}, Verdict: json.RawMessage(`{"phase":"Successful"}`)}
	c, err := EventCommand(e, t0, "c")
	require.NoError(t, err)
	require.Equal(t, CmdReleaseAnalysis, c.Type)
	require.JSONEq(t, `{"release":"r1","expect":{"phase":"Progressing","step":0},"verdict":{"phase":"Successful"}}`, string(c.Payload))

	m := newMachine(t, baseDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	b, err := json.Marshal(m.rel().Status)
	require.NoError(t, err)
	require.NotContains(t, string(b), "0001-01-01", "unset times are omitted")
}

// TestLegacyReleaseUpdate decodes format 1 updates into today's events:
// hold text becomes a kind, and base64 verdicts and suggestions JSON.
func TestLegacyReleaseUpdate(t *testing.T) {
	m := newMachine(t, baseDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	legacy := func(payload string) error {
		m.t.Helper()
		_, err := m.run(Command{Type: "release.update", Time: t0, Actor: "controller", Payload: json.RawMessage(payload)})
		return err
	}
	require.NoError(t, legacy(`{"name":"r1","action":"start","expectPhase":"Pending","expectStep":-1,"message":"start","scheduledAt":"0001-01-01T00:00:00Z"}`))
	require.NoError(t, legacy(`{"name":"r1","action":"ack","expectPhase":"Progressing","expectStep":0,"expectStepIndex":3,"message":"acked"}`))
	verdict := `{"phase":"Successful","reason":"ok"}`
	b64, _ := json.Marshal([]byte(verdict))
	require.NoError(t, legacy(`{"name":"r1","action":"analysis","expectPhase":"Progressing","expectStep":0,"counters":{"successes":1},
		"holding":"exposure budget: step 2 would exceed it","message":"held","verdict":`+string(b64)+`,"exposure":{"step":1,"share":50,"tenants":-1,"regions":-1,"source":"plan"}}`))
	r := m.rel()
	require.Equal(t, &Hold{Kind: HoldExposureBudget, Message: "exposure budget: step 2 would exceed it"}, r.Status.Hold)
	require.JSONEq(t, verdict, string(r.Status.LastVerdict))
	require.Equal(t, 1, r.Status.Counters.Successes)
	require.NoError(t, legacy(`{"name":"r1","action":"approve","expectPhase":"Progressing","expectStep":0,"approveStep":1,"message":"ok"}`))
	require.Nil(t, m.rel().Status.Hold, "the approval ends the hold, by its kind")
	require.ErrorIs(t, legacy(`{"name":"r1","action":"explode","expectPhase":"Progressing","expectStep":0}`), ErrBadPayload)
}

// TestLegacySnapshotHold reads a format 1 release status, whose hold
// was text.
func TestLegacySnapshotHold(t *testing.T) {
	var st ReleaseStatus
	require.NoError(t, json.Unmarshal([]byte(`{"phase":"Progressing","step":0,"holding":"risk: high-risk release","pausedAt":"0001-01-01T00:00:00Z"}`), &st))
	require.Equal(t, &Hold{Kind: HoldRisk, Message: "risk: high-risk release"}, st.Hold)
	require.True(t, st.PausedAt.IsZero())
	require.NoError(t, json.Unmarshal([]byte(`{"phase":"Scheduled","step":-1,"holding":"outside its release window (x); scheduled for ..."}`), &st))
	require.Equal(t, HoldScheduled, st.Hold.Kind)
}

// TestTrainResumeLeavesUnstartedMemberPending is the regression test of
// the drift between release and train resume: a blocked member paused by
// a person, then the train paused and resumed, stayed Progressing at step
// -1. Releases and members resume through one helper now; the legacy
// commands replay the same way.
func TestTrainResumeLeavesUnstartedMemberPending(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		m := newMachine(t, trainDocs)
		require.NoError(t, m.applyYAML(trainDoc, t0))
		if legacy {
			for _, p := range []string{
				`{"name":"t-a","action":"pause","expectPhase":"Pending","expectStep":-1,"message":"pause by alice"}`,
			} {
				_, err := m.run(Command{Type: "release.update", Time: t0, Actor: "alice", Payload: json.RawMessage(p)})
				require.NoError(t, err)
			}
			for _, p := range []string{
				`{"name":"t","action":"pause","expectPhase":"Progressing","message":"pause"}`,
				`{"name":"t","action":"resume","expectPhase":"Paused","message":"resume"}`,
			} {
				_, err := m.run(Command{Type: "train.update", Time: t0.Add(time.Minute), Actor: "alice", Payload: json.RawMessage(p)})
				require.NoError(t, err)
			}
		} else {
			require.NoError(t, m.do(&Pause{On: m.relOn("t-a")}, t0, "alice"))
			require.NoError(t, m.do(&PauseTrain{OnTrain: m.trainOn("pause")}, t0, "alice"))
			require.NoError(t, m.do(&ResumeTrain{OnTrain: m.trainOn("resume")}, t0.Add(time.Minute), "alice"))
		}
		r := m.st.Releases["t-a"]
		require.Equal(t, PhasePending, r.Status.Phase, "legacy=%v: a member that never started goes back to Pending", legacy)
		require.Equal(t, -1, r.Status.Step)
		require.Equal(t, "waiting for train t", r.Status.Blocked)
	}
}

// TestAckOfMissingStepRefused: a release moving traffic at a step its
// plan does not have (as older code could leave one) cannot be ACKed.
func TestAckOfMissingStepRefused(t *testing.T) {
	m := newMachine(t, baseDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	r := m.rel().clone()
	r.Status.Phase = PhaseProgressing
	m.st.Releases["r1"] = r
	err := m.do(&AckStep{On: m.on("ack")}, t0, "c")
	require.ErrorIs(t, err, ErrBadTransition)
	require.True(t, strings.Contains(err.Error(), "does not exist"), err.Error())
}
