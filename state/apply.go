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
func Apply(s *State, index uint64, c Command) (*State, any, error) {
	var (
		next *State
		res  any
		err  error
	)
	switch c.Type {
	case CmdApply:
		next, res, err = applyDocuments(s, index, c)
	case CmdDelete:
		next, res, err = applyDelete(s, c)
	case CmdSetMember:
		next, res, err = applySetMember(s, c)
	case CmdRemoveMember:
		next, res, err = applyRemoveMember(s, c)
	case CmdReleaseUpdate:
		next, res, err = applyReleaseUpdate(s, index, c)
	case CmdTrainUpdate:
		next, res, err = applyTrainUpdate(s, index, c)
	case CmdRiskModel:
		next, res, err = applyRiskModel(s, c)
	default:
		return s, nil, fmt.Errorf("%w: %q", ErrUnknownCommand, c.Type)
	}
	if err != nil {
		return s, nil, err
	}
	if next != s {
		next.Index = index
	}
	return next, res, nil
}

func applyDocuments(s *State, index uint64, c Command) (*State, any, error) {
	var p ApplyPayload
	if err := decodePayload(c, &p); err != nil {
		return s, nil, err
	}
	if err := config.Check(p.Documents, s); err != nil {
		return s, nil, err
	}
	next := s.shallow()
	next.Services = cloneMap(s.Services)
	next.Policies = cloneMap(s.Policies)
	s.cloneReleases(next)
	s.cloneTrains(next)
	var res ApplyResult
	var pendingReleases []*config.Release
	var pendingTrains []*config.ReleaseTrain
	for _, d := range p.Documents {
		id := string(d.Kind) + "/" + d.Name
		var existed, same bool
		switch d.Kind {
		case config.KindService:
			if d.Service == nil {
				return s, nil, fmt.Errorf("%w: %s has no body", ErrBadPayload, id)
			}
			old, ok := s.Services[d.Name]
			existed, same = ok, ok && reflect.DeepEqual(old, d.Service)
			if !same {
				if err := checkServiceUpdate(s, d.Service); err != nil {
					return s, nil, err
				}
				next.Services[d.Name] = d.Service
			}
		case config.KindReleasePolicy:
			if d.ReleasePolicy == nil {
				return s, nil, fmt.Errorf("%w: %s has no body", ErrBadPayload, id)
			}
			old, ok := s.Policies[d.Name]
			existed, same = ok, ok && reflect.DeepEqual(old, d.ReleasePolicy)
			if !same {
				next.Policies[d.Name] = d.ReleasePolicy
			}
		case config.KindRelease:
			if d.Release == nil {
				return s, nil, fmt.Errorf("%w: %s has no body", ErrBadPayload, id)
			}
			existed, same = releaseUnchanged(s, d.Release)
			if !existed {
				// Releases are created after the other documents of the
				// request (Kinds order), so they see its services.
				pendingReleases = append(pendingReleases, d.Release)
			}
		case config.KindReleaseTrain:
			if d.ReleaseTrain == nil {
				return s, nil, fmt.Errorf("%w: %s has no body", ErrBadPayload, id)
			}
			old, ok := s.Trains[d.Name]
			existed, same = ok, ok && reflect.DeepEqual(old.Spec, *d.ReleaseTrain)
			if !existed {
				pendingTrains = append(pendingTrains, d.ReleaseTrain)
			}
		default:
			return s, nil, fmt.Errorf("%w: kind %q cannot be applied", ErrBadPayload, d.Kind)
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
	for _, rel := range pendingReleases {
		r, err := createRelease(next, rel, c.Time, p.Assessments[rel.Metadata.Name])
		if err != nil {
			return s, nil, err
		}
		r.Status.Decisions = []Decision{{Seq: 1, Time: c.Time, Actor: c.Actor, Action: "create",
			Phase: PhasePending, Step: -1, Index: index,
			Message: fmt.Sprintf("release of %s %s -> %s created under policy %s", rel.Spec.Service, r.Status.From, rel.Spec.To, r.Status.Policy)}}
		next.Releases[rel.Metadata.Name] = r
		next.Active[rel.Spec.Service] = rel.Metadata.Name
	}
	for _, tr := range pendingTrains {
		t, err := createTrain(next, tr, index, c, p.Assessments)
		if err != nil {
			return s, nil, err
		}
		next.Trains[tr.Metadata.Name] = t
	}
	if len(res.Created)+len(res.Updated) == 0 {
		return s, res, nil
	}
	return next, res, nil
}

func applyDelete(s *State, c Command) (*State, any, error) {
	var p DeletePayload
	if err := decodePayload(c, &p); err != nil {
		return s, nil, err
	}
	if err := config.CheckDelete(p.Kind, p.Name, s); err != nil {
		return s, nil, err
	}
	next := s.shallow()
	switch p.Kind {
	case config.KindService:
		if _, ok := s.Services[p.Name]; !ok {
			return s, nil, fmt.Errorf("%w: Service %q", ErrNotFound, p.Name)
		}
		next.Services = cloneMap(s.Services)
		delete(next.Services, p.Name)
	case config.KindReleasePolicy:
		if _, ok := s.Policies[p.Name]; !ok {
			return s, nil, fmt.Errorf("%w: ReleasePolicy %q", ErrNotFound, p.Name)
		}
		next.Policies = cloneMap(s.Policies)
		delete(next.Policies, p.Name)
	case config.KindReleaseTrain:
		t, ok := s.Trains[p.Name]
		if !ok {
			return s, nil, fmt.Errorf("%w: ReleaseTrain %q", ErrNotFound, p.Name)
		}
		if !t.Status.Phase.Terminal() {
			return s, nil, fmt.Errorf("%w: ReleaseTrain %q is %s; abort it before deleting it", ErrBadTransition, p.Name, t.Status.Phase)
		}
		s.cloneTrains(next)
		delete(next.Trains, p.Name)
	case config.KindRelease:
		r, ok := s.Releases[p.Name]
		if !ok {
			return s, nil, fmt.Errorf("%w: Release %q", ErrNotFound, p.Name)
		}
		if !r.Status.Phase.Terminal() {
			return s, nil, fmt.Errorf("%w: Release %q is %s; abort it before deleting it", ErrBadTransition, p.Name, r.Status.Phase)
		}
		if t, ok := s.Trains[r.Status.Train]; ok && !t.Status.Phase.Terminal() {
			return s, nil, fmt.Errorf("%w: Release %q belongs to ReleaseTrain %q, which is %s", ErrBadTransition, p.Name, t.Name(), t.Status.Phase)
		}
		s.cloneReleases(next)
		delete(next.Releases, p.Name)
	default:
		return s, nil, fmt.Errorf("%w: kind %q cannot be deleted", ErrNotFound, p.Kind)
	}
	return next, nil, nil
}

func applySetMember(s *State, c Command) (*State, any, error) {
	var m Member
	if err := decodePayload(c, &m); err != nil {
		return s, nil, err
	}
	if m.ID == "" {
		return s, nil, fmt.Errorf("%w: member without id", ErrBadPayload)
	}
	if old, ok := s.Members[m.ID]; ok && *old == m {
		return s, nil, nil
	}
	next := s.shallow()
	next.Members = cloneMap(s.Members)
	next.Members[m.ID] = &m
	return next, nil, nil
}

func applyRemoveMember(s *State, c Command) (*State, any, error) {
	var p RemoveMemberPayload
	if err := decodePayload(c, &p); err != nil {
		return s, nil, err
	}
	if _, ok := s.Members[p.ID]; !ok {
		return s, nil, nil
	}
	next := s.shallow()
	next.Members = cloneMap(s.Members)
	delete(next.Members, p.ID)
	return next, nil, nil
}

// WriteSnapshot serialises the whole state.
func WriteSnapshot(s *State, w io.Writer) error {
	if err := json.NewEncoder(w).Encode(s); err != nil {
		return fmt.Errorf("write state snapshot: %w", err)
	}
	return nil
}

// ReadSnapshot restores a state written by WriteSnapshot.
func ReadSnapshot(r io.Reader) (*State, error) {
	s := New()
	if err := json.NewDecoder(r).Decode(s); err != nil {
		return nil, fmt.Errorf("read state snapshot: %w", err)
	}
	s.normalize()
	return s, nil
}
