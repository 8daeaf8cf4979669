package state

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

const baseDocs = `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: greeter}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: "10.0.0.1:80"}]}
    - {name: v2, endpoints: [{address: "10.0.0.2:80"}]}
    - {name: v3, endpoints: [{address: "10.0.0.3:80"}]}
---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: p}
spec:
  services: [greeter]
  slo:
    objective: 99.9
    errorRatioQuery: 'sum(rate(errors{version="{{version}}"}[{{window}}]))'
    requestsQuery: 'sum(increase(requests{version="{{version}}"}[{{window}}]))'
  steps:
    - {weight: 10, bake: 30s}
    - {weight: 50, bake: 30s}
  analysis: {interval: 5s}
`

const releaseDoc = `apiVersion: sluice.dev/v1alpha1
kind: Release
metadata: {name: r1}
spec: {service: greeter, to: v2}
`

// machine applies commands like the FSM, counting indexes.
type machine struct {
	t     *testing.T
	st    *State
	index uint64
}

func newMachine(t *testing.T, docs string) *machine {
	m := &machine{t: t, st: New()}
	m.applyYAML(docs, t0)
	return m
}

func (m *machine) run(c Command) (any, error) {
	m.index++
	next, res, err := Apply(m.st, m.index, c)
	m.st = next
	return res, err
}

func (m *machine) applyYAML(docs string, at time.Time) error {
	m.t.Helper()
	parsed, err := config.Parse("t.yaml", []byte(docs))
	require.NoError(m.t, err)
	c, err := NewCommand(CmdApply, at, "tester", ApplyPayload{Documents: parsed})
	require.NoError(m.t, err)
	_, err = m.run(c)
	return err
}

// do applies one event as the command that carries it.
func (m *machine) do(e Event, at time.Time, actor string) error {
	m.t.Helper()
	c, err := EventCommand(e, at, actor)
	require.NoError(m.t, err)
	_, err = m.run(c)
	return err
}

func (m *machine) rel() *Release { return m.st.Releases["r1"] }

// on is the head of an event about r1 as it is now.
func (m *machine) on(msg string) On { return OnRelease(m.rel(), msg) }

