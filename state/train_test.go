package state

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const trainDocs = `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: a}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: "10.0.0.1:80"}]}
    - {name: v2, endpoints: [{address: "10.0.0.2:80"}]}
---
apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: b}
spec:
  protocol: grpc
  dependsOn: [a]
  versions:
    - {name: v1, endpoints: [{address: "10.0.1.1:80"}]}
    - {name: v2, endpoints: [{address: "10.0.1.2:80"}]}
---
apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: c}
spec:
  protocol: grpc
  dependsOn: [b]
  versions:
    - {name: v1, endpoints: [{address: "10.0.2.1:80"}]}
    - {name: v2, endpoints: [{address: "10.0.2.2:80"}]}
---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: p}
spec:
  services: [a, b, c]
  slo: {objective: 99, errorRatioQuery: 'e{version="{{version}}"}', requestsQuery: 'r{version="{{version}}"}'}
  steps: [{weight: 50, bake: 10s}]
`

const trainDoc = `apiVersion: sluice.dev/v1alpha1
kind: ReleaseTrain
metadata: {name: t}
spec:
  members:
    - {service: c, to: v2}
    - {service: a, to: v2}
    - {service: b, to: v2}
`

func (m *machine) train() *Train { return m.st.Trains["t"] }

// trainOn is the head of an event about train t as it is now.
func (m *machine) trainOn(msg string) OnTrain { return OnTrainNow(m.train(), msg) }

func (m *machine) memberOn(member, msg string) OnMember {
	return OnMember{OnTrain: m.trainOn(msg), Member: member}
}

// relOn is the head of an event about release name as it is now.
func (m *machine) relOn(name string) On { return OnRelease(m.st.Releases[name], "") }

func (m *machine) controller(e Event) error {
	m.t.Helper()
	return m.do(e, t0, "controller")
}

func TestTrainCreateAndJointRollback(t *testing.T) {
	m := newMachine(t, trainDocs)
	require.NoError(t, m.applyYAML(trainDoc, t0))
	tr := m.train()
	require.Equal(t, TrainProgressing, tr.Status.Phase)
	require.Equal(t, [][]string{{"a"}, {"b"}, {"c"}}, tr.Status.Levels)
	for _, svc := range []string{"a", "b", "c"} {
		r := m.st.Releases["t-"+svc]
		require.Equal(t, PhasePending, r.Status.Phase)
		require.Equal(t, "waiting for train t", r.Status.Blocked)
		require.Equal(t, "t-"+svc, m.st.Active[svc], "the train reserves the service")
	}

	// a is cleared, starts and is promoted: its service stays reserved.
	require.NoError(t, m.controller(&ClearMember{OnMember: m.memberOn("a", "start")}))
	require.Empty(t, m.st.Releases["t-a"].Status.Blocked)
	require.NoError(t, m.controller(&StartRelease{On: m.relOn("t-a")}))
	require.NoError(t, m.controller(&Promote{On: m.relOn("t-a")}))
	require.Equal(t, "t-a", m.st.Active["a"])
	require.Equal(t, []uint32{0, 100}, m.st.RouteWeights("a"))

	// b starts and rolls back on its own; the train fails.
	require.NoError(t, m.controller(&ClearMember{OnMember: m.memberOn("b", "start")}))
	require.NoError(t, m.controller(&StartRelease{On: m.relOn("t-b")}))
	require.NoError(t, m.controller(&Rollback{On: m.relOn("t-b")}))
	require.NoError(t, m.controller(&FailTrain{OnMember: m.memberOn("b", "member b rolledback: burn")}))
	require.Equal(t, TrainRollingBack, m.train().Status.Phase)
	require.Equal(t, "b", m.train().Status.FailedMember)

	// c never started: cancelled. a was promoted: rolled back to v1.
	require.NoError(t, m.controller(&UnwindMember{OnMember: m.memberOn("c", "cancel")}))
	require.Equal(t, PhaseAborted, m.st.Releases["t-c"].Status.Phase)
	require.NoError(t, m.controller(&UnwindMember{OnMember: m.memberOn("a", "joint")}))
	require.Equal(t, PhaseRolledBack, m.st.Releases["t-a"].Status.Phase)
	require.Equal(t, []uint32{100, 0}, m.st.RouteWeights("a"))
	require.Equal(t, []string{"c", "a"}, m.train().Status.RollbackOrder)

	// A member unwound twice is refused; a stale decision too.
	require.ErrorIs(t, m.controller(&UnwindMember{OnMember: m.memberOn("a", "again")}), ErrBadTransition)

	require.NoError(t, m.controller(&FinishTrain{OnTrain: m.trainOn("done")}))
	require.Equal(t, TrainRolledBack, m.train().Status.Phase)
	require.Empty(t, m.st.Active, "the reservations end with the train")
	stale := &FailTrain{OnMember: OnMember{OnTrain: OnTrain{Train: "t", Expect: TrainProgressing}, Member: "b"}}
	require.ErrorIs(t, m.do(stale, t0, "old"), ErrConflict)
}

