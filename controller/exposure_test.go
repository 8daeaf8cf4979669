package controller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

func u32(v uint32) *uint32   { return &v }
func f64(v float64) *float64 { return &v }
func cohortRelease() *state.Release {
	spec := config.PolicyDefaults(&config.ReleasePolicySpec{
		Services: []string{"svc"},
		Cohorts: &config.CohortSpec{Stages: []config.CohortStage{
			{Name: "beta", Tenants: []string{"beta", "internal"}},
			{Name: "eu-five", Regions: []string{"eu-west"}, Percent: u32(5)},
			{Name: "eu-beta", Regions: []string{"eu-west"}, Tenants: []string{"beta"}, Percent: u32(10)},
			{Name: "testers", Headers: []config.HeaderMatch{{Name: "x-canary", Exact: "1"}}},
			{Name: "guessed", Headers: []config.HeaderMatch{{Name: "x-canary", Exact: "1"}}, ExpectedShare: f64(0.5)},
		}},
		Exposure: &config.ExposureSpec{MaxTrafficShare: 20, MaxTenants: 3, MaxRegions: 1},
		Steps: []config.StepSpec{{Cohort: "beta"}, {Cohort: "eu-five"}, {Cohort: "eu-beta"}, {Cohort: "testers"},
			{Cohort: "guessed"}, {Weight: 10}, {Weight: 50}},
	})
	return &state.Release{
		Spec:   config.Release{Metadata: config.Metadata{Name: "r"}, Spec: config.ReleaseSpec{Service: "svc", To: "v2"}},
		Status: state.ReleaseStatus{Phase: state.PhasePending, From: "v1", PolicySpec: spec, Plan: spec.Steps, Step: -1},
	}
}

// Worked examples of the exposure estimate. Traffic: tenants beta 10,
// internal 5, others 85 (rps); regions eu-west 40, us-east 60.
func TestEstimateExposure(t *testing.T) {
	r := cohortRelease()
	tenants := Traffic{ByValue: map[string]float64{"beta": 10, "internal": 5, "acme": 85}}
	regions := Traffic{ByValue: map[string]float64{"eu-west": 40, "us-east": 60}}

	// beta+internal = 15% of traffic, 2 tenants, every region.
	e := EstimateExposure(r, 0, tenants, regions)
	require.Equal(t, state.Exposure{Step: 0, Share: 15, Tenants: 2, Regions: -1, Source: "prometheus",
		Detail: "regions 100.0% of traffic, tenants 15.0%, then 0% of the rest"}, e)

	// 5% of eu-west (40%) = 2%; all tenants, 1 region.
	e = EstimateExposure(r, 1, tenants, regions)
	require.Equal(t, 2.0, e.Share)
	require.Equal(t, -1, e.Tenants)
	require.Equal(t, 1, e.Regions)

	// eu-west (40%) x (beta 10% + 10% of the other 90%) = 40% x 19% = 7.6%.
	e = EstimateExposure(r, 2, tenants, regions)
	require.Equal(t, 7.6, e.Share)

	// A header cohort cannot be measured: unknown, or the declared share.
	e = EstimateExposure(r, 3, tenants, regions)
	require.Equal(t, -1.0, e.Share)
	require.Equal(t, state.ExposureUnknown, e.Source)
	e = EstimateExposure(r, 4, tenants, regions)
	require.Equal(t, 0.5, e.Share)
	require.Equal(t, state.ExposureDeclared, e.Source)

	// A plain step exposes its weight exactly, and everyone.
	e = EstimateExposure(r, 6, Traffic{}, Traffic{})
	require.Equal(t, state.Exposure{Step: 6, Share: 50, Tenants: -1, Regions: -1, Source: "plan", Detail: "50% of all traffic"}, e)

	// Without traffic by tenant the estimate is unknown and says why.
	e = EstimateExposure(r, 0, Traffic{Err: "connection refused"}, regions)
	require.Equal(t, -1.0, e.Share)
	require.Contains(t, e.Detail, "no traffic by tenant (connection refused)")
}

func TestCheckBudget(t *testing.T) {
	b := &config.ExposureSpec{MaxTrafficShare: 20, MaxTenants: 3, MaxRegions: 1}
	require.Empty(t, CheckBudget(b, &state.Exposure{Share: 15, Tenants: 2, Regions: 1}))
	require.Equal(t, []string{"~50% of traffic > budget 20%", "all tenants > budget 3", "all regions > budget 1"},
		CheckBudget(b, &state.Exposure{Share: 50, Tenants: -1, Regions: -1}))
	over := CheckBudget(b, &state.Exposure{Share: -1, Tenants: 1, Regions: 1, Detail: "header cohorts cannot be measured"})
	require.Len(t, over, 1)
	require.Contains(t, over[0], "traffic share unknown (budget 20%)")
	require.Empty(t, CheckBudget(nil, &state.Exposure{Share: 100}), "no budget, no limit")
}

func TestGateStepHoldsUntilApproved(t *testing.T) {
	r := cohortRelease()
	start := &state.StartRelease{On: state.OnRelease(r, "start")}
	// Step 1 (beta, 15%) is within budget: start, with the estimate.
	e := GateStart(r, start, state.Exposure{Step: 0, Share: 15, Tenants: 2, Regions: 1})
	require.Equal(t, state.CmdReleaseStart, e.Type())
	require.Empty(t, e.(*state.StartRelease).Exposure.Over)

	// Over budget: a hold that says what and how to approve it.
	e = GateStart(r, start, state.Exposure{Step: 0, Share: 35, Tenants: 2, Regions: 1})
	h := e.(*state.HoldRelease)
	require.Equal(t, state.HoldExposureBudget, h.Hold.Kind)
	require.Equal(t, "exposure budget: step 1 (cohort beta) would exceed it: ~35% of traffic > budget 20%; a person must approve: sluice release approve r", h.Hold.Message)
	require.Equal(t, 0, h.Exposure.Step)

	// Already holding for the same reason: not proposed again.
	r.Status.Hold = &h.Hold
	require.Nil(t, GateStart(r, start, state.Exposure{Step: 0, Share: 35, Tenants: 2, Regions: 1}))

	// Approved: it starts.
	r.Status.Approvals = []state.Approval{{Step: 0, Actor: "alice", Time: time.Unix(0, 0)}}
	e = GateStart(r, start, state.Exposure{Step: 0, Share: 35, Tenants: 2, Regions: 1})
	require.Equal(t, state.CmdReleaseStart, e.Type())

	// An advance over budget becomes an analysis record that holds.
	ex := state.Exposure{Step: 6, Share: 50, Tenants: -1, Regions: -1}
	hold := gateStep(r, &ex)
	require.Equal(t, state.HoldExposureBudget, hold.Kind)
	require.Contains(t, hold.Message, "step 7 would exceed it: ~50% of traffic > budget 20%; all tenants > budget 3; all regions > budget 1")
}
