package state

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/config"
)

// CmdObserveEndpoints records what a version's discovery source found
// (ObserveEndpoints).
const CmdObserveEndpoints Type = "endpoints.observed"

// DecisionEndpoints is the record of a change to a version's discovered
// endpoints or to their source's health.
const DecisionEndpoints DecisionKind = "endpoints"

// Bounds of what one observation may hold (hostile or broken sources).
const (
	// MaxObservedEndpoints is the most endpoints one version may have.
	MaxObservedEndpoints = 1000
	// maxLocalityLen bounds an observed region or zone.
	maxLocalityLen = 128
	// maxFailureMessage bounds a recorded source failure.
	maxFailureMessage = 512
	// maxEndpointHistory bounds a version's endpoint record: the oldest
	// entries are dropped first.
	maxEndpointHistory = 100
)

// EndpointHealth is an observed endpoint's health, sent to proxies as the
// Envoy health status of the endpoint.
type EndpointHealth string

// Endpoint health values.
const (
	Healthy   EndpointHealth = "healthy"
	Unhealthy EndpointHealth = "unhealthy"
)

// ObservedEndpoint is one endpoint a discovery source found.
type ObservedEndpoint struct {
	Address string         `json:"address"`
	Region  string         `json:"region,omitempty"`
	Zone    string         `json:"zone,omitempty"`
	Health  EndpointHealth `json:"health"`
}

// FailureKind says how a discovery source failed.
type FailureKind string

// Source failures. Each keeps the last good set of endpoints.
const (
	// FailureLookup is a DNS lookup that failed (timeout, SERVFAIL,
	// NXDOMAIN).
	FailureLookup FailureKind = "lookup"
	// FailureEmpty is a DNS answer without any address.
	FailureEmpty FailureKind = "empty"
	// FailureRead is a targets file that cannot be read.
	FailureRead FailureKind = "read"
	// FailureParse is a targets file whose content is refused.
	FailureParse FailureKind = "parse"
)

// SourceFailure is why a source gave no new set of endpoints.
type SourceFailure struct {
	Kind    FailureKind `json:"kind"`
	Message string      `json:"message"`
}

// EndpointSet is what is known of a discovered version's endpoints: the
// last good set its source gave, with each endpoint's health, the
// source's failure if its last look failed, and the bounded record of
// changes. It is kept apart from the Service spec.
type EndpointSet struct {
	Service string `json:"service"`
	Version string `json:"version"`
	// Source is the config.Discovery source the set was found by.
	Source    string             `json:"source"`
	Endpoints []ObservedEndpoint `json:"endpoints"`
	Failure   *SourceFailure     `json:"failure,omitempty"`
	// ObservedAt and Index are the time and log index of the last change.
	ObservedAt time.Time `json:"observedAt"`
	Index      uint64    `json:"index"`
	// History records every change, the newest last, at most
	// maxEndpointHistory of them.
	History []Decision `json:"history,omitempty"`
}

// EndpointKey is the key of a version's set in State.Endpoints.
func EndpointKey(service, version string) string { return service + "/" + version }

// DiscoveredEndpoints returns the endpoint set of a version that names a
// discovery source, if one was recorded for the source it names now.
func (s *State) DiscoveredEndpoints(service string, v *config.Version) (*EndpointSet, bool) {
	if v.Discovery == nil {
		return nil, false
	}
	set, ok := s.Endpoints[EndpointKey(service, v.Name)]
	if !ok || set.Source != v.Discovery.Source() {
		return nil, false
	}
	return set, true
}

// ObserveEndpoints is the leader's observation of a version's discovery
// source: the endpoints it found with their health, or why it found none
// (Failure, which keeps the last good set). It applies only while the
// version still names Source and the set is still the one the leader
// built on (Previous), so a stale leader's observation is refused.
type ObserveEndpoints struct {
	Service string `json:"service"`
	Version string `json:"version"`
	Source  string `json:"source"`
	// Previous is the Index of the set this observation replaces, 0 for
	// none.
	Previous  uint64             `json:"previous"`
	Endpoints []ObservedEndpoint `json:"endpoints,omitempty"`
	Failure   *SourceFailure     `json:"failure,omitempty"`
}

// Type implements Event.
func (*ObserveEndpoints) Type() Type { return CmdObserveEndpoints }

func (o *ObserveEndpoints) apply(t *tx) (any, error) {
	cur := t.cur()
	if err := o.checkTarget(cur); err != nil {
		return nil, err
	}
	old, _ := cur.Endpoints[EndpointKey(o.Service, o.Version)]
	if old != nil && old.Source != o.Source {
		old = nil
	}
	var prev uint64
	if old != nil {
		prev = old.Index
	}
	if o.Previous != prev {
		return nil, fmt.Errorf("%w: the endpoints of %s/%s were changed at index %d, the observation expected %d",
			ErrConflict, o.Service, o.Version, prev, o.Previous)
	}
	eps, err := normalEndpoints(o.Endpoints)
	if err != nil {
		return nil, fmt.Errorf("%w: endpoints of %s/%s: %v", ErrBadPayload, o.Service, o.Version, err)
	}
	next := &EndpointSet{Service: o.Service, Version: o.Version, Source: o.Source, Endpoints: eps, ObservedAt: t.time, Index: t.index}
	if o.Failure != nil {
		f := *o.Failure
		f.Message = truncate(f.Message, maxFailureMessage)
		next.Failure, next.Endpoints = &f, nil
		if old != nil {
			next.Endpoints = old.Endpoints
		}
	}
	msg, changed := describeChange(old, next)
	if !changed {
		return old, nil
	}
	if old != nil {
		next.History = slices.Clone(old.History)
	}
	d := t.decision(DecisionEndpoints, msg)
	d.Seq = 1
	if n := len(next.History); n > 0 {
		d.Seq = next.History[n-1].Seq + 1 // numbering goes on past dropped entries
	}
	next.History = append(next.History, d)
	if over := len(next.History) - maxEndpointHistory; over > 0 {
		next.History = slices.Delete(next.History, 0, over)
	}
	w := t.write()
	owned(t, "endpoints", &w.Endpoints)[EndpointKey(o.Service, o.Version)] = next
	return next, nil
}

