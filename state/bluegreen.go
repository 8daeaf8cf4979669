package state

import (
	"fmt"
	"slices"
	"time"

	"github.com/sluicehq/sluice/config"
)

// This file holds what the blue/green strategy (config.BlueGreenSpec)
// adds to a release. Its phases are the release's own: the preview is
// plan step 0 (weight 0: only preview requests reach the new version),
// the switch step 1 (weight 100, the post-switch analysis); promotion and
// the switch back are Promote and Rollback. What is new is the preview
// route, which leads to the version that is not live, and the old
// version kept reachable through it after promotion until RetireOld.

// CmdReleaseRetireOld drops the old version a blue/green promotion kept
// reachable through the preview route.
const CmdReleaseRetireOld Type = "release.retire-old"

// DecisionRetireOld: the old version of a promoted blue/green release is
// no longer routable.
const DecisionRetireOld DecisionKind = "retire-old"

// KeptVersion is the old version a promoted blue/green release keeps
// reachable through its preview route until Until.
type KeptVersion struct {
	Release string             `json:"release"`
	Version string             `json:"version"`
	Until   time.Time          `json:"until"`
	Preview config.PreviewSpec `json:"preview"`
}

// PreviewRoute is a service's preview route now: the requests Preview
// selects go to Version entirely.
type PreviewRoute struct {
	Version string
	Preview config.PreviewSpec
}

// BlueGreen returns the release's blue/green strategy (defaults filled
// in), or nil.
func (r *Release) BlueGreen() *config.BlueGreenSpec { return r.Status.PolicySpec.BlueGreen() }

// Preview returns a service's preview route, if it has one: the new
// version while a blue/green release previews it, the old version from
// the switch on and, after promotion, until the kept version is retired.
func (s *State) Preview(service string) (PreviewRoute, bool) {
	svc, ok := s.Services[service]
	if !ok {
		return PreviewRoute{}, false
	}
	has := func(v string) bool {
		return slices.ContainsFunc(svc.Spec.Versions, func(x config.Version) bool { return x.Name == v })
	}
	if name, ok := s.Active[service]; ok {
		r := s.Releases[name]
		if r == nil || r.BlueGreen() == nil || r.BlueGreen().Preview == nil || (r.Status.Phase != PhaseProgressing && r.Status.Phase != PhasePaused) || r.Status.Step < 0 {
			return PreviewRoute{}, false
		}
		v := r.Spec.Spec.To
		if r.Status.Step >= config.BlueGreenSwitchStep {
			v = r.Status.From
		}
		return PreviewRoute{Version: v, Preview: *r.BlueGreen().Preview}, has(v)
	}
	st := s.ServiceStatus[service]
	if st == nil || st.Kept == nil || !has(st.Kept.Version) || st.Kept.Version == s.StableVersion(service) {
		return PreviewRoute{}, false
	}
	return PreviewRoute{Version: st.Kept.Version, Preview: st.Kept.Preview}, true
}

// keepOld makes a promoted blue/green release's old version reachable
// through its preview route for the strategy's keepOldFor.
func keepOld(rt *releaseTx) {
	bg := rt.r.BlueGreen()
	if bg == nil || bg.Preview == nil {
		return
	}
	rt.serviceStatus(rt.r.Service()).Kept = &KeptVersion{
		Release: rt.r.Name(),
		Version: rt.r.Status.From,
		Until:   rt.time.Add(bg.KeepOldFor.D()),
		Preview: *bg.Preview,
	}
}

// dropKept forgets the version kept for service, when there is one: a new
// release of the service owns the preview route.
func dropKept(t *tx, service string) {
	if st := t.cur().ServiceStatus[service]; st != nil && st.Kept != nil {
		t.serviceStatus(service).Kept = nil
	}
}

// RetireOld stops routing the old version a promoted blue/green release
// kept; the controller proposes it once KeptVersion.Until has passed.
type RetireOld struct{ On }

// Type is CmdReleaseRetireOld.
func (*RetireOld) Type() Type { return CmdReleaseRetireOld }

// check: once the release no longer keeps a version there is nothing to
// do (retired already, or a later release took the preview route).
func (e *RetireOld) check(r *Release) (bool, error) {
	if r.BlueGreen() == nil {
		return false, fmt.Errorf("%w: Release %q is not a blue/green release: it keeps no old version", ErrBadTransition, r.Name())
	}
	return false, nil
}

func (e *RetireOld) change(rt *releaseTx) {
	st := rt.cur().ServiceStatus[rt.r.Service()]
	if st == nil || st.Kept == nil || st.Kept.Release != rt.r.Name() {
		rt.skip = true
		return
	}
	rt.serviceStatus(rt.r.Service()).Kept = nil
}

// KeptExpired lists the promoted releases whose kept old version is due
// to be retired at now, in service name order.
func (s *State) KeptExpired(now time.Time) []*Release {
	var out []*Release
	for _, name := range s.ServiceNames() {
		st := s.ServiceStatus[name]
		if st == nil || st.Kept == nil || now.Before(st.Kept.Until) {
			continue
		}
		if r := s.Releases[st.Kept.Release]; r != nil && r.Status.Phase == PhasePromoted {
			out = append(out, r)
		}
	}
	return out
}
