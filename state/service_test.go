package state

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

const declaredPolicy = `apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: p}
spec:
  services: [greeter]
  slo:
    objective: 99.9
    errorRatioQuery: 'sum(rate(errors{version="{{version}}"}[{{window}}]))'
    requestsQuery: 'sum(increase(requests{version="{{version}}"}[{{window}}]))'
  steps: [{weight: 10, bake: 30s}, {weight: 50, bake: 30s}]
`

// greeterAt is a declared Service document running version.
func greeterAt(version, extraMeta string) string {
	return `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata:
  name: greeter
` + extraMeta + `spec:
  protocol: grpc
  version: ` + version + `
  versions:
    - {name: v1, endpoints: [{address: "10.0.0.1:80"}]}
    - {name: v2, endpoints: [{address: "10.0.0.2:80"}]}
    - {name: v3, endpoints: [{address: "10.0.0.3:80"}]}
`
}

// applyRes applies YAML and returns the result.
func (m *machine) applyRes(docs string, force bool) (ApplyResult, error) {
	m.t.Helper()
	parsed, err := config.Parse("t.yaml", []byte(docs))
	require.NoError(m.t, err)
	c, err := NewCommand(CmdApply, t0, "alice", ApplyPayload{Documents: parsed, Force: force})
	require.NoError(m.t, err)
	res, err := m.run(c)
	if err != nil {
		return ApplyResult{}, err
	}
	return res.(ApplyResult), nil
}

func TestDeclaredVersionStartsARelease(t *testing.T) {
	m := newMachine(t, greeterAt("v1", "")+"---\n"+declaredPolicy)
	require.Empty(t, m.st.Releases, "a new service starts on its declared version")
	require.Equal(t, []uint32{100, 0, 0}, m.st.RouteWeights("greeter"))

	annotated := greeterAt("v2", `  annotations:
    change.sluice.dev/lines-added: "120"
    change.sluice.dev/author: bob
    required-gate.sluice.dev/integration: passed
`)
	res, err := m.applyRes(annotated, false)
	require.NoError(t, err)
	require.Len(t, res.Started, 1)
	name := res.Started[0]
	require.Equal(t, ReleaseName("greeter", "v2", t0), name)
	r := m.st.Releases[name]
	require.Equal(t, "v1", r.Status.From)
	require.Equal(t, "v2", r.Spec.Spec.To)
	require.Equal(t, 120, *r.Spec.Spec.Change.LinesAdded, "the change descriptor comes from the annotations")
	require.Equal(t, "bob", r.Spec.Spec.Change.Author)
	require.Equal(t, []config.GateResult{{Name: "integration", Passed: true, Required: true}}, r.Spec.Spec.Gates)
	require.Contains(t, r.Status.Decisions[0].Message, "version v2 declared by alice")
	require.Equal(t, []uint32{100, 0, 0}, m.st.RouteWeights("greeter"), "nothing moves before the release starts")

	// Re-applying the same document changes nothing.
	idx := m.st.Index
	res, err = m.applyRes(annotated, false)
	require.NoError(t, err)
	require.Equal(t, []string{"Service/greeter"}, res.Unchanged)
	require.Equal(t, idx, m.st.Index)

	// Another version while the release runs is refused.
	before := m.st
	_, err = m.applyRes(greeterAt("v3", ""), false)
	require.ErrorIs(t, err, config.ErrInvalid)
	require.ErrorContains(t, err, "before declaring v3")
	require.Same(t, before, m.st)

	// Promoted: v2 is stable, and the spec is still what was applied.
	require.NoError(t, m.do(&Promote{On: OnRelease(r, "promote")}, t0.Add(time.Minute), "alice"))
	require.Equal(t, []uint32{0, 100, 0}, m.st.RouteWeights("greeter"))
	require.Equal(t, "v2", m.st.StableVersion("greeter"))
	parsed, _ := config.Parse("t.yaml", []byte(annotated))
	require.Equal(t, parsed[0].Service, m.st.Services["greeter"], "the stored spec round-trips to the applied one")
}

func TestDeclaredVersionRolledBackStaysDeclared(t *testing.T) {
	m := newMachine(t, greeterAt("v1", "")+"---\n"+declaredPolicy)
	res, err := m.applyRes(greeterAt("v2", ""), false)
	require.NoError(t, err)
	r := m.st.Releases[res.Started[0]]
	require.NoError(t, m.do(&Rollback{On: OnRelease(r, "burn")}, t0, "controller"))
	require.Equal(t, "v1", m.st.StableVersion("greeter"), "the failed version does not run")
	require.Equal(t, "v2", m.st.Services["greeter"].Spec.Version, "but stays declared")
	res, err = m.applyRes(greeterAt("v2", ""), false)
	require.NoError(t, err)
	require.Empty(t, res.Started, "re-applying the failed version does not retry it")
	res, err = m.applyRes(greeterAt("v1", ""), false)
	require.NoError(t, err)
	require.Empty(t, res.Started, "declaring the version that runs starts nothing")
}

