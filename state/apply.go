package state

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"

	"github.com/sluicehq/sluice/config"
)

// Apply applies one command to s at Raft log index and returns the new
// state and a result for the proposer. It is deterministic: no clock, no
// randomness, no I/O. On error the returned state is s, unchanged. When a
// command changes nothing, s is returned as is and its Index stays, so an
// idempotent re-apply does not bump the xDS version.
//
// Apply only decodes the command into the typed change it carries
// (decode) and lets it apply itself to a copy-on-write transaction.
func Apply(s *State, index uint64, c Command) (*State, any, error) {
	ch, err := decode(c)
	if err != nil {
		return s, nil, err
	}
	t := newTx(s, index, c)
	res, err := ch.apply(t)
	if err != nil {
		return s, nil, err
	}
	if t.next == nil {
		return s, res, nil
	}
	notify(t)
	t.next.Index = index
	return t.next, res, nil
}

func (p *ApplyPayload) apply(t *tx) (any, error) {
	s := t.s
	if !p.Defaults.Known() {
		return nil, fmt.Errorf("%w: apply names policy defaults generation %d; this binary knows up to %d",
			ErrUnknownCommand, p.Defaults, config.CurrentDefaults)
	}
	gen := p.Defaults.Of()
	if err := config.Check(p.Documents, s); err != nil {
		return nil, err
	}
	if err := CheckTraffic(s, p.Documents, p.Force); err != nil {
		return nil, err
	}
	declared, err := DeclaredReleases(s, p.Documents, t.time)
	if err != nil {
		return nil, err
	}
	var res ApplyResult
	var releases []*config.Release
	var trains []*config.ReleaseTrain
	for _, d := range p.Documents {
		id := string(d.Kind) + "/" + d.Name
		existed, same, err := p.put(t, d, &res)
		if err != nil {
			return nil, err
		}
		if !existed {
			// Releases and trains are created after the other documents
			// of the request (Kinds order), so they see its services.
			if d.Release != nil {
				releases = append(releases, d.Release)
			}
			if d.ReleaseTrain != nil {
				trains = append(trains, d.ReleaseTrain)
			}
		}
		switch {
		case !existed:
			res.Created = append(res.Created, id)
		case !same:
			res.Updated = append(res.Updated, id)
		default:
			res.Unchanged = append(res.Unchanged, id)
		}
	}
	for _, rel := range declared {
		r, err := createRelease(t, rel, p.Assessments[rel.Metadata.Name], gen)
		if err != nil {
			return nil, err
		}
		t.recordOn(r, DecisionCreate, fmt.Sprintf("version %s declared by %s: release of %s %s -> %s created under policy %s",
			rel.Spec.To, t.actor, rel.Spec.Service, r.Status.From, rel.Spec.To, r.Status.Policy), nil)
		res.Started = append(res.Started, rel.Metadata.Name)
	}
	for _, rel := range releases {
		r, err := createRelease(t, rel, p.Assessments[rel.Metadata.Name], gen)
		if err != nil {
			return nil, err
		}
		t.recordOn(r, DecisionCreate, fmt.Sprintf("release of %s %s -> %s created under policy %s", rel.Spec.Service, r.Status.From, rel.Spec.To, r.Status.Policy), nil)
	}
	for _, tr := range trains {
		if err := createTrain(t, tr, p.Assessments, gen); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// put stores one document, reporting whether it existed and is the same.
func (p *ApplyPayload) put(t *tx, d config.Document, res *ApplyResult) (existed, same bool, err error) {
	s := t.s
	id := string(d.Kind) + "/" + d.Name
	switch d.Kind {
	case config.KindService:
		if d.Service == nil {
			return false, false, fmt.Errorf("%w: %s has no body", ErrBadPayload, id)
		}
		old, ok := s.Services[d.Name]
		if ok && reflect.DeepEqual(old, d.Service) {
			return true, true, nil
		}
		if err := checkServiceUpdate(s, d.Service); err != nil {
			return false, false, err
		}
		t.services()[d.Name] = d.Service
		if noteService(t, p.Documents, old, d.Service) {
			res.Forced = append(res.Forced, d.Name)
		}
		return ok, false, nil
	case config.KindReleasePolicy:
		if d.ReleasePolicy == nil {
			return false, false, fmt.Errorf("%w: %s has no body", ErrBadPayload, id)
		}
		old, ok := s.Policies[d.Name]
		if ok && reflect.DeepEqual(old, d.ReleasePolicy) {
			return true, true, nil
		}
		t.policies()[d.Name] = d.ReleasePolicy
		return ok, false, nil
	case config.KindRelease:
		if d.Release == nil {
			return false, false, fmt.Errorf("%w: %s has no body", ErrBadPayload, id)
		}
		existed, same = releaseUnchanged(s, d.Release)
		return existed, same, nil
	case config.KindReleaseTrain:
		if d.ReleaseTrain == nil {
			return false, false, fmt.Errorf("%w: %s has no body", ErrBadPayload, id)
		}
		old, ok := s.Trains[d.Name]
		return ok, ok && reflect.DeepEqual(old.Spec, *d.ReleaseTrain), nil
	case config.KindNotifier:
		if d.Notifier == nil {
			return false, false, fmt.Errorf("%w: %s has no body", ErrBadPayload, id)
		}
		return putNotifier(t, d.Notifier)
	}
	return false, false, fmt.Errorf("%w: kind %q cannot be applied", ErrBadPayload, d.Kind)
}

func (p *DeletePayload) apply(t *tx) (any, error) {
	s := t.s
	if err := config.CheckDelete(p.Kind, p.Name, s); err != nil {
		return nil, err
	}
	switch p.Kind {
	case config.KindService:
		if _, ok := s.Services[p.Name]; !ok {
			return nil, fmt.Errorf("%w: Service %q", ErrNotFound, p.Name)
		}
		delete(t.services(), p.Name)
		dropEndpoints(t, p.Name)
		t.forgetServed(p.Name)
	case config.KindReleasePolicy:
		if _, ok := s.Policies[p.Name]; !ok {
			return nil, fmt.Errorf("%w: ReleasePolicy %q", ErrNotFound, p.Name)
		}
		delete(t.policies(), p.Name)
	case config.KindReleaseTrain:
		tr, ok := s.Trains[p.Name]
		if !ok {
			return nil, fmt.Errorf("%w: ReleaseTrain %q", ErrNotFound, p.Name)
		}
		if !tr.Status.Phase.Terminal() {
			return nil, fmt.Errorf("%w: ReleaseTrain %q is %s; abort it before deleting it", ErrBadTransition, p.Name, tr.Status.Phase)
		}
		delete(t.trains(), p.Name)
	case config.KindRelease:
		r, ok := s.Releases[p.Name]
		if !ok {
			return nil, fmt.Errorf("%w: Release %q", ErrNotFound, p.Name)
		}
		if !r.Status.Phase.Terminal() {
			return nil, fmt.Errorf("%w: Release %q is %s; abort it before deleting it", ErrBadTransition, p.Name, r.Status.Phase)
		}
		if tr, ok := s.Trains[r.Status.Train]; ok && !tr.Status.Phase.Terminal() {
			return nil, fmt.Errorf("%w: Release %q belongs to ReleaseTrain %q, which is %s", ErrBadTransition, p.Name, tr.Name(), tr.Status.Phase)
		}
		delete(t.releases(), p.Name)
	case config.KindNotifier:
		if err := deleteNotifier(t, p.Name); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: kind %q cannot be deleted", ErrNotFound, p.Kind)
	}
	return nil, nil
}

func (m *Member) apply(t *tx) (any, error) {
	if m.ID == "" {
		return nil, fmt.Errorf("%w: member without id", ErrBadPayload)
	}
	if old, ok := t.s.Members[m.ID]; ok && *old == *m {
		return nil, nil
	}
	t.members()[m.ID] = m
	return nil, nil
}

func (p *RemoveMemberPayload) apply(t *tx) (any, error) {
	if _, ok := t.s.Members[p.ID]; !ok {
		return nil, nil
	}
	delete(t.members(), p.ID)
	return nil, nil
}

// WriteSnapshot serialises the whole state.
func WriteSnapshot(s *State, w io.Writer) error {
	if err := json.NewEncoder(w).Encode(s); err != nil {
		return fmt.Errorf("write state snapshot: %w", err)
	}
	return nil
}

// ReadSnapshot restores a state written by WriteSnapshot (of this format
// or of format 1, see legacy.go).
func ReadSnapshot(r io.Reader) (*State, error) {
	s := New()
	if err := json.NewDecoder(r).Decode(s); err != nil {
		return nil, fmt.Errorf("read state snapshot: %w", err)
	}
	s.normalize()
	return s, nil
}
