package controller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// trainWorld builds a state with services a <- b <- c (c depends on b, b
// on a) and d independent of a, a policy, and a train of them, by
// applying commands as the FSM does.
type trainWorld struct {
	t     *testing.T
	st    *state.State
	index uint64
}

func newTrainWorld(t *testing.T, trainExtra string, hc string) *trainWorld {
	w := &trainWorld{t: t, st: state.New()}
	svc := func(name, deps string) string {
		return "apiVersion: sluice.dev/v1alpha1\nkind: Service\nmetadata: {name: " + name + "}\nspec:\n  protocol: grpc\n  dependsOn: [" + deps + "]\n" +
			"  versions:\n    - {name: v1, endpoints: [{address: \"10.0.0.1:80\"}]}\n    - {name: v2, endpoints: [{address: \"10.0.0.2:80\"}]}\n---\n"
	}
	docs := svc("a", "") + svc("b", "a") + svc("c", "b") + svc("d", "") + `apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: p}
spec:
  services: [a, b, c, d]
  slo: {objective: 99, errorRatioQuery: 'e{version="{{version}}"}', requestsQuery: 'r{version="{{version}}"}'}
  steps: [{weight: 20, bake: 10s}, {weight: 60, bake: 10s}]
---
apiVersion: sluice.dev/v1alpha1
kind: ReleaseTrain
metadata: {name: t}
spec:
` + trainExtra + `
  members:
    - {service: a, to: v2` + hc + `}
    - {service: b, to: v2}
    - {service: c, to: v2}
    - {service: d, to: v2}
`
	parsed, err := config.Parse("w.yaml", []byte(docs))
	require.NoError(t, err)
	w.apply(state.CmdApply, state.ApplyPayload{Documents: parsed})
	return w
}

func (w *trainWorld) apply(typ state.Type, payload any) {
	w.t.Helper()
	c, err := state.NewCommand(typ, t0, "controller", payload)
	require.NoError(w.t, err)
	w.index++
	st, _, err := state.Apply(w.st, w.index, c)
	require.NoError(w.t, err)
	w.st = st
}

func (w *trainWorld) train() *state.Train { return w.st.Trains["t"] }

// step applies what DecideTrain says, and returns it.
func (w *trainWorld) step() TrainNext {
	w.t.Helper()
	n := DecideTrain(w.train(), w.st, t0)
	if n.Update != nil {
		w.apply(state.CmdTrainUpdate, n.Update)
	}
	return n
}

func (w *trainWorld) rel(member string, a state.Action) {
	w.t.Helper()
	r := w.st.Releases["t-"+member]
	w.apply(state.CmdReleaseUpdate, state.ReleaseUpdate{Name: r.Name(), Action: a, ExpectPhase: r.Status.Phase, ExpectStep: r.Status.Step})
}

func TestDecideTrainOrderAndJointRollback(t *testing.T) {
	w := newTrainWorld(t, "", "")
	require.Equal(t, [][]string{{"a", "d"}, {"b"}, {"c"}}, w.train().Status.Levels)

	// Level 0 (a and d) is cleared together; b waits for a.
	require.Equal(t, state.TrainClear, w.step().Update.Action)
	require.Equal(t, state.TrainClear, w.step().Update.Action)
	require.True(t, mustMember(t, w.train(), "a").Cleared)
	require.True(t, mustMember(t, w.train(), "d").Cleared)
	require.Equal(t, TrainNext{}, w.step(), "b waits until a is promoted")

	w.rel("a", state.ActStart)
	w.rel("a", state.ActPromote)
	n := w.step()
	require.Equal(t, "b", n.Update.Member)
	require.Equal(t, "start: a promoted", n.Update.Message)
	w.rel("b", state.ActStart)
	w.rel("d", state.ActStart)

	// b fails: the train fails naming b; c (never started) is cancelled
	// first, then d and a are rolled back (dependents before what they
	// depend on: level order reversed).
	w.rel("b", state.ActRollback)
	n = w.step()
	require.Equal(t, state.TrainFail, n.Update.Action)
	require.Equal(t, "b", n.Update.Member)
	for w.train().Status.Phase == state.TrainRollingBack {
		require.NotNil(t, w.step().Update)
	}
	require.Equal(t, state.TrainRolledBack, w.train().Status.Phase)
	require.Equal(t, []string{"c", "d", "a"}, w.train().Status.RollbackOrder)
	for _, m := range []string{"a", "b", "d"} {
		require.Equal(t, state.PhaseRolledBack, w.st.Releases["t-"+m].Status.Phase, m)
	}
	require.Equal(t, state.PhaseAborted, w.st.Releases["t-c"].Status.Phase)
	require.Empty(t, w.st.Active)
}