func TestStaticWeightsOnCoveredServiceRefused(t *testing.T) {
	m := newMachine(t, baseDocs) // greeter without a declared version, covered by p
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	require.NoError(t, m.do(&Promote{On: m.on("promote")}, t0, "alice"))
	require.Equal(t, []uint32{0, 100, 0}, m.st.RouteWeights("greeter"))

	// The file still says v1 (no weights: the first version): applying it
	// would cut traffic back at once. Refused, nothing changes.
	before := m.st
	_, err := m.applyRes(strings.SplitN(baseDocs, "---", 2)[0], false)
	require.ErrorIs(t, err, config.ErrInvalid)
	require.ErrorContains(t, err, `covered by ReleasePolicy "p"`)
	require.ErrorContains(t, err, "v2=100% now, v1=100% after")
	require.ErrorContains(t, err, "spec.version: v2")
	require.ErrorContains(t, err, "sluice apply --force")
	require.Same(t, before, m.st)

	// An admin forces it: applied, and recorded with who did it.
	res, err := m.applyRes(strings.SplitN(baseDocs, "---", 2)[0], true)
	require.NoError(t, err)
	require.Equal(t, []string{"greeter"}, res.Forced)
	require.Equal(t, []uint32{100, 0, 0}, m.st.RouteWeights("greeter"))
	d := m.st.ServiceStatus["greeter"].Decisions
	require.Len(t, d, 1)
	require.Equal(t, DecisionForceWeights, d[0].Action)
	require.Equal(t, "alice", d[0].Actor)
	require.Contains(t, d[0].Message, "static weights forced by alice: v1=100% (was v2=100%)")
}

func TestStaticWeightsWithoutPolicyApply(t *testing.T) {
	svc := func(w1, w2 int) string {
		return "apiVersion: sluice.dev/v1alpha1\nkind: Service\nmetadata: {name: plain}\nspec:\n  protocol: grpc\n  versions:\n" +
			"    - {name: v1, weight: " + strconv.Itoa(w1) + ", endpoints: [{address: \"10.0.0.1:80\"}]}\n" +
			"    - {name: v2, weight: " + strconv.Itoa(w2) + ", endpoints: [{address: \"10.0.0.2:80\"}]}\n"
	}
	m := newMachine(t, svc(100, 0))
	res, err := m.applyRes(svc(50, 50), false)
	require.NoError(t, err)
	require.Empty(t, res.Forced)
	require.Equal(t, []uint32{50, 50}, m.st.RouteWeights("plain"))
}

func TestUndo(t *testing.T) {
	m := newMachine(t, greeterAt("v1", "")+"---\n"+declaredPolicy)
	_, err := PlanUndo(m.st, "greeter")
	require.ErrorIs(t, err, ErrNothingToUndo)

	res, err := m.applyRes(greeterAt("v2", ""), false)
	require.NoError(t, err)
	r := m.st.Releases[res.Started[0]]
	_, err = PlanUndo(m.st, "greeter")
	require.ErrorIs(t, err, ErrBadTransition, "a release in progress is rolled back, not undone")
	require.ErrorContains(t, err, "sluice release rollback "+r.Name())
	require.NoError(t, m.do(&Promote{On: OnRelease(r, "promote")}, t0.Add(time.Minute), "alice"))

	plan, err := PlanUndo(m.st, "greeter")
	require.NoError(t, err)
	require.Equal(t, UndoPlan{Service: "greeter", From: "v2", To: "v1", Release: r.Name()}, plan)

	// A stale plan is refused; the current one sends traffic back at once.
	stale := UndoService{UndoPlan: UndoPlan{Service: "greeter", From: "v3", To: "v1", Release: r.Name()}}
	require.ErrorIs(t, m.do(&stale, t0, "carol"), ErrConflict)
	require.NoError(t, m.do(&UndoService{UndoPlan: plan, Reason: "INC-9"}, t0.Add(2*time.Minute), "carol"))
	require.Equal(t, []uint32{100, 0, 0}, m.st.RouteWeights("greeter"))
	require.Equal(t, "v1", m.st.Services["greeter"].Spec.Version, "the declared version follows the undo")
	undone := m.st.Releases[r.Name()]
	require.Equal(t, PhasePromoted, undone.Status.Phase, "history is not rewritten")
	last := undone.Status.Decisions[len(undone.Status.Decisions)-1]
	require.Equal(t, DecisionUndo, last.Action)
	require.Equal(t, "carol", last.Actor)
	require.Contains(t, last.Message, "INC-9")
	require.Equal(t, DecisionUndo, m.st.ServiceStatus["greeter"].Decisions[0].Action)
	_, err = PlanUndo(m.st, "greeter")
	require.ErrorIs(t, err, ErrNothingToUndo)
}

func TestChangeAnnotationsValidated(t *testing.T) {
	_, err := config.Parse("t.yaml", []byte(greeterAt("v2", `  annotations:
    change.sluice.dev/lines-added: lots
    change.sluice.dev/colour: blue
    gate.sluice.dev/unit: green
`)))
	require.ErrorIs(t, err, config.ErrInvalid)
	require.ErrorContains(t, err, `metadata.annotations["change.sluice.dev/lines-added"]: must be a whole number`)
	require.ErrorContains(t, err, `metadata.annotations["change.sluice.dev/colour"]: unknown change annotation`)
	require.ErrorContains(t, err, `metadata.annotations["gate.sluice.dev/unit"]: must be "passed" or "failed"`)

	_, err = config.Parse("t.yaml", []byte(strings.Replace(greeterAt("v9", ""), "- {name: v1, ", "- {name: v1, weight: 100, ", 1)))
	require.ErrorContains(t, err, `spec.version: "v9" is not one of spec.versions`)
	require.ErrorContains(t, err, "gets no static weights")
}

func TestReleaseName(t *testing.T) {
	now := time.Date(2026, 11, 25, 19, 30, 5, 0, time.UTC)
	require.Equal(t, "greeter-v2-1125-193005", ReleaseName("greeter", "v2", now))
	require.Equal(t, "api-1-2-3-1125-193005", ReleaseName("api", "1.2.3", now))
	long := ReleaseName(strings.Repeat("a", 80), "v2", now)
	require.LessOrEqual(t, len(long), 63)
}
