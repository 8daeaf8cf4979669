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

func (m *machine) trainUpd(a Action, member, msg string) error {
	m.t.Helper()
	c, err := NewCommand(CmdTrainUpdate, t0, "controller", TrainUpdate{Name: "t", Action: a, ExpectPhase: m.train().Status.Phase, Member: member, Message: msg})
	require.NoError(m.t, err)
	_, err = m.run(c)
	return err
}

func (m *machine) relUpd(name string, a Action) error {
	m.t.Helper()
	r := m.st.Releases[name]
	return m.update(ReleaseUpdate{Name: name, Action: a, ExpectPhase: r.Status.Phase, ExpectStep: r.Status.Step}, t0, "controller")
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
	require.NoError(t, m.trainUpd(TrainClear, "a", "start"))
	require.Empty(t, m.st.Releases["t-a"].Status.Blocked)
	require.NoError(t, m.relUpd("t-a", ActStart))
	require.NoError(t, m.relUpd("t-a", ActPromote))
	require.Equal(t, "t-a", m.st.Active["a"])
	require.Equal(t, []uint32{0, 100}, m.st.RouteWeights("a"))

	// b starts and rolls back on its own; the train fails.
	require.NoError(t, m.trainUpd(TrainClear, "b", "start"))
	require.NoError(t, m.relUpd("t-b", ActStart))
	require.NoError(t, m.relUpd("t-b", ActRollback))
	require.NoError(t, m.trainUpd(TrainFail, "b", "member b rolledback: burn"))
	require.Equal(t, TrainRollingBack, m.train().Status.Phase)
	require.Equal(t, "b", m.train().Status.FailedMember)

	// c never started: cancelled. a was promoted: rolled back to v1.
	require.NoError(t, m.trainUpd(TrainUnwind, "c", "cancel"))
	require.Equal(t, PhaseAborted, m.st.Releases["t-c"].Status.Phase)
	require.NoError(t, m.trainUpd(TrainUnwind, "a", "joint"))
	require.Equal(t, PhaseRolledBack, m.st.Releases["t-a"].Status.Phase)
	require.Equal(t, []uint32{100, 0}, m.st.RouteWeights("a"))
	require.Equal(t, []string{"c", "a"}, m.train().Status.RollbackOrder)

	// A member unwound twice is refused; a stale decision too.
	require.ErrorIs(t, m.trainUpd(TrainUnwind, "a", "again"), ErrBadTransition)

	require.NoError(t, m.trainUpd(TrainFinish, "", "done"))
	require.Equal(t, TrainRolledBack, m.train().Status.Phase)
	require.Empty(t, m.st.Active, "the reservations end with the train")
	c, err := NewCommand(CmdTrainUpdate, t0, "old", TrainUpdate{Name: "t", Action: TrainFail, ExpectPhase: TrainProgressing})
	require.NoError(t, err)
	_, err = m.run(c)
	require.ErrorIs(t, err, ErrConflict)
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
	require.NoError(t, m.trainUpd(TrainAbort, "", "stop"))
	for _, s := range []string{"c", "b", "a"} {
		require.NoError(t, m.trainUpd(TrainUnwind, s, "abort"))
	}
	c, err := NewCommand(CmdDelete, t0, "t", DeletePayload{Kind: "Release", Name: "t-a"})
	require.NoError(t, err)
	_, err = m.run(c)
	require.ErrorIs(t, err, ErrBadTransition)
	require.NoError(t, m.trainUpd(TrainFinish, "", "done"))
	require.Equal(t, TrainAborted, m.train().Status.Phase)
	_, err = m.run(c)
	require.NoError(t, err)
}

func TestTrainPauseResume(t *testing.T) {
	m := newMachine(t, trainDocs)
	require.NoError(t, m.applyYAML(trainDoc, t0))
	require.NoError(t, m.trainUpd(TrainClear, "a", "start"))
	require.NoError(t, m.relUpd("t-a", ActStart))
	require.NoError(t, m.relUpd("t-a", ActAck))
	bake := m.st.Releases["t-a"].Status.BakeUntil
	require.NoError(t, m.trainUpd(TrainPause, "", "look"))
	require.Equal(t, TrainPaused, m.train().Status.Phase)
	require.Equal(t, PhasePaused, m.st.Releases["t-a"].Status.Phase)
	require.Equal(t, PhasePending, m.st.Releases["t-b"].Status.Phase, "members not started stay pending")
	c, err := NewCommand(CmdTrainUpdate, t0.Add(time.Minute), "alice", TrainUpdate{Name: "t", Action: TrainResume, ExpectPhase: TrainPaused})
	require.NoError(t, err)
	_, err = m.run(c)
	require.NoError(t, err)
	require.Equal(t, PhaseProgressing, m.st.Releases["t-a"].Status.Phase)
	require.Equal(t, bake.Add(time.Minute), m.st.Releases["t-a"].Status.BakeUntil)
}

// A member waiting for an approval (a failed gate) is cancelled by the
// joint rollback like one that never started.
func TestTrainUnwindsWaitingMember(t *testing.T) {
	m := newMachine(t, trainDocs)
	require.NoError(t, m.applyYAML(trainDoc, t0))
	require.NoError(t, m.trainUpd(TrainClear, "a", "start"))
	require.NoError(t, m.relUpd("t-a", ActAwait))
	require.Equal(t, PhaseAwaitingApproval, m.st.Releases["t-a"].Status.Phase)
	require.NoError(t, m.trainUpd(TrainAbort, "", "stop"))
	require.NoError(t, m.trainUpd(TrainUnwind, "a", "abort"))
	r := m.st.Releases["t-a"]
	require.Equal(t, PhaseAborted, r.Status.Phase)
	require.Empty(t, r.Status.Blocked)
}
