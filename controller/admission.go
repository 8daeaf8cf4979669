package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/analysis/window"
	"github.com/sluicehq/sluice/state"
)

// Admit is what to do about a release that has not started: propose
// Event (await), start it (Start, once its first step has been gated by
// GateStart), ask the window optimizer (Suggest), or nothing.
type Admit struct {
	Event   state.ReleaseEvent
	Start   *state.StartRelease
	Suggest bool
}

// ExpectedDuration is how long a release's plan takes: bakes plus an
// allowance per step.
func ExpectedDuration(r *state.Release) time.Duration {
	bakes := make([]time.Duration, len(r.Status.Plan))
	for i, s := range r.Status.Plan {
		bakes[i] = s.Bake.D()
	}
	return window.ExpectedDuration(bakes, StepAllowance)
}

// InWindowFunc says whether a release of duration d may start at t.
type InWindowFunc func(t time.Time, d time.Duration) (bool, string)

// DecideAdmission is pure: may a release that has not moved traffic start
// now? Quality gates are hard: a required gate that failed holds it in
// AwaitingApproval until a person overrides that gate. Outside its
// release window it is scheduled (Suggest), unless a person approved
// starting now. inWindow is nil when the policy has no schedule. A
// release waiting for a person to approve its first step stays as it is.
func DecideAdmission(r *state.Release, now time.Time, inWindow InWindowFunc) Admit {
	rs := &r.Status
	if !rs.Phase.Waiting() || rs.Blocked != "" || waitsForApproval(r) {
		return Admit{}
	}
	if failed := r.FailedGates(); len(failed) > 0 {
		msg := fmt.Sprintf("quality gate(s) %s failed and are required: the release does not start until a person with the approver role overrides each: sluice release approve %s --override-gate %s --reason TEXT",
			strings.Join(failed, ", "), r.Name(), failed[0])
		if rs.Phase == state.PhaseAwaitingApproval && r.HeldFor(state.HoldGates) && rs.Hold.Message == msg {
			return Admit{}
		}
		return Admit{Event: &state.Await{On: state.OnRelease(r, msg), Hold: state.Hold{Kind: state.HoldGates, Message: msg}}}
	}
	start := func(how state.StartWindow, msg string) Admit {
		return Admit{Start: &state.StartRelease{On: state.OnRelease(r, fmt.Sprintf("start: %s; %s", msg, firstStepText(r))), Window: how}}
	}
	if inWindow == nil {
		return start("", "no release window")
	}
	if r.StartNowApproved() {
		return start(state.StartNow, "a person approved starting now")
	}
	if rs.Phase == state.PhaseScheduled && now.Before(rs.ScheduledAt) {
		return Admit{}
	}
	if rs.Phase == state.PhaseAwaitingApproval {
		return Admit{} // no window was found; only start-now moves it
	}
	if ok, why := inWindow(now, ExpectedDuration(r)); ok {
		return start(state.StartInWindow, "inside its release window ("+why+")")
	}
	return Admit{Suggest: true}
}

// waitsForApproval reports whether a release waits for a person to
// approve the step it would enter.
func waitsForApproval(r *state.Release) bool {
	return r.WaitsForStepApproval() && r.Status.Exposure != nil && !r.Approved(r.Status.Exposure.Step)
}

// GateStart is pure: the start, with the first step's exposure estimate,
// or the hold that keeps it from starting until a person approves (nil
// when that hold is recorded already).
func GateStart(r *state.Release, start *state.StartRelease, e state.Exposure) state.ReleaseEvent {
	if h := gateStep(r, &e); h != nil {
		if cur := r.Status.Hold; cur != nil && *cur == *h {
			return nil
		}
		return &state.HoldRelease{On: state.OnRelease(r, h.Message), Hold: *h, Exposure: &e}
	}
	start.Exposure = &e
	return start
}

func firstStepText(r *state.Release) string {
	st := r.Status.Plan[0]
	if bg := r.BlueGreen(); bg != nil && bg.Preview != nil {
		return previewText(r, bg.Preview)
	}
	if st.Cohort != "" {
		return fmt.Sprintf("cohort %s first (step 1 of %d)", st.Cohort, len(r.Status.Plan))
	}
	return fmt.Sprintf("%d%% of traffic to %s (step 1 of %d)", st.Weight, r.Spec.Spec.To, len(r.Status.Plan))
}

