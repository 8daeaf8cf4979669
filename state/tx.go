package state

import (
	"time"

	"github.com/sluicehq/sluice/config"
)

// tx is one command being applied: the state before it, the copy being
// changed (created on the first write), and the command's index, time
// and actor. Each map and object of the copy is cloned at most once, the
// first time it is written, so everything unchanged stays shared with the
// state before (copy on write).
type tx struct {
	s     *State
	next  *State
	index uint64
	time  time.Time
	actor string

	own      map[string]bool // maps next owns: "services", "releases", ...
	released map[string]bool // releases next owns
	trained  map[string]bool // trains next owns
	statused map[string]bool // service statuses next owns
	boxed    map[string]bool // outboxes next owns
}

func newTx(s *State, index uint64, c Command) *tx {
	return &tx{s: s, index: index, time: c.Time, actor: c.Actor,
		own: map[string]bool{}, released: map[string]bool{}, trained: map[string]bool{}, statused: map[string]bool{}, boxed: map[string]bool{}}
}

// cur is the state as changed so far (read only).
func (t *tx) cur() *State {
	if t.next != nil {
		return t.next
	}
	return t.s
}

// write returns the copy being changed.
func (t *tx) write() *State {
	if t.next == nil {
		t.next = t.s.shallow()
	}
	return t.next
}

// replace makes s the copy being changed (a change that builds its own).
func (t *tx) replace(s *State) { t.next = s }

// owned clones *m into the copy the first time it is written.
func owned[V any](t *tx, key string, m *map[string]V) map[string]V {
	if !t.own[key] {
		*m = cloneMap(*m)
		t.own[key] = true
	}
	return *m
}

func (t *tx) services() map[string]*config.Service {
	w := t.write()
	return owned(t, "services", &w.Services)
}

func (t *tx) policies() map[string]*config.ReleasePolicy {
	w := t.write()
	return owned(t, "policies", &w.Policies)
}

func (t *tx) members() map[string]*Member {
	w := t.write()
	return owned(t, "members", &w.Members)
}

func (t *tx) releases() map[string]*Release {
	w := t.write()
	return owned(t, "releases", &w.Releases)
}

func (t *tx) active() map[string]string {
	w := t.write()
	return owned(t, "active", &w.Active)
}

func (t *tx) trains() map[string]*Train {
	w := t.write()
	return owned(t, "trains", &w.Trains)
}

// ownedItem clones m[name] into the copy the first time it is written.
func ownedItem[V any](m map[string]V, own map[string]bool, name string, clone func(V) V) V {
	if !own[name] {
		m[name] = clone(m[name])
		own[name] = true
	}
	return m[name]
}

// release returns release name, copied for change.
func (t *tx) release(name string) *Release {
	return ownedItem(t.releases(), t.released, name, (*Release).clone)
}

// putRelease adds a new release.
func (t *tx) putRelease(r *Release) {
	t.releases()[r.Name()] = r
	t.released[r.Name()] = true
}

// train returns train name, copied for change.
func (t *tx) train(name string) *Train {
	return ownedItem(t.trains(), t.trained, name, (*Train).clone)
}

func (t *tx) putTrain(tr *Train) {
	t.trains()[tr.Name()] = tr
	t.trained[tr.Name()] = true
}

// serviceStatus returns a service's status, copied (or created) for change.
func (t *tx) serviceStatus(name string) *ServiceStatus {
	w := t.write()
	return ownedItem(owned(t, "serviceStatus", &w.ServiceStatus), t.statused, name, func(old *ServiceStatus) *ServiceStatus {
		c := &ServiceStatus{}
		if old != nil {
			*c = *old
			c.Decisions = append([]Decision(nil), old.Decisions...)
		}
		return c
	})
}

// decision is the one constructor of Decision records: the command's
// time, actor and index, and what was decided.
func (t *tx) decision(kind DecisionKind, msg string) Decision {
	return Decision{Time: t.time, Actor: t.actor, Action: kind, Index: t.index, Message: msg}
}

// record appends a decision to a record, numbering it.
func record(list *[]Decision, d Decision) {
	d.Seq = len(*list) + 1
	*list = append(*list, d)
}

// recordOn records a decision on a release, with the release's phase,
// step and weight after it.
func (t *tx) recordOn(r *Release, kind DecisionKind, msg string, verdict []byte) {
	d := t.decision(kind, msg)
	d.Phase, d.Step, d.Weight, d.Verdict = r.Status.Phase, r.Status.Step, r.Status.Weight, verdict
	record(&r.Status.Decisions, d)
}
