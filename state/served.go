package state

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The proxy groups that serve a service. A step's ACK waits for the groups
// that held the step before (ReleaseStatus.ExpectedGroups); the first step
// has no step before, so it waits for the groups recorded as holding the
// service's config: those of the service's last ACKed step, and those the
// leader observes holding the config between releases (ObserveGroups).
// Either way the record is replicated, so a leader elected a moment ago,
// whose proxies have not reconnected yet, still knows whom to wait for.
// The record is bounded (MaxServedGroups) and a group not seen for
// ServedGroupAge is forgotten.

// CmdServiceGroups records the proxy groups the leader saw holding
// services' config (ObserveGroups).
const CmdServiceGroups Type = "service.groups"

// MaxServedGroups bounds the groups recorded per service: beyond it, the
// ones seen longest ago are forgotten first.
const MaxServedGroups = 64

// ServedGroupAge is how long a group stays recorded after it was last seen
// holding a service's config. A group scaled away is expected by at most
// the first steps started within this age, each for the policy's
// ackTimeout.
const ServedGroupAge = time.Hour

// MaxGroupKey bounds one recorded group key: a longer one (a proxy's
// cluster, region and zone are its own to choose) is not recorded.
const MaxGroupKey = 1024

// ServedGroup is a proxy group seen holding a service's config.
type ServedGroup struct {
	Group  string    `json:"group"`
	SeenAt time.Time `json:"seenAt"`
}

// ServedBy returns the groups seen holding service's config within
// ServedGroupAge before now, sorted.
func (s *State) ServedBy(service string, now time.Time) []string {
	ss := s.ServiceStatus[service]
	if ss == nil {
		return nil
	}
	var out []string
	for _, g := range ss.Served {
		if now.Sub(g.SeenAt) < ServedGroupAge {
			out = append(out, g.Group)
		}
	}
	slices.Sort(out)
	return out
}

// LastServed is when a group was last seen holding service's config (zero
// when none is recorded): what an ObserveGroups of the service expects.
func (s *State) LastServed(service string) time.Time {
	var last time.Time
	if ss := s.ServiceStatus[service]; ss != nil {
		for _, g := range ss.Served {
			if g.SeenAt.After(last) {
				last = g.SeenAt
			}
		}
	}
	return last
}

// mergeServed returns a new record: old with groups seen at at, without
// the groups older than ServedGroupAge, at most MaxServedGroups (the most
// recently seen), sorted by group.
func mergeServed(old []ServedGroup, groups []string, at time.Time) []ServedGroup {
	out := make([]ServedGroup, 0, len(old)+len(groups))
	for _, g := range old {
		if !slices.Contains(groups, g.Group) && at.Sub(g.SeenAt) < ServedGroupAge {
			out = append(out, g)
		}
	}
	for _, g := range groups {
		if len(g) <= MaxGroupKey && !slices.ContainsFunc(out, func(s ServedGroup) bool { return s.Group == g }) {
			out = append(out, ServedGroup{Group: g, SeenAt: at})
		}
	}
	slices.SortFunc(out, func(a, b ServedGroup) int {
		if c := b.SeenAt.Compare(a.SeenAt); c != 0 {
			return c
		}
		return strings.Compare(a.Group, b.Group)
	})
	if len(out) > MaxServedGroups {
		out = out[:MaxServedGroups]
	}
	slices.SortFunc(out, func(a, b ServedGroup) int { return strings.Compare(a.Group, b.Group) })
	return out
}

// recordServed records that groups held service's config at the
// command's time.
func (t *tx) recordServed(service string, groups []string) {
	if len(groups) == 0 {
		return
	}
	ss := t.serviceStatus(service)
	ss.Served = mergeServed(ss.Served, groups, t.time)
}

// forgetServed drops the groups recorded for a deleted service, so a
// service created again under its name does not wait at step 1 for
// groups that held the old one.
func (t *tx) forgetServed(service string) {
	if ss := t.cur().ServiceStatus[service]; ss == nil || len(ss.Served) == 0 {
		return
	}
	t.serviceStatus(service).Served = nil
}

// ServedAt is when group was last seen holding service's config (zero
// when it is not recorded).
func (s *State) ServedAt(service, group string) time.Time {
	if ss := s.ServiceStatus[service]; ss != nil {
		for _, g := range ss.Served {
			if g.Group == group {
				return g.SeenAt
			}
		}
	}
	return time.Time{}
}

// ObserveGroups is the leader's observation, made between releases, that
// Groups hold the config of Services: every group it names had a stream
// on a live node holding the state the leader read, which holds every
// service's config.
type ObserveGroups struct {
	// Groups are the groups seen, sorted.
	Groups   []string      `json:"groups"`
	Services []ServiceSeen `json:"services"`
}

// ServiceSeen names a service of an observation with its guard.
type ServiceSeen struct {
	Service string `json:"service"`
	// Seen is the service's LastServed as the leader read it: the
	// observation applies only if the record has not changed since (a
	// guarded update; a stale leader's observation is refused with
	// ErrConflict).
	Seen time.Time `json:"seen,omitzero"`
}

// Type implements Event.
func (*ObserveGroups) Type() Type { return CmdServiceGroups }

func (p *ObserveGroups) apply(t *tx) (any, error) {
	cur := t.cur()
	if err := p.check(cur); err != nil {
		return nil, err
	}
	for _, o := range p.Services {
		t.recordServed(o.Service, p.Groups)
	}
	return nil, nil
}

func (p *ObserveGroups) check(s *State) error {
	if len(p.Groups) == 0 || len(p.Groups) > MaxServedGroups {
		return fmt.Errorf("%w: %s: %d groups observed, want 1 to %d", ErrBadPayload, CmdServiceGroups, len(p.Groups), MaxServedGroups)
	}
	for _, g := range p.Groups {
		if len(g) > MaxGroupKey {
			return fmt.Errorf("%w: %s: a group key of %d bytes, at most %d", ErrBadPayload, CmdServiceGroups, len(g), MaxGroupKey)
		}
	}
	if len(p.Services) == 0 || len(p.Services) > len(s.Services) {
		return fmt.Errorf("%w: %s: %d services observed, the state has %d", ErrBadPayload, CmdServiceGroups, len(p.Services), len(s.Services))
	}
	for _, o := range p.Services {
		if _, ok := s.Services[o.Service]; !ok {
			return fmt.Errorf("%w: Service %q", ErrNotFound, o.Service)
		}
		if last := s.LastServed(o.Service); !last.Equal(o.Seen) {
			return fmt.Errorf("%w: the proxy groups of Service %q were last seen at %s, the observation expected %s",
				ErrConflict, o.Service, last.Format(time.RFC3339Nano), o.Seen.Format(time.RFC3339Nano))
		}
	}
	return nil
}
