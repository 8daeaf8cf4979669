package state

import (
	"fmt"
	"sort"
	"time"

	"github.com/sluicehq/sluice/config"
)

// CmdTrainUpdate moves a release train along.
const CmdTrainUpdate Type = "train.update"

// TrainPhase is where a train is.
type TrainPhase string

// Train phases. Progressing -> (Paused) -> Promoted; on a failure or a
// person's rollback/abort: RollingBack -> RolledBack | Aborted.
const (
	TrainProgressing TrainPhase = "Progressing"
	TrainPaused      TrainPhase = "Paused"
	TrainRollingBack TrainPhase = "RollingBack"
	TrainPromoted    TrainPhase = "Promoted"
	TrainRolledBack  TrainPhase = "RolledBack"
	TrainAborted     TrainPhase = "Aborted"
)

// Terminal reports whether the train has ended.
func (p TrainPhase) Terminal() bool {
	return p == TrainPromoted || p == TrainRolledBack || p == TrainAborted
}

// Train actions, each one Raft command.
const (
	// TrainHealth records one health check attempt of a member.
	TrainHealth Action = "health"
	// TrainClear lets a member's release start: what it depends on got
	// far enough and its health check passed.
	TrainClear Action = "clear"
	// TrainFail starts the joint rollback because a member failed.
	TrainFail Action = "fail"
	// TrainUnwind rolls back (or cancels, if it never started) one member.
	TrainUnwind Action = "unwind"
	// TrainFinish ends the train once every member has ended.
	TrainFinish Action = "finish"
	// TrainRollback and TrainAbort are a person's joint rollback.
	TrainRollback Action = "rollback"
	TrainAbort    Action = "abort"
	// TrainPause and TrainResume stop and restart the train and the
	// releases of its members.
	TrainPause  Action = "pause"
	TrainResume Action = "resume"
)

// HealthStatus is the state of a member's pre-traffic health check.
type HealthStatus struct {
	Passed    bool      `json:"passed"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"lastError,omitempty"`
	At        time.Time `json:"at,omitempty"`
}

// TrainMemberStatus is one member's place in the train.
type TrainMemberStatus struct {
	Name    string   `json:"name"`
	Service string   `json:"service"`
	Release string   `json:"release"`
	Deps    []string `json:"deps"`
	Level   int      `json:"level"`
	// Cleared is set when the member's release was let start.
	Cleared bool         `json:"cleared"`
	Health  HealthStatus `json:"health"`
	// Unwound is set once the joint rollback has dealt with the member.
	Unwound bool `json:"unwound"`
}

// TrainStatus is a train's replicated progress.
type TrainStatus struct {
	Phase    TrainPhase          `json:"phase"`
	Requires int                 `json:"requires"` // 0 = promoted, else the 1-based step
	Lockstep bool                `json:"lockstep"`
	Members  []TrainMemberStatus `json:"members"`
	Levels   [][]string          `json:"levels"`
	// FailedMember and Reason say why the train rolled back.
	FailedMember string `json:"failedMember,omitempty"`
	Reason       string `json:"reason,omitempty"`
	// Abort is set when a person aborted (the train ends Aborted).
	Abort bool `json:"abort,omitempty"`
	// RollbackOrder lists members as the joint rollback dealt with them.
	RollbackOrder []string   `json:"rollbackOrder,omitempty"`
	Decisions     []Decision `json:"decisions"`
	CreatedAt     time.Time  `json:"createdAt"`
	EndedAt       time.Time  `json:"endedAt,omitempty"`
}

// Train is a release train and its progress.
type Train struct {
	Spec   config.ReleaseTrain `json:"spec"`
	Status TrainStatus         `json:"status"`
}

// Name returns the train's name.
func (t *Train) Name() string { return t.Spec.Metadata.Name }

// Member returns a member's status by name.
func (t *Train) Member(name string) (*TrainMemberStatus, bool) {
	for i := range t.Status.Members {
		if t.Status.Members[i].Name == name {
			return &t.Status.Members[i], true
		}
	}
	return nil, false
}

