package report

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func rel(name string, phase state.Phase, created, started, stepStart, ended time.Duration, opts ...func(*state.Release)) *state.Release {
	r := &state.Release{Spec: config.Release{Metadata: config.Metadata{Name: name}, Spec: config.ReleaseSpec{Service: "svc", To: "v2"}},
		Status: state.ReleaseStatus{Phase: phase, CreatedAt: now.Add(-created)}}
	if started > 0 {
		r.Status.StartedAt = now.Add(-started)
	}
	if stepStart > 0 {
		r.Status.StepStartedAt = now.Add(-stepStart)
	}
	if ended > 0 {
		r.Status.EndedAt = now.Add(-ended)
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

func assessed(r *state.Release) { r.Status.Assessment = &state.Assessment{} }
func windowed(r *state.Release) { r.Status.Window = "in-window" }
func limited(r *state.Release)  { r.Status.Limited = true }
func approved(r *state.Release) { r.Status.Approvals = []state.Approval{{Actor: "alice"}} }

// A worked example: four releases over the last 10 days.
func TestCompute(t *testing.T) {
	st := state.New()
	h := time.Hour
	st.Releases = map[string]*state.Release{
		// submitted 5 days ago, promoted after 2h
		"a": rel("a", state.PhasePromoted, 120*h, 119*h, 0, 118*h, assessed, windowed, limited),
		// promoted after 4h
		"b": rel("b", state.PhasePromoted, 48*h, 47*h, 0, 44*h, assessed, windowed, approved),
		// rolled back 10 minutes after its failing step started
		"c": rel("c", state.PhaseRolledBack, 24*h, 23*h, 23*h, 23*h-10*time.Minute, assessed, limited),
		// still pending, not assessed
		"d": rel("d", state.PhasePending, 1*h, 0, 0, 0),
		// outside the period
		"old": rel("old", state.PhasePromoted, 40*24*h, 40*24*h, 0, 40*24*h),
	}
	r := Compute(st, now, 10*24*h)
	require.Equal(t, 4, r.Releases)
	require.Equal(t, 2, r.Promoted)
	require.Equal(t, 1, r.RolledBack)
	require.Equal(t, 1, r.Active)
	require.Equal(t, Share{Count: 3, Total: 4, Ratio: 0.75}, r.RiskAssessed)
	require.Equal(t, Share{Count: 2, Total: 3, Ratio: 2.0 / 3}, r.WindowScheduled)
	require.Equal(t, Share{Count: 1, Total: 4, Ratio: 0.25}, r.ApprovalGated)
	require.Equal(t, Share{Count: 2, Total: 3, Ratio: 2.0 / 3}, r.BlastRadiusLimited)
	require.InDelta(t, 0.2, r.DeploymentsPerDay, 1e-9, "2 promotions in 10 days")
	require.InDelta(t, 1.0/3, r.ChangeFailureRate, 1e-9)
	require.Equal(t, Durations{Count: 2, Median: 2 * h, P90: 4 * h}, r.LeadTime)
	require.Equal(t, Durations{Count: 1, Median: 10 * time.Minute, P90: 10 * time.Minute}, r.TimeToRestore)
}
