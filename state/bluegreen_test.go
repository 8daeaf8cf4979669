package state

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

// bgDocs is baseDocs with the blue/green strategy instead of steps.
var bgDocs = strings.Replace(baseDocs, `  steps:
    - {weight: 10, bake: 30s}
    - {weight: 50, bake: 30s}
`, `  strategy:
    blueGreen: {previewBake: 1m, postSwitchBake: 2m, keepOldFor: 10m}
`, 1)

func TestBlueGreenPhases(t *testing.T) {
	require.NotEqual(t, baseDocs, bgDocs)
	m := newMachine(t, bgDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	r := m.rel()
	require.Equal(t, []config.StepSpec{{Weight: 0, Bake: config.Duration(time.Minute)}, {Weight: 100, Bake: config.Duration(2 * time.Minute)}}, r.Status.Plan)
	_, ok := m.st.Preview("greeter")
	require.False(t, ok, "pending: no preview route yet")

	// Preview: plain traffic on v1, the preview header on v2.
	require.NoError(t, m.do(&StartRelease{On: m.on("start")}, t0.Add(time.Second), "controller"))
	require.Equal(t, []uint32{100, 0, 0}, m.st.RouteWeights("greeter"))
	p, ok := m.st.Preview("greeter")
	require.True(t, ok)
	require.Equal(t, "v2", p.Version)
	require.Equal(t, &config.PreviewHeader{Name: config.DefaultPreviewHeader, Value: config.DefaultPreviewValue}, p.Preview.Header)

	// Switched: everything on v2 at once, the preview route on v1.
	require.NoError(t, m.do(&AdvanceStep{On: m.on("switch")}, t0.Add(time.Minute), "controller"))
	require.Equal(t, []uint32{0, 100, 0}, m.st.RouteWeights("greeter"))
	p, _ = m.st.Preview("greeter")
	require.Equal(t, "v1", p.Version)

	// Promoted: v1 stays reachable for keepOldFor.
	promoted := t0.Add(4 * time.Minute)
	require.NoError(t, m.do(&Promote{On: m.on("promote")}, promoted, "controller"))
	require.Equal(t, []uint32{0, 100, 0}, m.st.RouteWeights("greeter"))
	kept := keptOf(m)
	require.Equal(t, &KeptVersion{Release: "r1", Version: "v1", Until: promoted.Add(10 * time.Minute), Preview: p.Preview}, kept)
	p, ok = m.st.Preview("greeter")
	require.True(t, ok)
	require.Equal(t, "v1", p.Version)
	require.Empty(t, m.st.KeptExpired(promoted.Add(10*time.Minute-time.Second)))
	require.Equal(t, []*Release{m.rel()}, m.st.KeptExpired(promoted.Add(10*time.Minute)))

	// Retired: recorded once; a repeat changes nothing.
	require.NoError(t, m.do(&RetireOld{On: m.on("kept 10m")}, promoted.Add(10*time.Minute), "controller"))
	_, ok = m.st.Preview("greeter")
	require.False(t, ok)
	require.Nil(t, keptOf(m))
	last := m.rel().Status.Decisions[len(m.rel().Status.Decisions)-1]
	require.Equal(t, DecisionRetireOld, last.Action)
	n := len(m.rel().Status.Decisions)
	require.NoError(t, m.do(&RetireOld{On: m.on("again")}, promoted.Add(11*time.Minute), "controller"))
	require.Len(t, m.rel().Status.Decisions, n)
	require.Empty(t, m.st.KeptExpired(promoted.Add(time.Hour)))
}

func TestBlueGreenSwitchBack(t *testing.T) {
	m := newMachine(t, bgDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	require.NoError(t, m.do(&StartRelease{On: m.on("start")}, t0, "controller"))
	require.NoError(t, m.do(&AdvanceStep{On: m.on("switch")}, t0.Add(time.Minute), "controller"))
	stale := m.on("stale")
	require.NoError(t, m.do(&Rollback{On: m.on("burn")}, t0.Add(2*time.Minute), "controller"))
	require.Equal(t, PhaseRolledBack, m.rel().Status.Phase)
	require.Equal(t, []uint32{100, 0, 0}, m.st.RouteWeights("greeter"), "one command: all traffic back on v1")
	_, ok := m.st.Preview("greeter")
	require.False(t, ok)
	require.Nil(t, keptOf(m))

	// A stale leader's promotion is refused, and so is retiring what a
	// rolled-back release never kept.
	require.ErrorIs(t, m.do(&Promote{On: stale}, t0.Add(3*time.Minute), "controller"), ErrConflict)
	require.ErrorIs(t, m.do(&RetireOld{On: m.on("retire")}, t0.Add(3*time.Minute), "controller"), ErrBadTransition)
}

func TestBlueGreenNextReleaseOwnsPreview(t *testing.T) {
	m := newMachine(t, bgDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	require.NoError(t, m.do(&StartRelease{On: m.on("start")}, t0, "controller"))
	require.NoError(t, m.do(&AdvanceStep{On: m.on("switch")}, t0, "controller"))
	require.NoError(t, m.do(&Promote{On: m.on("promote")}, t0, "controller"))
	require.NotNil(t, keptOf(m))

	require.NoError(t, m.applyYAML(strings.ReplaceAll(strings.ReplaceAll(releaseDoc, "r1", "r2"), "v2", "v3"), t0.Add(time.Minute)))
	require.Nil(t, keptOf(m), "the new release owns the preview route")
	_, ok := m.st.Preview("greeter")
	require.False(t, ok, "pending")
	require.Equal(t, "v2", m.st.Releases["r2"].Status.From)
}

func TestRetireOldNeedsBlueGreen(t *testing.T) {
	m := newMachine(t, baseDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	require.NoError(t, m.do(&StartRelease{On: m.on("start")}, t0, "controller"))
	require.NoError(t, m.do(&Promote{On: m.on("promote")}, t0, "controller"))
	require.Nil(t, keptOf(m))
	require.ErrorIs(t, m.do(&RetireOld{On: m.on("retire")}, t0, "controller"), ErrBadTransition)
}

func keptOf(m *machine) *KeptVersion {
	if st := m.st.ServiceStatus["greeter"]; st != nil {
		return st.Kept
	}
	return nil
}