func (t *Train) clone() *Train {
	c := *t
	c.Status.Members = append([]TrainMemberStatus(nil), t.Status.Members...)
	c.Status.Decisions = append([]Decision(nil), t.Status.Decisions...)
	c.Status.RollbackOrder = append([]string(nil), t.Status.RollbackOrder...)
	return &c
}

// TrainUpdate is the payload of CmdTrainUpdate.
type TrainUpdate struct {
	Name        string     `json:"name"`
	Action      Action     `json:"action"`
	ExpectPhase TrainPhase `json:"expectPhase"`
	// Member is the member the action is about (health, clear, fail,
	// unwind).
	Member  string        `json:"member,omitempty"`
	Health  *HealthStatus `json:"health,omitempty"`
	Message string        `json:"message"`
}

// MemberReleaseName is the name of the release a train creates for a
// member: "<train>-<member>", shortened to a DNS label.
func MemberReleaseName(train, member string) string {
	n := train + "-" + member
	if len(n) > 63 {
		n = n[:63]
	}
	for len(n) > 0 && n[len(n)-1] == '-' {
		n = n[:len(n)-1]
	}
	return n
}

// createTrain orders the members, creates one Pending release per member
// (blocked until the train clears it) and reserves their services.
func createTrain(next *State, tr *config.ReleaseTrain, index uint64, c Command, assessments map[string]*Assessment) (*Train, error) {
	g, err := config.BuildTrainGraph(&tr.Spec, func(svc string) []string {
		if s, ok := next.Services[svc]; ok {
			return s.Spec.DependsOn
		}
		return nil
	})
	if err != nil {
		return nil, config.Errors{{Kind: config.KindReleaseTrain, Name: tr.Metadata.Name, Field: "spec.members", Message: err.Error()}}
	}
	req, err := config.ParseRequires(tr.Spec.Requires)
	if err != nil {
		return nil, config.Errors{{Kind: config.KindReleaseTrain, Name: tr.Metadata.Name, Field: "spec.requires", Message: err.Error()}}
	}
	level := map[string]int{}
	for i, names := range g.Levels {
		for _, n := range names {
			level[n] = i
		}
	}
	t := &Train{Spec: *tr, Status: TrainStatus{Phase: TrainProgressing, Requires: req.Step, Lockstep: tr.Spec.Lockstep,
		Levels: g.Levels, CreatedAt: c.Time}}
	for _, m := range tr.Spec.Members {
		name := m.MemberName()
		relName := MemberReleaseName(tr.Metadata.Name, name)
		if _, taken := next.Releases[relName]; taken {
			return nil, config.Errors{{Kind: config.KindReleaseTrain, Name: tr.Metadata.Name, Field: "spec.members",
				Message: fmt.Sprintf("member %q would create Release %q, which already exists", name, relName)}}
		}
		rel := &config.Release{APIVersion: config.APIVersion, Kind: config.KindRelease, Metadata: config.Metadata{Name: relName},
			Spec: config.ReleaseSpec{Service: m.Service, From: m.From, To: m.To, Policy: m.Policy, Change: m.Change, Gates: m.Gates}}
		r, err := createRelease(next, rel, c.Time, assessments[relName])
		if err != nil {
			return nil, err
		}
		r.Status.Train, r.Status.Member = tr.Metadata.Name, name
		r.Status.Blocked = "waiting for train " + tr.Metadata.Name
		r.Status.Decisions = []Decision{{Seq: 1, Time: c.Time, Actor: c.Actor, Action: "create", Phase: PhasePending, Step: -1, Index: index,
			Message: fmt.Sprintf("member %s of train %s: %s %s -> %s under policy %s", name, tr.Metadata.Name, m.Service, r.Status.From, m.To, r.Status.Policy)}}
		next.Releases[relName] = r
		next.Active[m.Service] = relName
		t.Status.Members = append(t.Status.Members, TrainMemberStatus{Name: name, Service: m.Service, Release: relName,
			Deps: g.Deps[name], Level: level[name]})
	}
	t.Status.Decisions = []Decision{{Seq: 1, Time: c.Time, Actor: c.Actor, Action: "create", Index: index,
		Message: fmt.Sprintf("train of %d members in %d level(s): %s", len(t.Status.Members), len(g.Levels), levelsText(g.Levels))}}
	return t, nil
}

