// Package report computes release statistics from the replicated state:
// how many releases were risk-assessed, window-scheduled and
// approval-gated, and the DORA figures Sluice can know (deployment
// frequency, lead time, change failure rate, time to restore).
package report

import (
	"math"
	"sort"
	"time"

	"github.com/sluicehq/sluice/state"
)

// Durations summarises a set of durations.
type Durations struct {
	Count  int           `json:"count"`
	Median time.Duration `json:"median"`
	P90    time.Duration `json:"p90"`
}

func summarize(ds []time.Duration) Durations {
	if len(ds) == 0 {
		return Durations{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	q := func(p float64) time.Duration {
		// nearest rank
		i := int(math.Ceil(p*float64(len(ds)))) - 1
		if i < 0 {
			i = 0
		}
		return ds[i]
	}
	return Durations{Count: len(ds), Median: q(0.5), P90: q(0.9)}
}

// Share is a count out of a total.
type Share struct {
	Count int     `json:"count"`
	Total int     `json:"total"`
	Ratio float64 `json:"ratio"`
}

func share(n, total int) Share {
	s := Share{Count: n, Total: total}
	if total > 0 {
		s.Ratio = float64(n) / float64(total)
	}
	return s
}

// Report covers the releases created in [From, To).
type Report struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`

	Releases   int `json:"releases"`
	Promoted   int `json:"promoted"`
	RolledBack int `json:"rolledBack"`
	Aborted    int `json:"aborted"`
	Active     int `json:"active"`

	// RiskAssessed: releases scored by the risk model (goal: 85%).
	RiskAssessed Share `json:"riskAssessed"`
	// WindowScheduled: started releases whose start the window optimizer
	// chose or checked (goal: 75%).
	WindowScheduled Share `json:"windowScheduled"`
	// ApprovalGated: releases that waited for a person's approval.
	ApprovalGated Share `json:"approvalGated"`
	// BlastRadiusLimited: started releases whose first step was a cohort
	// or at most 10% of traffic (goal: 80%).
	BlastRadiusLimited Share `json:"blastRadiusLimited"`

	// DeploymentsPerDay is promotions per day over the period.
	DeploymentsPerDay float64 `json:"deploymentsPerDay"`
	// LeadTime is from submission to promotion.
	LeadTime Durations `json:"leadTime"`
	// ChangeFailureRate is rolled back / (promoted + rolled back).
	ChangeFailureRate float64 `json:"changeFailureRate"`
	// TimeToRestore is, for each rollback, from the start of the step in
	// which the new version failed to the command that sent all traffic
	// back to the stable version.
	TimeToRestore Durations `json:"timeToRestore"`
}

// gated reports whether a release waited for a person.
func gated(r *state.Release) bool {
	if len(r.Status.Approvals) > 0 || len(r.Status.Assessment.ApprovalStepsOrNil()) > 0 {
		return true
	}
	for _, d := range r.Status.Decisions {
		if d.Action == state.DecisionAwait {
			return true
		}
	}
	return false
}

// Compute builds the report of releases created in [now-period, now).
// period <= 0 means every release.
func Compute(st *state.State, now time.Time, period time.Duration) Report {
	rep := Report{To: now}
	if period > 0 {
		rep.From = now.Add(-period)
	}
	var lead, restore []time.Duration
	assessed, windowed, started, gatedN, limited := 0, 0, 0, 0, 0
	first := now
	for _, name := range st.ReleaseNames() {
		r := st.Releases[name]
		rs := &r.Status
		if period > 0 && rs.CreatedAt.Before(rep.From) {
			continue
		}
		if rs.CreatedAt.Before(first) {
			first = rs.CreatedAt
		}
		rep.Releases++
		if rs.Assessment != nil {
			assessed++
		}
		if gated(r) {
			gatedN++
		}
		if !rs.StartedAt.IsZero() {
			started++
			if rs.Window != "" {
				windowed++
			}
			if rs.Limited {
				limited++
			}
		}
		switch rs.Phase {
		case state.PhasePromoted:
			rep.Promoted++
			lead = append(lead, rs.EndedAt.Sub(rs.CreatedAt))
		case state.PhaseRolledBack:
			rep.RolledBack++
			if !rs.StepStartedAt.IsZero() {
				restore = append(restore, rs.EndedAt.Sub(rs.StepStartedAt))
			}
		case state.PhaseAborted:
			rep.Aborted++
		default:
			rep.Active++
		}
	}
	rep.RiskAssessed = share(assessed, rep.Releases)
	rep.WindowScheduled = share(windowed, started)
	rep.ApprovalGated = share(gatedN, rep.Releases)
	rep.BlastRadiusLimited = share(limited, started)
	days := now.Sub(rep.From).Hours() / 24
	if period <= 0 {
		days = now.Sub(first).Hours() / 24
	}
	if days > 0 {
		rep.DeploymentsPerDay = float64(rep.Promoted) / days
	}
	if n := rep.Promoted + rep.RolledBack; n > 0 {
		rep.ChangeFailureRate = float64(rep.RolledBack) / float64(n)
	}
	rep.LeadTime = summarize(lead)
	rep.TimeToRestore = summarize(restore)
	return rep
}
