package state

import (
	"fmt"
	"sort"
	"time"

	"github.com/sluicehq/sluice/config"
)

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

// Decision kinds of a train's record (it also records clear, pause,
// resume, rollback, abort and error).
const (
	// DecisionHealth: one health check attempt of a member.
	DecisionHealth DecisionKind = "health"
	// DecisionFail: a member failed; the joint rollback starts.
	DecisionFail DecisionKind = "fail"
	// DecisionUnwind: the joint rollback dealt with one member.
	DecisionUnwind DecisionKind = "unwind"
	// DecisionFinish: every member ended.
	DecisionFinish DecisionKind = "finish"
)

// HealthStatus is the state of a member's pre-traffic health check.
type HealthStatus struct {
	Passed    bool      `json:"passed"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"lastError,omitempty"`
	At        time.Time `json:"at,omitzero"`
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
	EndedAt       time.Time  `json:"endedAt,omitzero"`
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
func createTrain(t *tx, tr *config.ReleaseTrain, assessments map[string]*Assessment, gen config.Defaults) error {
	g, err := config.BuildTrainGraph(&tr.Spec, func(svc string) []string {
		if s, ok := t.cur().Services[svc]; ok {
			return s.Spec.DependsOn
		}
		return nil
	})
	if err != nil {
		return config.Errors{{Kind: config.KindReleaseTrain, Name: tr.Metadata.Name, Field: "spec.members", Message: err.Error()}}
	}
	req, err := config.ParseRequires(tr.Spec.Requires)
	if err != nil {
		return config.Errors{{Kind: config.KindReleaseTrain, Name: tr.Metadata.Name, Field: "spec.requires", Message: err.Error()}}
	}
	level := map[string]int{}
	for i, names := range g.Levels {
		for _, n := range names {
			level[n] = i
		}
	}
	train := &Train{Spec: *tr, Status: TrainStatus{Phase: TrainProgressing, Requires: req.Step, Lockstep: tr.Spec.Lockstep,
		Levels: g.Levels, CreatedAt: t.time}}
	for _, m := range tr.Spec.Members {
		name := m.MemberName()
		relName := MemberReleaseName(tr.Metadata.Name, name)
		if _, taken := t.cur().Releases[relName]; taken {
			return config.Errors{{Kind: config.KindReleaseTrain, Name: tr.Metadata.Name, Field: "spec.members",
				Message: fmt.Sprintf("member %q would create Release %q, which already exists", name, relName)}}
		}
		rel := &config.Release{APIVersion: config.APIVersion, Kind: config.KindRelease, Metadata: config.Metadata{Name: relName},
			Spec: config.ReleaseSpec{Service: m.Service, From: m.From, To: m.To, Policy: m.Policy, Change: m.Change, Gates: m.Gates}}
		r, err := createRelease(t, rel, assessments[relName], gen)
		if err != nil {
			return err
		}
		r.Status.Train, r.Status.Member = tr.Metadata.Name, name
		r.Status.Blocked = "waiting for train " + tr.Metadata.Name
		t.recordOn(r, DecisionCreate, fmt.Sprintf("member %s of train %s: %s %s -> %s under policy %s", name, tr.Metadata.Name, m.Service, r.Status.From, m.To, r.Status.Policy), nil)
		train.Status.Members = append(train.Status.Members, TrainMemberStatus{Name: name, Service: m.Service, Release: relName,
			Deps: g.Deps[name], Level: level[name]})
	}
	record(&train.Status.Decisions, t.decision(DecisionCreate,
		fmt.Sprintf("train of %d members in %d level(s): %s", len(train.Status.Members), len(g.Levels), levelsText(g.Levels))))
	t.putTrain(train)
	return nil
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