func levelsText(levels [][]string) string {
	s := ""
	for i, l := range levels {
		if i > 0 {
			s += " -> "
		}
		if len(l) == 1 {
			s += l[0]
		} else {
			s += "{" + fmt.Sprint(l) + "}"
		}
	}
	return s
}

func (s *State) cloneTrains(next *State) { next.Trains = cloneMap(s.Trains) }

// ReleaseTrain implements config.Catalog.
func (s *State) ReleaseTrain(name string) (*config.ReleaseTrain, bool) {
	t, ok := s.Trains[name]
	if !ok {
		return nil, false
	}
	return &t.Spec, true
}

// TrainNames returns every train name, sorted.
func (s *State) TrainNames() []string { return sortedKeys(s.Trains) }

func applyTrainUpdate(s *State, index uint64, c Command) (*State, any, error) {
	var u TrainUpdate
	if err := decodePayload(c, &u); err != nil {
		return s, nil, err
	}
	cur, ok := s.Trains[u.Name]
	if !ok {
		return s, nil, fmt.Errorf("%w: ReleaseTrain %q", ErrNotFound, u.Name)
	}
	if cur.Status.Phase != u.ExpectPhase {
		return s, nil, fmt.Errorf("%w: ReleaseTrain %q is %s, the decision expected %s", ErrConflict, u.Name, cur.Status.Phase, u.ExpectPhase)
	}
	t := cur.clone()
	next := s.shallow()
	s.cloneTrains(next)
	s.cloneReleases(next)
	next.Trains[u.Name] = t
	ts := &t.Status
	now := c.Time
	bad := func() error {
		return fmt.Errorf("%w: cannot %s ReleaseTrain %q while it is %s", ErrBadTransition, u.Action, u.Name, ts.Phase)
	}
	var m *TrainMemberStatus
	if u.Member != "" {
		if m, ok = t.Member(u.Member); !ok {
			return s, nil, fmt.Errorf("%w: ReleaseTrain %q has no member %q", ErrNotFound, u.Name, u.Member)
		}
	}
	// rel returns a member's release, copied for change.
	rel := func(m *TrainMemberStatus) *Release {
		r := next.Releases[m.Release].clone()
		next.Releases[m.Release] = r
		return r
	}
	switch u.Action {
	case TrainHealth:
		if ts.Phase != TrainProgressing || m == nil || u.Health == nil || m.Cleared {
			return s, nil, bad()
		}
		m.Health = *u.Health
	case TrainClear:
		if ts.Phase != TrainProgressing || m == nil || m.Cleared {
			return s, nil, bad()
		}
		m.Cleared = true
		r := rel(m)
		r.Status.Blocked = ""
		r.Status.Decisions = append(r.Status.Decisions, Decision{Seq: len(r.Status.Decisions) + 1, Time: now, Actor: c.Actor,
			Action: "clear", Phase: r.Status.Phase, Step: r.Status.Step, Index: index, Message: u.Message})
	case TrainFail, TrainRollback, TrainAbort:
		if ts.Phase != TrainProgressing && ts.Phase != TrainPaused {
			return s, nil, bad()
		}
		ts.Phase = TrainRollingBack
		ts.Reason = u.Message
		ts.FailedMember = u.Member
		ts.Abort = u.Action == TrainAbort
	case TrainUnwind:
		if ts.Phase != TrainRollingBack || m == nil || m.Unwound {
			return s, nil, bad()
		}
		r := rel(m)
		m.Unwound = true
		ts.RollbackOrder = append(ts.RollbackOrder, m.Name)
		switch r.Status.Phase {
		case PhasePending, PhaseAwaitingApproval, PhaseScheduled:
			r.Status.Blocked = ""
			finish(next, r, PhaseAborted, r.Status.From, 0, now, "cancelled: "+u.Message)
		case PhaseProgressing, PhasePaused, PhasePromoted:
			finish(next, r, PhaseRolledBack, r.Status.From, 0, now, "joint rollback: "+u.Message)
		}
		r.Status.Decisions = append(r.Status.Decisions, Decision{Seq: len(r.Status.Decisions) + 1, Time: now, Actor: c.Actor,
			Action: ActRollback, Phase: r.Status.Phase, Step: r.Status.Step, Index: index, Message: r.Status.Reason})
	case TrainFinish:
		for _, mm := range ts.Members {
			if r := next.Releases[mm.Release]; r == nil || !r.Status.Phase.Terminal() {
				return s, nil, fmt.Errorf("%w: member %s of ReleaseTrain %q has not ended", ErrBadTransition, mm.Name, u.Name)
			}
		}
		switch {
		case ts.Phase == TrainProgressing:
			ts.Phase = TrainPromoted
		case ts.Abort:
			ts.Phase = TrainAborted
		case ts.Phase == TrainRollingBack:
			ts.Phase = TrainRolledBack
		default:
			return s, nil, bad()
		}
		ts.EndedAt = now
		for _, mm := range ts.Members {
			if next.Active[mm.Service] == mm.Release {
				delete(next.Active, mm.Service)
			}
		}
	case TrainPause, TrainResume:
		want, to, relFrom, relTo := TrainProgressing, TrainPaused, PhaseProgressing, PhasePaused
		if u.Action == TrainResume {
			want, to, relFrom, relTo = TrainPaused, TrainProgressing, PhasePaused, PhaseProgressing
		}
		if ts.Phase != want {
			return s, nil, bad()
		}
		ts.Phase = to
		for i := range ts.Members {
			r := next.Releases[ts.Members[i].Release]
			if r == nil || r.Status.Phase != relFrom {
				continue
			}
			r = rel(&ts.Members[i])
			if u.Action == TrainPause {
				r.Status.PausedAt = now
			} else {
				if r.Status.Acked {
					r.Status.BakeUntil = r.Status.BakeUntil.Add(now.Sub(r.Status.PausedAt))
				}
				r.Status.NextAnalysisAt, r.Status.PausedAt = now, time.Time{}
			}
			r.Status.Phase = relTo
			r.Status.Decisions = append(r.Status.Decisions, Decision{Seq: len(r.Status.Decisions) + 1, Time: now, Actor: c.Actor,
				Action: u.Action, Phase: relTo, Step: r.Status.Step, Weight: r.Status.Weight, Index: index, Message: "train " + string(u.Action) + ": " + u.Message})
		}
	default:
		return s, nil, fmt.Errorf("%w: unknown train action %q", ErrBadPayload, u.Action)
	}
	ts.Decisions = append(ts.Decisions, Decision{Seq: len(ts.Decisions) + 1, Time: now, Actor: c.Actor, Action: u.Action,
		Index: index, Message: memberPrefix(u.Member) + u.Message})
	return next, ts.Phase, nil
}

func memberPrefix(m string) string {
	if m == "" {
		return ""
	}
	return m + ": "
}

// TrainMembersByLevel returns member names from the last level to the
// first, names in reverse order within a level: the joint rollback order
// (dependents before what they depend on).
func TrainMembersByLevel(t *Train) []string {
	var out []string
	for i := len(t.Status.Levels) - 1; i >= 0; i-- {
		l := append([]string(nil), t.Status.Levels[i]...)
		sort.Sort(sort.Reverse(sort.StringSlice(l)))
		out = append(out, l...)
	}
	return out
}