func mustMember(t *testing.T, tr *state.Train, name string) *state.TrainMemberStatus {
	m, ok := tr.Member(name)
	require.True(t, ok)
	return m
}

func TestDecideTrainHealthChecks(t *testing.T) {
	w := newTrainWorld(t, "", ", healthCheck: {query: 'up', retries: 1, interval: 5s}")
	n := DecideTrain(w.train(), w.st, t0)
	require.Equal(t, "a", n.Check, "a's health check runs before it may start")

	// A failed attempt; the retry waits for the interval.
	w.apply(state.CmdTrainUpdate, state.TrainUpdate{Name: "t", Action: state.TrainHealth, ExpectPhase: state.TrainProgressing, Member: "a",
		Health: &state.HealthStatus{Attempts: 1, LastError: "connection refused", At: t0}})
	n = DecideTrain(w.train(), w.st, t0.Add(time.Second))
	require.Empty(t, n.Check, "not before the interval")
	require.Equal(t, "d", n.Update.Member, "d has no check and starts")
	require.Equal(t, "a", DecideTrain(w.train(), w.st, t0.Add(5*time.Second)).Check)

	// The retry fails too: retries exhausted, the train fails.
	w.apply(state.CmdTrainUpdate, state.TrainUpdate{Name: "t", Action: state.TrainHealth, ExpectPhase: state.TrainProgressing, Member: "a",
		Health: &state.HealthStatus{Attempts: 2, LastError: "connection refused", At: t0}})
	n = DecideTrain(w.train(), w.st, t0.Add(10*time.Second))
	require.Equal(t, state.TrainFail, n.Update.Action)
	require.Equal(t, "member a health check failed 2 times: connection refused", n.Update.Message)
}

func TestDecideTrainRequiresStep(t *testing.T) {
	w := newTrainWorld(t, "  requires: step:2", "")
	w.step()
	w.step()
	w.rel("a", state.ActStart)
	w.rel("a", state.ActAck)
	require.Equal(t, TrainNext{}, w.step(), "a is at step 1 of 2")
	w.rel("a", state.ActAdvance)
	require.Equal(t, TrainNext{}, w.step(), "step 2 is not ACKed yet")
	w.rel("a", state.ActAck)
	n := w.step()
	require.Equal(t, "b", n.Update.Member)
	require.Equal(t, "start: a at step 2", n.Update.Message)
}

func TestLockstepHold(t *testing.T) {
	w := newTrainWorld(t, "  lockstep: true", "")
	w.step()
	w.step()
	w.rel("a", state.ActStart)
	w.rel("a", state.ActAck)
	// d (a's peer on level 0) has not started: a may not leave step 1.
	require.Equal(t, "lockstep: waiting for d (not started)", LockstepHold(w.train(), w.st, w.st.Releases["t-a"]))
	w.rel("d", state.ActStart)
	require.Equal(t, "lockstep: waiting for d (step 1)", LockstepHold(w.train(), w.st, w.st.Releases["t-a"]), "d's step is not ACKed")
	w.rel("d", state.ActAck)
	require.Empty(t, LockstepHold(w.train(), w.st, w.st.Releases["t-a"]))
	// Without lockstep nothing waits.
	w2 := newTrainWorld(t, "", "")
	w2.step()
	w2.rel("a", state.ActStart)
	require.Empty(t, LockstepHold(w2.train(), w2.st, w2.st.Releases["t-a"]))
}
