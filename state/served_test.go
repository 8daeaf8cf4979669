package state

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFirstStepExpectsTheGroupsOfTheLastACK: the groups that ACKed a
// service's last step are recorded on the service, and its next release's
// first step expects them; a step started after ServedGroupAge expects
// nothing.
func TestFirstStepExpectsTheGroupsOfTheLastACK(t *testing.T) {
	m := newMachine(t, baseDocs)
	require.NoError(t, m.applyYAML(releaseDoc, t0))
	require.NoError(t, m.do(&StartRelease{On: m.on("start")}, t0, "c"))
	require.Empty(t, m.rel().Status.ExpectedGroups, "nothing is known of the service yet")
	require.NoError(t, m.do(&AckStep{On: m.on("acked"), Groups: []string{"web/eu/", "edge/eu/"}}, t0.Add(time.Second), "c"))
	require.Equal(t, []string{"edge/eu/", "web/eu/"}, m.st.ServedBy("greeter", t0.Add(time.Second)))
	require.Equal(t, t0.Add(time.Second), m.st.LastServed("greeter"))
	require.NoError(t, m.do(&Abort{On: m.on("stop")}, t0.Add(2*time.Second), "alice"))

	require.NoError(t, m.applyYAML(`apiVersion: sluice.dev/v1alpha1
kind: Release
metadata: {name: r2}
spec: {service: greeter, to: v3}
`, t0.Add(3*time.Second)))
	r2 := func() *Release { return m.st.Releases["r2"] }
	require.NoError(t, m.do(&StartRelease{On: OnRelease(r2(), "start")}, t0.Add(4*time.Second), "c"))
	require.Equal(t, []string{"edge/eu/", "web/eu/"}, r2().Status.ExpectedGroups, "step 1 waits for the groups that served the service")

	// Long after, nothing is expected any more.
	late := t0.Add(time.Second + ServedGroupAge)
	require.NoError(t, m.do(&Abort{On: OnRelease(r2(), "stop")}, late, "alice"))
	require.Empty(t, m.st.ServedBy("greeter", late))
	require.NoError(t, m.applyYAML(`apiVersion: sluice.dev/v1alpha1
kind: Release
metadata: {name: r3}
spec: {service: greeter, to: v3}
`, late))
	require.NoError(t, m.do(&StartRelease{On: OnRelease(m.st.Releases["r3"], "start")}, late, "c"))
	require.Empty(t, m.st.Releases["r3"].Status.ExpectedGroups, "a group not seen for ServedGroupAge is not expected")
}

// TestObserveGroupsIsGuarded: an observation records the groups it saw
// and is refused, changing nothing, when the record changed since the
// leader read it, when it names an unknown service, or when it is out of
// bounds.
func TestObserveGroupsIsGuarded(t *testing.T) {
	m := newMachine(t, baseDocs)
	obs := &ObserveGroups{Groups: []string{"e2e/eu/"}, Services: []ServiceSeen{{Service: "greeter"}}}
	require.NoError(t, m.do(obs, t0, "leader"))
	require.Equal(t, []string{"e2e/eu/"}, m.st.ServedBy("greeter", t0))

	before := m.st
	err := m.do(obs, t0.Add(time.Second), "old-leader")
	require.ErrorIs(t, err, ErrConflict, "the record changed since the observation was made")
	require.Same(t, before, m.st)

	next := &ObserveGroups{Groups: []string{"e2e/us/"}, Services: []ServiceSeen{{Service: "greeter", Seen: t0}}}
	require.NoError(t, m.do(next, t0.Add(time.Minute), "leader"))
	require.Equal(t, []string{"e2e/eu/", "e2e/us/"}, m.st.ServedBy("greeter", t0.Add(time.Minute)), "a group not seen now is kept until it ages out")
	require.Equal(t, []string{"e2e/us/"}, m.st.ServedBy("greeter", t0.Add(ServedGroupAge)), "each group ages from when it was last seen")
	require.Equal(t, t0.Add(time.Minute), m.st.ServedAt("greeter", "e2e/us/"))

	for name, bad := range map[string]*ObserveGroups{
		"unknown service": {Groups: []string{"g"}, Services: []ServiceSeen{{Service: "nope"}}},
		"no groups":       {Services: []ServiceSeen{{Service: "greeter", Seen: t0.Add(time.Minute)}}},
		"no services":     {Groups: []string{"g"}},
		"too many":        {Groups: manyGroups(MaxServedGroups + 1), Services: []ServiceSeen{{Service: "greeter", Seen: t0.Add(time.Minute)}}},
		"stale":           {Groups: []string{"g"}, Services: []ServiceSeen{{Service: "greeter", Seen: t0}}},
	} {
		before := m.st
		require.Error(t, m.do(bad, t0.Add(2*time.Minute), "leader"), name)
		require.Same(t, before, m.st, name)
	}
}

// TestServedGroupsAreBounded: a record keeps the MaxServedGroups groups
// seen most recently.
func TestServedGroupsAreBounded(t *testing.T) {
	var rec []ServedGroup
	rec = mergeServed(rec, manyGroups(MaxServedGroups), t0)
	rec = mergeServed(rec, []string{"new-a", "new-b"}, t0.Add(time.Second))
	require.Len(t, rec, MaxServedGroups)
	names := map[string]bool{}
	for _, g := range rec {
		names[g.Group] = true
	}
	require.True(t, names["new-a"] && names["new-b"], "the groups seen last are kept")
	require.False(t, names["g-62"] || names["g-63"], "the last by name among the oldest are forgotten")
	require.True(t, names["g-00"])
	require.Len(t, mergeServed(rec, []string{strings.Repeat("x", MaxGroupKey+1)}, t0.Add(2*time.Second)), MaxServedGroups, "a key too long is not recorded")
}

func manyGroups(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("g-%02d", i)
	}
	return out
}

// TestDeletingAServiceForgetsItsGroups: a service deleted and created
// again does not expect the groups that held the old one.
func TestDeletingAServiceForgetsItsGroups(t *testing.T) {
	m := newMachine(t, baseDocs)
	require.NoError(t, m.do(&ObserveGroups{Groups: []string{"e2e/eu/"}, Services: []ServiceSeen{{Service: "greeter"}}}, t0, "leader"))
	require.NotEmpty(t, m.st.ServedBy("greeter", t0))
	p, err := NewCommand(CmdDelete, t0, "alice", DeletePayload{Kind: "ReleasePolicy", Name: "p"})
	require.NoError(t, err)
	_, err = m.run(p)
	require.NoError(t, err)
	c, err := NewCommand(CmdDelete, t0, "alice", DeletePayload{Kind: "Service", Name: "greeter"})
	require.NoError(t, err)
	_, err = m.run(c)
	require.NoError(t, err)
	require.Empty(t, m.st.ServedBy("greeter", t0))
	require.True(t, m.st.LastServed("greeter").IsZero())
}