func TestReleaseLifecyclePromote(t *testing.T) {
	m := newMachine(t, baseDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	r := m.rel()
	require.Equal(t, PhasePending, r.Status.Phase)
	require.Equal(t, "v1", r.Status.From, "from defaults to the stable version")
	require.Equal(t, "p", r.Status.Policy)
	require.Len(t, r.Status.Plan, 2)
	require.Equal(t, "r1", m.st.Active["greeter"])
	require.Equal(t, []uint32{100, 0, 0}, m.st.RouteWeights("greeter"), "pending: routes unchanged")

	require.NoError(t, m.do(&StartRelease{On: m.on("start")}, t0.Add(time.Second), "controller"))
	r = m.rel()
	require.Equal(t, PhaseProgressing, r.Status.Phase)
	require.Equal(t, 0, r.Status.Step)
	require.Equal(t, uint32(10), r.Status.Weight)
	require.Equal(t, m.index, r.Status.StepIndex, "the step's routes carry this command's index")
	require.Equal(t, m.index, m.st.Index)
	require.Equal(t, []uint32{90, 10, 0}, m.st.RouteWeights("greeter"))

	ack := &AckStep{On: m.on("acked"), Groups: []string{"edge/eu/", "web/eu/"}}
	require.Equal(t, r.Status.StepIndex, ack.Expect.StepIndex, "an ACK expects the step's index")
	require.NoError(t, m.do(ack, t0.Add(2*time.Second), "controller"))
	r = m.rel()
	require.True(t, r.Status.Acked)
	require.Equal(t, []string{"edge/eu/", "web/eu/"}, r.Status.ExpectedGroups, "the groups that ACKed are expected next")
	require.Equal(t, t0.Add(32*time.Second), r.Status.BakeUntil, "bake starts at the ACK")
	require.Equal(t, t0.Add(7*time.Second), r.Status.NextAnalysisAt)

	require.NoError(t, m.do(&AdvanceStep{On: m.on("advance")}, t0.Add(40*time.Second), "controller"))
	require.Equal(t, []uint32{50, 50, 0}, m.st.RouteWeights("greeter"))
	require.False(t, m.rel().Status.Acked, "a new step waits for its own ACK")
	require.Equal(t, []string{"edge/eu/", "web/eu/"}, m.rel().Status.ExpectedGroups, "a new step keeps the groups it waits for")

	require.NoError(t, m.do(&Promote{On: m.on("promoted")}, t0.Add(80*time.Second), "controller"))
	r = m.rel()
	require.Equal(t, PhasePromoted, r.Status.Phase)
	require.Equal(t, t0.Add(80*time.Second), r.Status.EndedAt)
	require.Empty(t, m.st.Active)
	require.Equal(t, []uint32{0, 100, 0}, m.st.RouteWeights("greeter"), "the new version is the stable one")
	require.Equal(t, "v2", m.st.StableVersion("greeter"))

	// Every transition is recorded, in order, with its actor.
	var actions []DecisionKind
	for _, d := range r.Status.Decisions {
		actions = append(actions, d.Action)
	}
	require.Equal(t, []DecisionKind{DecisionCreate, DecisionStart, DecisionAck, DecisionAdvance, DecisionPromote}, actions)
	require.Equal(t, "tester", r.Status.Decisions[0].Actor)
	require.Equal(t, "controller", r.Status.Decisions[4].Actor)
}

func TestReleaseRollbackAndStaleDecisions(t *testing.T) {
	m := newMachine(t, baseDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	start := &StartRelease{On: m.on("start")}
	require.NoError(t, m.do(start, t0, "controller"))

	// A second, stale copy of the same decision (a previous leader's) is
	// refused and changes nothing.
	before := m.st
	err := m.do(start, t0, "old-leader")
	require.ErrorIs(t, err, ErrConflict)
	require.Same(t, before, m.st)

	verdict := []byte(`{"phase":"Failed","reason":"burn"}`)
	u := &Rollback{On: m.on("burn rule fired")}
	u.Verdict = verdict
	require.NoError(t, m.do(u, t0.Add(time.Minute), "controller"))
	r := m.rel()
	require.Equal(t, PhaseRolledBack, r.Status.Phase)
	require.Equal(t, uint32(0), r.Status.Weight)
	require.Equal(t, []uint32{100, 0, 0}, m.st.RouteWeights("greeter"))
	require.JSONEq(t, string(verdict), string(r.Status.Decisions[len(r.Status.Decisions)-1].Verdict))
	require.Equal(t, "burn rule fired", r.Status.Reason)

	// A finished release can be followed by a new one.
	require.NoError(t, m.applyYAML(`apiVersion: sluice.dev/v1alpha1
kind: Release
metadata: {name: r2}
spec: {service: greeter, to: v3}
`, t0.Add(2*time.Minute)))
	require.Equal(t, "r2", m.st.Active["greeter"])
}

func TestReleasePauseResumeKeepsBake(t *testing.T) {
	m := newMachine(t, baseDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	require.NoError(t, m.do(&StartRelease{On: m.on("")}, t0, "c"))
	require.NoError(t, m.do(&AckStep{On: m.on("")}, t0, "c"))
	require.Equal(t, t0.Add(30*time.Second), m.rel().Status.BakeUntil)
	require.Zero(t, m.rel().Status.BakedTo, "counted from the ACK until the first analysis")
	first := config.Duration(5 * time.Second)
	require.NoError(t, m.do(&RecordAnalysis{On: m.on(""), Baked: &first}, t0.Add(5*time.Second), "c"))
	require.NoError(t, m.do(&Pause{On: m.on("looking")}, t0.Add(10*time.Second), "alice"))
	require.Equal(t, PhasePaused, m.rel().Status.Phase)
	require.Equal(t, []uint32{90, 10, 0}, m.st.RouteWeights("greeter"), "paused keeps the split")
	err := m.do(&AdvanceStep{On: m.on("")}, t0.Add(11*time.Second), "c")
	require.ErrorIs(t, err, ErrBadTransition)
	require.NoError(t, m.do(&Resume{On: m.on("")}, t0.Add(70*time.Second), "alice"))
	require.Equal(t, t0.Add(90*time.Second), m.rel().Status.BakeUntil, "60s paused pushes the bake out by 60s")
	require.Equal(t, t0.Add(70*time.Second), m.rel().Status.BakedTo, "time paused is not baked")

	baked := config.Duration(4 * time.Second)
	require.NoError(t, m.do(&RecordAnalysis{On: m.on(""), Baked: &baked}, t0.Add(75*time.Second), "c"))
	require.Equal(t, baked, m.rel().Status.Baked)
	require.Equal(t, t0.Add(75*time.Second), m.rel().Status.BakedTo)
	require.NoError(t, m.do(&RecordAnalysis{On: m.on("")}, t0.Add(80*time.Second), "c"))
	require.Equal(t, baked, m.rel().Status.Baked, "an analysis without a count (an older command) leaves it")
	require.Equal(t, t0.Add(75*time.Second), m.rel().Status.BakedTo)
	require.NoError(t, m.do(&AdvanceStep{On: m.on("")}, t0.Add(90*time.Second), "c"))
	require.Zero(t, m.rel().Status.Baked, "a new step bakes from zero")
}

func TestReleaseRefusals(t *testing.T) {
	m := newMachine(t, baseDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))

	// One active release per service.
	err := m.applyYAML(`apiVersion: sluice.dev/v1alpha1
kind: Release
metadata: {name: r2}
spec: {service: greeter, to: v3}
`, t0)
	require.ErrorIs(t, err, config.ErrInvalid)
	require.Contains(t, err.Error(), `already has an active release "r1"`)

	// Re-applying the same release is a no-op; changing it is refused.
	idx := m.st.Index
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	require.Equal(t, idx, m.st.Index)
	err = m.applyYAML(`apiVersion: sluice.dev/v1alpha1
kind: Release
metadata: {name: r1}
spec: {service: greeter, to: v3}
`, t0)
	require.ErrorContains(t, err, "releases cannot be changed")

	// A service in a release cannot lose the versions it uses, nor be
	// deleted; the release cannot be deleted while active.
	err = m.applyYAML(`apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: greeter}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: "10.0.0.1:80"}]}
`, t0)
	require.ErrorContains(t, err, `version "v2" is used by active Release "r1"`)
	del := func(kind config.Kind, name string) error {
		c, err := NewCommand(CmdDelete, t0, "t", DeletePayload{Kind: kind, Name: name})
		require.NoError(t, err)
		_, err = m.run(c)
		return err
	}
	require.ErrorContains(t, del(config.KindService, "greeter"), `active Release "r1"`)
	require.ErrorIs(t, del(config.KindRelease, "r1"), ErrBadTransition)

	// Releasing the stable version is refused.
	require.NoError(t, m.do(&Abort{On: m.on("no")}, t0, "alice"))
	require.Equal(t, PhaseAborted, m.rel().Status.Phase)
	err = m.applyYAML(`apiVersion: sluice.dev/v1alpha1
kind: Release
metadata: {name: r3}
spec: {service: greeter, to: v1}
`, t0)
	require.ErrorContains(t, err, "already the stable version")
	require.NoError(t, del(config.KindRelease, "r1"))
}

func TestReleaseNeedsPolicyWithSLO(t *testing.T) {
	m := newMachine(t, `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: lonely}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: "10.0.0.1:80"}]}
    - {name: v2, endpoints: [{address: "10.0.0.2:80"}]}
`)
	err := m.applyYAML(`apiVersion: sluice.dev/v1alpha1
kind: Release
metadata: {name: r}
spec: {service: lonely, to: v2}
`, t0)
	require.ErrorContains(t, err, "covered by no ReleasePolicy")
	require.Empty(t, m.st.Releases)
}

func TestReleaseSnapshotRoundTrip(t *testing.T) {
	m := newMachine(t, baseDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	require.NoError(t, m.do(&StartRelease{On: m.on("s")}, t0, "c"))
	var buf bytes.Buffer
	require.NoError(t, WriteSnapshot(m.st, &buf))
	got, err := ReadSnapshot(&buf)
	require.NoError(t, err)
	a, _ := json.Marshal(m.st)
	b, _ := json.Marshal(got)
	require.JSONEq(t, string(a), string(b))
	require.Equal(t, m.st.RouteWeights("greeter"), got.RouteWeights("greeter"))
}