// checkTarget refuses an observation of a version that is gone or no
// longer names the source.
func (o *ObserveEndpoints) checkTarget(s *State) error {
	svc, ok := s.Services[o.Service]
	if !ok {
		return fmt.Errorf("%w: Service %q", ErrNotFound, o.Service)
	}
	for i := range svc.Spec.Versions {
		v := &svc.Spec.Versions[i]
		if v.Name != o.Version {
			continue
		}
		if src := v.Discovery.Source(); src != o.Source {
			return fmt.Errorf("%w: version %s/%s names discovery source %q, the observation is of %q",
				ErrConflict, o.Service, o.Version, src, o.Source)
		}
		return nil
	}
	return fmt.Errorf("%w: Service %q has no version %q", ErrNotFound, o.Service, o.Version)
}

// normalEndpoints checks observed endpoints and sorts them by address.
func normalEndpoints(in []ObservedEndpoint) ([]ObservedEndpoint, error) {
	if len(in) > MaxObservedEndpoints {
		return nil, fmt.Errorf("%d endpoints, at most %d are allowed", len(in), MaxObservedEndpoints)
	}
	out := make([]ObservedEndpoint, len(in))
	seen := make(map[string]bool, len(in))
	for i, ep := range in {
		addr, err := config.CheckEndpointAddress(ep.Address)
		if err != nil {
			return nil, fmt.Errorf("endpoint %d: %v", i, err)
		}
		if seen[addr] {
			return nil, fmt.Errorf("endpoint %d: address %s appears more than once", i, addr)
		}
		seen[addr] = true
		if ep.Health != Healthy && ep.Health != Unhealthy {
			return nil, fmt.Errorf("endpoint %d: health %q is not %q or %q", i, ep.Health, Healthy, Unhealthy)
		}
		if len(ep.Region) > maxLocalityLen || len(ep.Zone) > maxLocalityLen {
			return nil, fmt.Errorf("endpoint %d: region and zone are at most %d bytes", i, maxLocalityLen)
		}
		ep.Address = addr
		out[i] = ep
	}
	slices.SortFunc(out, func(a, b ObservedEndpoint) int { return cmp.Compare(a.Address, b.Address) })
	return out, nil
}

// describeChange says what changed from old to next, and whether anything
// did.
func describeChange(old, next *EndpointSet) (string, bool) {
	var before []ObservedEndpoint
	var oldFailure *SourceFailure
	if old != nil {
		before, oldFailure = old.Endpoints, old.Failure
	}
	if f := next.Failure; f != nil {
		if oldFailure != nil && *oldFailure == *f {
			return "", false
		}
		return fmt.Sprintf("%s: %s failed (%s): %s; keeping the last good set of %d endpoint(s)",
			next.Version, next.Source, f.Kind, f.Message, len(next.Endpoints)), true
	}
	if oldFailure == nil && old != nil && slices.Equal(before, next.Endpoints) {
		return "", false
	}
	var parts []string
	was := make(map[string]ObservedEndpoint, len(before))
	for _, ep := range before {
		was[ep.Address] = ep
	}
	unhealthy := 0
	for _, ep := range next.Endpoints {
		if ep.Health == Unhealthy {
			unhealthy++
		}
		prev, ok := was[ep.Address]
		delete(was, ep.Address)
		switch {
		case !ok:
			parts = append(parts, "+"+ep.Address+" ("+string(ep.Health)+")")
		case prev != ep:
			parts = append(parts, ep.Address+" "+string(prev.Health)+"->"+string(ep.Health))
		}
	}
	for _, ep := range before {
		if _, gone := was[ep.Address]; gone {
			parts = append(parts, "-"+ep.Address)
		}
	}
	msg := fmt.Sprintf("%s: %s: %d endpoint(s), %d unhealthy", next.Version, next.Source, len(next.Endpoints), unhealthy)
	if oldFailure != nil {
		msg += "; the source answers again"
	}
	if len(parts) > 0 {
		msg += ": " + strings.Join(truncateList(parts, 20), ", ")
	}
	return msg, true
}

func truncateList(parts []string, n int) []string {
	if len(parts) <= n {
		return parts
	}
	return append(parts[:n:n], fmt.Sprintf("and %d more", len(parts)-n))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// dropEndpoints forgets the endpoint sets of a deleted service.
func dropEndpoints(t *tx, service string) {
	prefix := service + "/"
	for key, set := range t.cur().Endpoints {
		if strings.HasPrefix(key, prefix) && set.Service == service {
			w := t.write()
			delete(owned(t, "endpoints", &w.Endpoints), key)
		}
	}
}
