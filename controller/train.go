package controller

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// TrainNext is what to do about a train: propose Event, or run the
// health check of member Check.
type TrainNext struct {
	Event state.TrainEvent
	Check string
}

// onMember is the head of an event about a member of t as it is now.
func onMember(t *state.Train, member, msg string) state.OnMember {
	return state.OnMember{OnTrain: state.OnTrainNow(t, msg), Member: member}
}

func next(e state.TrainEvent) TrainNext { return TrainNext{Event: e} }

// depsReady reports whether everything member m depends on got as far as
// the train requires: promoted, or (requires step:N) at least at step N
// with that step ACKed.
func depsReady(t *state.Train, st *state.State, m *state.TrainMemberStatus) (bool, string) {
	for _, d := range m.Deps {
		dm, _ := t.Member(d)
		r := st.Releases[dm.Release]
		if r == nil {
			return false, d + " has no release"
		}
		switch {
		case r.Status.Phase == state.PhasePromoted:
		case t.Status.Requires > 0 && r.Status.Step+1 >= t.Status.Requires &&
			(r.Status.Step+1 > t.Status.Requires || r.Status.Acked) && !r.Status.Phase.Terminal():
		default:
			return false, fmt.Sprintf("waiting for %s (%s, step %d)", d, r.Status.Phase, r.Status.Step+1)
		}
	}
	return true, ""
}

// DecideTrain is the pure step of a train: from its state and its members'
// releases, the next command or the member whose health check is due.
//
//   - A member whose release rolled back, was aborted or started a
//     gradual rollback fails the train: the joint rollback starts.
//   - A member starts (is cleared) once its dependencies are far enough
//     and its health check passed; members of one level start together.
//   - During the joint rollback, members that never started are
//     cancelled first, then those that moved traffic are rolled back one
//     command at a time, dependents before what they depend on.
//   - Once every member has ended, the train finishes.
func DecideTrain(t *state.Train, st *state.State, now time.Time) TrainNext {
	ts := &t.Status
	switch ts.Phase {
	case state.TrainProgressing:
		allPromoted := true
		for i := range ts.Members {
			m := &ts.Members[i]
			r := st.Releases[m.Release]
			if r == nil {
				continue
			}
			// A member rolling back gradually has failed too: its
			// peers unwind (at once) while it steps back on its own.
			if r.Status.Phase == state.PhaseRolledBack || r.Status.Phase == state.PhaseAborted || r.Status.Phase == state.PhaseRollingBack {
				return next(&state.FailTrain{OnMember: onMember(t, m.Name,
					fmt.Sprintf("member %s %s: %s", m.Name, strings.ToLower(string(r.Status.Phase)), r.Status.Reason))})
			}
			if r.Status.Phase != state.PhasePromoted {
				allPromoted = false
			}
		}
		if allPromoted {
			return next(&state.FinishTrain{OnTrain: state.OnTrainNow(t, "every member promoted")})
		}
		for _, level := range ts.Levels {
			for _, name := range level {
				m, _ := t.Member(name)
				if m.Cleared {
					continue
				}
				if ok, _ := depsReady(t, st, m); !ok {
					continue
				}
				hc := memberHealthCheck(t, name)
				switch {
				case hc == nil || m.Health.Passed:
					return next(&state.ClearMember{OnMember: onMember(t, name, clearMessage(t, m, hc != nil))})
				case m.Health.Attempts > hc.Retries:
					return next(&state.FailTrain{OnMember: onMember(t, name,
						fmt.Sprintf("member %s health check failed %d times: %s", name, m.Health.Attempts, m.Health.LastError))})
				case m.Health.Attempts == 0 || !now.Before(m.Health.At.Add(hcInterval(hc.Interval.D()))):
					return TrainNext{Check: name}
				}
			}
		}
	case state.TrainRollingBack:
		// Cancel members that never moved traffic, then roll back the
		// others, dependents first.
		for _, name := range state.TrainMembersByLevel(t) {
			m, _ := t.Member(name)
			if r := st.Releases[m.Release]; !m.Unwound && r != nil && r.Status.Phase.Waiting() {
				return next(&state.UnwindMember{OnMember: onMember(t, name, "cancelled before it started: "+ts.Reason)})
			}
		}
		for _, name := range state.TrainMembersByLevel(t) {
			m, _ := t.Member(name)
			r := st.Releases[m.Release]
			if m.Unwound || r == nil {
				continue
			}
			switch r.Status.Phase {
			case state.PhaseProgressing, state.PhasePaused, state.PhasePromoted:
				return next(&state.UnwindMember{OnMember: onMember(t, name, "train "+t.Name()+": "+ts.Reason)})
			}
		}
		for i := range ts.Members {
			if r := st.Releases[ts.Members[i].Release]; r != nil && !r.Status.Phase.Terminal() {
				return TrainNext{} // e.g. a member still rolling back on its own
			}
		}
		return next(&state.FinishTrain{OnTrain: state.OnTrainNow(t, "every member rolled back or cancelled: "+ts.Reason)})
	}
	return TrainNext{}
}

func clearMessage(t *state.Train, m *state.TrainMemberStatus, checked bool) string {
	msg := "start"
	if len(m.Deps) > 0 {
		req := "promoted"
		if t.Status.Requires > 0 {
			req = fmt.Sprintf("at step %d", t.Status.Requires)
		}
		msg += fmt.Sprintf(": %s %s", strings.Join(m.Deps, ", "), req)
	}
	if checked {
		msg += fmt.Sprintf("; health check passed (attempt %d)", m.Health.Attempts)
	}
	return msg
}

func hcInterval(d time.Duration) time.Duration {
	if d <= 0 {
		return 2 * time.Second
	}
	return d
}

// LockstepHold says whether a train member must wait for its peers (the
// members of its level) before leaving its current step: with lockstep,
// none moves past a step before every peer has reached it.
func LockstepHold(t *state.Train, st *state.State, r *state.Release) string {
	if t == nil || !t.Status.Lockstep {
		return ""
	}
	me, ok := t.Member(r.Status.Member)
	if !ok {
		return ""
	}
	var behind []string
	for _, name := range t.Status.Levels[me.Level] {
		if name == me.Name {
			continue
		}
		pm, _ := t.Member(name)
		p := st.Releases[pm.Release]
		if p == nil || p.Status.Phase.Terminal() {
			continue
		}
		switch {
		case p.Status.Step < 0:
			behind = append(behind, name+" (not started)")
		case p.Status.Step < r.Status.Step || (p.Status.Step == r.Status.Step && !p.Status.Acked):
			behind = append(behind, fmt.Sprintf("%s (step %d)", name, p.Status.Step+1))
		}
	}
	if len(behind) == 0 {
		return ""
	}
	return "lockstep: waiting for " + strings.Join(behind, ", ")
}

// memberHealthCheck returns a member's health check spec, if any.
func memberHealthCheck(t *state.Train, member string) *config.HealthCheck {
	for _, m := range t.Spec.Spec.Members {
		if m.MemberName() == member {
			return m.HealthCheck
		}
	}
	return nil
}
