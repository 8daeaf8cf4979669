package controller

import (
	"encoding/json"
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
	c, err := state.NewCommand(state.CmdApply, t0, "controller", state.ApplyPayload{Documents: parsed})
	require.NoError(t, err)
	w.run(c)
	return w
}

// apply applies an event as the FSM does.
func (w *trainWorld) apply(e state.Event) {
	w.t.Helper()
	c, err := state.EventCommand(e, t0, "controller")
	require.NoError(w.t, err)
	w.run(c)
}

func (w *trainWorld) run(c state.Command) {
	w.t.Helper()
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
	if n.Event != nil {
		w.apply(n.Event)
	}
	return n
}

// rel applies a release event to a member's release as it is now.
func (w *trainWorld) rel(member string, typ state.Type) {
	w.t.Helper()
	w.apply(releaseEvent(typ, w.st.Releases["t-"+member]))
}

func TestDecideTrainOrderAndJointRollback(t *testing.T) {
	w := newTrainWorld(t, "", "")
	require.Equal(t, [][]string{{"a", "d"}, {"b"}, {"c"}}, w.train().Status.Levels)

	// Level 0 (a and d) is cleared together; b waits for a.
	require.Equal(t, state.CmdTrainClear, w.step().Event.Type())
	require.Equal(t, state.CmdTrainClear, w.step().Event.Type())
	require.True(t, mustMember(t, w.train(), "a").Cleared)
	require.True(t, mustMember(t, w.train(), "d").Cleared)
	require.Equal(t, TrainNext{}, w.step(), "b waits until a is promoted")

	w.rel("a", state.CmdReleaseStart)
	w.rel("a", state.CmdReleasePromote)
	n := w.step()
	require.Equal(t, "b", member(n))
	require.Equal(t, "start: a promoted", note(n))
	w.rel("b", state.CmdReleaseStart)
	w.rel("d", state.CmdReleaseStart)

	// b fails: the train fails naming b; c (never started) is cancelled
	// first, then d and a are rolled back (dependents before what they
	// depend on: level order reversed).
	w.rel("b", state.CmdReleaseRollback)
	n = w.step()
	require.Equal(t, state.CmdTrainFail, n.Event.Type())
	require.Equal(t, "b", member(n))
	for w.train().Status.Phase == state.TrainRollingBack {
		require.NotNil(t, w.step().Event)
	}
	require.Equal(t, state.TrainRolledBack, w.train().Status.Phase)
	require.Equal(t, []string{"c", "d", "a"}, w.train().Status.RollbackOrder)
	for _, m := range []string{"a", "b", "d"} {
		require.Equal(t, state.PhaseRolledBack, w.st.Releases["t-"+m].Status.Phase, m)
	}
	require.Equal(t, state.PhaseAborted, w.st.Releases["t-c"].Status.Phase)
	require.Empty(t, w.st.Active)
}

// member is the member a train event is about.
func member(n TrainNext) string {
	var v struct{ Member string }
	b, _ := json.Marshal(n.Event)
	_ = json.Unmarshal(b, &v)
	return v.Member
}

func note(n TrainNext) string { return n.Event.(interface{ Note() string }).Note() }

// releaseEvent is a person's or the controller's event of type typ
// about r as it is now.
func releaseEvent(typ state.Type, r *state.Release) state.ReleaseEvent {
	on := state.OnRelease(r, string(typ))
	switch typ {
	case state.CmdReleaseStart:
		return &state.StartRelease{On: on}
	case state.CmdReleaseAck:
		return &state.AckStep{On: on}
	case state.CmdReleaseAdvance:
		return &state.AdvanceStep{On: on}
	case state.CmdReleasePromote:
		return &state.Promote{On: on}
	case state.CmdReleaseRollback:
		return &state.Rollback{On: on}
	case state.CmdReleasePause:
		return &state.Pause{On: on}
	}
	panic("no test event " + typ)
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
	w.apply(&state.RecordHealth{OnMember: onMember(w.train(), "a", ""), Health: state.HealthStatus{Attempts: 1, LastError: "connection refused", At: t0}})
	n = DecideTrain(w.train(), w.st, t0.Add(time.Second))
	require.Empty(t, n.Check, "not before the interval")
	require.Equal(t, "d", member(n), "d has no check and starts")
	require.Equal(t, "a", DecideTrain(w.train(), w.st, t0.Add(5*time.Second)).Check)

	// The retry fails too: retries exhausted, the train fails.
	w.apply(&state.RecordHealth{OnMember: onMember(w.train(), "a", ""), Health: state.HealthStatus{Attempts: 2, LastError: "connection refused", At: t0}})
	n = DecideTrain(w.train(), w.st, t0.Add(10*time.Second))
	require.Equal(t, state.CmdTrainFail, n.Event.Type())
	require.Equal(t, "member a health check failed 2 times: connection refused", note(n))
}

func TestDecideTrainRequiresStep(t *testing.T) {
	w := newTrainWorld(t, "  requires: step:2", "")
	w.step()
	w.step()
	w.rel("a", state.CmdReleaseStart)
	w.rel("a", state.CmdReleaseAck)
	require.Equal(t, TrainNext{}, w.step(), "a is at step 1 of 2")
	w.rel("a", state.CmdReleaseAdvance)
	require.Equal(t, TrainNext{}, w.step(), "step 2 is not ACKed yet")
	w.rel("a", state.CmdReleaseAck)
	n := w.step()
	require.Equal(t, "b", member(n))
	require.Equal(t, "start: a at step 2", note(n))
}

func TestLockstepHold(t *testing.T) {
	w := newTrainWorld(t, "  lockstep: true", "")
	w.step()
	w.step()
	w.rel("a", state.CmdReleaseStart)
	w.rel("a", state.CmdReleaseAck)
	// d (a's peer on level 0) has not started: a may not leave step 1.
	require.Equal(t, "lockstep: waiting for d (not started)", LockstepHold(w.train(), w.st, w.st.Releases["t-a"]))
	w.rel("d", state.CmdReleaseStart)
	require.Equal(t, "lockstep: waiting for d (step 1)", LockstepHold(w.train(), w.st, w.st.Releases["t-a"]), "d's step is not ACKed")
	w.rel("d", state.CmdReleaseAck)
	require.Empty(t, LockstepHold(w.train(), w.st, w.st.Releases["t-a"]))
	// Without lockstep nothing waits.
	w2 := newTrainWorld(t, "", "")
	w2.step()
	w2.rel("a", state.CmdReleaseStart)
	require.Empty(t, LockstepHold(w2.train(), w2.st, w2.st.Releases["t-a"]))
}