// ScheduleFrom is pure: the event that follows a window suggestion.
func ScheduleFrom(r *state.Release, now time.Time, why string, s window.Suggestion, err error) state.ReleaseEvent {
	if err != nil {
		msg := fmt.Sprintf("outside its release window (%s) and no allowed start in the next %s (%v); a person may approve starting now: sluice release approve %s --start-now --reason TEXT",
			why, s.Horizon, err, r.Name())
		return &state.Await{On: state.OnRelease(r, msg), Hold: state.Hold{Kind: state.HoldNoWindow, Message: msg}}
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return errorEvent(r, fmt.Sprintf("the window suggestion cannot be recorded (%v)", err))
	}
	b := s.Best
	msg := fmt.Sprintf("outside its release window (%s); scheduled for %s in %s: %s", why,
		b.Start.In(locOf(s.Timezone)).Format("Mon 2006-01-02 15:04 MST"), b.Window, strings.Join(b.Reasons, "; "))
	return &state.Schedule{On: state.OnRelease(r, msg), At: b.Start, Suggestion: raw}
}

func locOf(name string) *time.Location {
	if l, err := time.LoadLocation(name); err == nil {
		return l
	}
	return time.UTC
}

// inWindowFor compiles a release's schedule into an InWindowFunc, or nil
// when its policy has none.
func inWindowFor(r *state.Release) InWindowFunc {
	sc := r.Status.PolicySpec.Schedule
	if sc == nil {
		return nil
	}
	sched, err := window.Compile(sc)
	if err != nil {
		return func(time.Time, time.Duration) (bool, string) { return false, "schedule: " + err.Error() }
	}
	return func(t time.Time, d time.Duration) (bool, string) {
		v := sched.Check(t, d)
		return v.OK, v.Reason
	}
}

// WindowSuggester runs the window optimizer for a release or a service.
type WindowSuggester interface {
	Suggest(ctx context.Context, st *state.State, service string, risk float64, duration time.Duration, now time.Time) (window.Suggestion, error)
}

// WindowAdvisor implements WindowSuggester with the policy's schedule,
// the traffic profile from Prometheus (the schedule's trafficQuery;
// without it, or without data, traffic does not count and the reasons say
// so), and this cluster's release outcomes.
type WindowAdvisor struct {
	Prom *Prometheus
}

// Suggest implements WindowSuggester.
func (a *WindowAdvisor) Suggest(ctx context.Context, st *state.State, service string, risk float64, duration time.Duration, now time.Time) (window.Suggestion, error) {
	pol, ok := st.PolicyFor(service)
	if !ok {
		return window.Suggestion{}, fmt.Errorf("%w: Service %q is covered by no ReleasePolicy", state.ErrNotFound, service)
	}
	spec := pol.Spec
	in := window.Input{Schedule: spec.Schedule, Duration: duration, Risk: risk, Outcomes: Outcomes(st, service)}
	if sc := spec.Schedule; sc != nil && sc.TrafficQuery != "" {
		if url := a.Prom.URL(&spec); url != "" {
			if q, err := window.NewPrometheusAPI(url); err == nil {
				if sched, err := window.Compile(sc); err == nil {
					lookback := time.Duration(sc.TrafficLookback)
					if lookback <= 0 {
						lookback = 21 * 24 * time.Hour
					}
					in.Traffic, _ = window.LoadProfile(ctx, window.NewPrometheusSource(q, sc.TrafficQuery, service), now, lookback, sched.Location())
				}
			}
		}
	}
	return window.Suggest(in, now)
}

// Outcomes are the ended releases of a service: when each started and
// whether it was promoted.
func Outcomes(st *state.State, service string) []window.Outcome {
	var out []window.Outcome
	for _, name := range st.ReleaseNames() {
		r := st.Releases[name]
		if r.Service() != service || r.Status.StartedAt.IsZero() || !r.Status.Phase.Terminal() {
			continue
		}
		out = append(out, window.Outcome{Start: r.Status.StartedAt, Success: r.Status.Phase == state.PhasePromoted})
	}
	return out
}