func TestTrainRefusals(t *testing.T) {
	m := newMachine(t, trainDocs)
	require.NoError(t, m.applyYAML(trainDoc, t0))
	// A service in a train cannot get another release, nor another train.
	err := m.applyYAML("apiVersion: sluice.dev/v1alpha1\nkind: Release\nmetadata: {name: x}\nspec: {service: b, to: v2}\n", t0)
	require.ErrorContains(t, err, `Service "b" already has an active release "t-b"`)
	err = m.applyYAML("apiVersion: sluice.dev/v1alpha1\nkind: ReleaseTrain\nmetadata: {name: t2}\nspec: {members: [{service: a, to: v2}]}\n", t0)
	require.ErrorContains(t, err, `Service "a" already has an active release "t-a"`)
	// A member's release cannot be deleted while the train runs.
	require.NoError(t, m.controller(&AbortTrain{OnTrain: m.trainOn("stop")}))
	for _, s := range []string{"c", "b", "a"} {
		require.NoError(t, m.controller(&UnwindMember{OnMember: m.memberOn(s, "abort")}))
	}
	c, err := NewCommand(CmdDelete, t0, "t", DeletePayload{Kind: "Release", Name: "t-a"})
	require.NoError(t, err)
	_, err = m.run(c)
	require.ErrorIs(t, err, ErrBadTransition)
	require.NoError(t, m.controller(&FinishTrain{OnTrain: m.trainOn("done")}))
	require.Equal(t, TrainAborted, m.train().Status.Phase)
	_, err = m.run(c)
	require.NoError(t, err)
}

func TestTrainPauseResume(t *testing.T) {
	m := newMachine(t, trainDocs)
	require.NoError(t, m.applyYAML(trainDoc, t0))
	require.NoError(t, m.controller(&ClearMember{OnMember: m.memberOn("a", "start")}))
	require.NoError(t, m.controller(&StartRelease{On: m.relOn("t-a")}))
	require.NoError(t, m.controller(&AckStep{On: m.relOn("t-a")}))
	bake := m.st.Releases["t-a"].Status.BakeUntil
	require.NoError(t, m.controller(&PauseTrain{OnTrain: m.trainOn("look")}))
	require.Equal(t, TrainPaused, m.train().Status.Phase)
	require.Equal(t, PhasePaused, m.st.Releases["t-a"].Status.Phase)
	require.Equal(t, PhasePending, m.st.Releases["t-b"].Status.Phase, "members not started stay pending")
	require.NoError(t, m.do(&ResumeTrain{OnTrain: m.trainOn("")}, t0.Add(time.Minute), "alice"))
	require.Equal(t, PhaseProgressing, m.st.Releases["t-a"].Status.Phase)
	require.Equal(t, bake.Add(time.Minute), m.st.Releases["t-a"].Status.BakeUntil)
}

// A member waiting for an approval (a failed gate) is cancelled by the
// joint rollback like one that never started.
func TestTrainUnwindsWaitingMember(t *testing.T) {
	m := newMachine(t, trainDocs)
	require.NoError(t, m.applyYAML(trainDoc, t0))
	require.NoError(t, m.controller(&ClearMember{OnMember: m.memberOn("a", "start")}))
	require.NoError(t, m.controller(&Await{On: m.relOn("t-a"), Hold: Hold{Kind: HoldGates, Message: "gates"}}))
	require.Equal(t, PhaseAwaitingApproval, m.st.Releases["t-a"].Status.Phase)
	require.NoError(t, m.controller(&AbortTrain{OnTrain: m.trainOn("stop")}))
	require.NoError(t, m.controller(&UnwindMember{OnMember: m.memberOn("a", "abort")}))
	r := m.st.Releases["t-a"]
	require.Equal(t, PhaseAborted, r.Status.Phase)
	require.Empty(t, r.Status.Blocked)
}
