package state

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/config"
)

// ErrNothingToUndo is returned by PlanUndo when no promoted release put a
// service's running version in place.
var ErrNothingToUndo = errors.New("nothing to undo")

// ServiceStatus is what the replicated state knows about a service beyond
// its spec as applied.
type ServiceStatus struct {
	// Stable is the version that gets all traffic when no release runs,
	// for a Service that declares spec.version: the declared version once
	// it has been released (a rolled-back one leaves the old version).
	Stable string `json:"stable,omitempty"`
	// Decisions records what was done to the service outside a release:
	// forced static weights, instant undos.
	Decisions []Decision `json:"decisions,omitempty"`
	// Kept is the old version a promoted blue/green release keeps
	// reachable through its preview route (bluegreen.go).
	Kept *KeptVersion `json:"kept,omitempty"`
	// Served are the proxy groups seen holding the service's config
	// (served.go): the groups the first step of its next release waits for.
	Served []ServedGroup `json:"served,omitempty"`
}

// Routing is how a release in progress routes its service's traffic.
type Routing struct {
	From, To string
	// Weight is the new version's share of the traffic in scope.
	Weight uint32
	// Stage is the cohort stage of the current step, if it names one, and
	// Cohorts the policy's cohort settings (headers).
	Stage   *config.CohortStage
	Cohorts *config.CohortSpec
	// Mirror is the share of requests (percent) shadowed to the new
	// version at a mirror step (Weight is then 0), else 0.
	Mirror uint32
}

// Routing returns how a service is routed by its release in progress.
func (s *State) Routing(service string) (Routing, bool) {
	name, ok := s.Active[service]
	if !ok {
		return Routing{}, false
	}
	r := s.Releases[name]
	routed := r != nil && (r.Status.Phase == PhaseProgressing || r.Status.Phase == PhasePaused || r.Status.Phase == PhaseRollingBack)
	if !routed || r.Status.Step < 0 {
		return Routing{}, false
	}
	rt := Routing{From: r.Status.From, To: r.Spec.Spec.To, Weight: r.Status.Weight, Cohorts: r.Status.PolicySpec.Cohorts}
	// A gradual rollback splits by weight alone (it starts only from a
	// percentage step).
	if st, ok := r.Stage(r.Status.Step); ok && r.Status.Phase != PhaseRollingBack {
		rt.Stage = &st
	}
	rt.Mirror = r.MirrorShare(r.Status.Step)
	return rt, true
}

// RouteWeights returns the share of traffic each version of a service gets
// now, in the order of its versions: while a release is in progress, 100-w
// on its stable version and w on the new one; otherwise IdleWeights.
func (s *State) RouteWeights(service string) []uint32 {
	svc, ok := s.Services[service]
	if !ok {
		return nil
	}
	if rt, ok := s.Routing(service); ok {
		return SplitWeights(svc, rt.From, rt.To, rt.Weight)
	}
	return s.IdleWeights(service)
}

// IdleWeights is a service's split when no release moves it: all on the
// stable version of a Service that declares its version, otherwise the
// spec's static weights.
func (s *State) IdleWeights(service string) []uint32 {
	svc, ok := s.Services[service]
	if !ok {
		return nil
	}
	if st := s.ServiceStatus[service]; svc.Spec.Version != "" && st != nil && st.Stable != "" {
		return SplitWeights(svc, "", st.Stable, config.TotalWeight)
	}
	return config.EffectiveWeights(&svc.Spec)
}

// StableVersion is the version with the most idle weight (the first on a
// tie): where traffic goes when nothing is being released.
func (s *State) StableVersion(service string) string {
	svc, ok := s.Services[service]
	if !ok {
		return ""
	}
	weights := s.IdleWeights(service)
	best := -1
	for i, w := range weights {
		if best < 0 || w > weights[best] {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	return svc.Spec.Versions[best].Name
}

// SplitWeights gives version from 100-w and version to w, others 0, in the
// order of the service's versions.
func SplitWeights(svc *config.Service, from, to string, w uint32) []uint32 {
	out := make([]uint32, len(svc.Spec.Versions))
	for i, v := range svc.Spec.Versions {
		switch v.Name {
		case from:
			out[i] += 100 - w
		case to:
			out[i] += w
		}
	}
	return out
}

// weightsByName maps versions to a split, leaving out zero shares.
func weightsByName(svc *config.Service, weights []uint32) map[string]uint32 {
	out := map[string]uint32{}
	for i, w := range weights {
		if w > 0 {
			out[svc.Spec.Versions[i].Name] = w
		}
	}
	return out
}

func splitText(m map[string]uint32) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%d%%", n, m[n])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// setStable sends a service's idle traffic to version: a Service that
// declares its version records it as stable; any other gets static
// weights with all traffic on version (its spec keeps them, as before
// declared versions existed).
func setStable(t *tx, service, version string) {
	svc, ok := t.cur().Services[service]
	if !ok {
		return
	}
	if svc.Spec.Version != "" {
		t.serviceStatus(service).Stable = version
		return
	}
	c := *svc
	c.Spec.Versions = make([]config.Version, len(svc.Spec.Versions))
	for i, v := range svc.Spec.Versions {
		w := uint32(0)
		if v.Name == version {
			w = 100
		}
		v.Weight = &w
		c.Spec.Versions[i] = v
	}
	t.services()[service] = &c
}

// declare makes version the declared version of a Service that declares
// one: a release or an undo is a change of what the service should run.
func declare(t *tx, service, version string) {
	svc, ok := t.cur().Services[service]
	if !ok || svc.Spec.Version == "" || svc.Spec.Version == version {
		return
	}
	c := *svc
	c.Spec.Version = version
	t.services()[service] = &c
}

// coveredBy returns the policy that covers service once docs are applied.
func coveredBy(s *State, docs []config.Document, service string) (string, bool) {
	inDocs := map[string]bool{}
	for _, d := range docs {
		if d.ReleasePolicy == nil {
			continue
		}
		inDocs[d.Name] = true
		for _, svc := range d.ReleasePolicy.Spec.Services {
			if svc == service {
				return d.Name, true
			}
		}
	}
	for _, name := range s.ReleasePolicyNames() {
		if inDocs[name] {
			continue
		}
		for _, svc := range s.Policies[name].Spec.Services {
			if svc == service {
				return name, true
			}
		}
	}
	return "", false
}

func serviceError(d *config.Document, field, format string, args ...any) config.FieldError {
	return config.FieldError{Pos: d.FieldPos(field), Kind: config.KindService, Name: d.Name, Field: field, Message: fmt.Sprintf(format, args...)}
}

// CheckTraffic applies the rule that no apply moves the live traffic of a
// Service covered by a ReleasePolicy unanalysed: such a Service changes
// its traffic through its declared version (which starts a release), not
// through static weights, unless force (an admin) says so; and nothing
// changes what a release in progress is moving. The API runs it with
// positions, the FSM again on every node without them. It assumes
// config.Check passed.
func CheckTraffic(s *State, docs []config.Document, force bool) error {
	var errs config.Errors
	for i := range docs {
		d := &docs[i]
		if d.Service == nil {
			continue
		}
		old, ok := s.Services[d.Name]
		if !ok {
			continue // a new service moves no live traffic
		}
		active := s.Releases[s.Active[d.Name]]
		policy, covered := coveredBy(s, docs, d.Name)
		if v := d.Service.Spec.Version; v != "" {
			switch {
			case active != nil && v != old.Spec.Version && v != active.Spec.Spec.To:
				errs = append(errs, serviceError(d, "spec.version",
					"Release %q is moving %s from %s to %s; wait until it ends (or abort it) before declaring %s",
					active.Name(), d.Name, active.Status.From, active.Spec.Spec.To, v))
			case covered && !hasVersion(d.Service, s.StableVersion(d.Name)):
				errs = append(errs, serviceError(d, "spec.versions",
					"version %q serves the traffic now; keep it listed until a release has moved the traffic off it", s.StableVersion(d.Name)))
			}
			continue
		}
		now, next := weightsByName(old, s.IdleWeights(d.Name)), weightsByName(d.Service, config.EffectiveWeights(&d.Service.Spec))
		if !covered || maps.Equal(now, next) {
			continue
		}
		switch {
		case active != nil:
			errs = append(errs, serviceError(d, "spec.versions",
				"Release %q is moving the traffic of %s; static weights cannot change until it ends", active.Name(), d.Name))
		case !force:
			errs = append(errs, serviceError(d, "spec.versions",
				"Service %q is covered by ReleasePolicy %q: these weights would move its traffic at once, unanalysed (%s now, %s after); declare the version it should run instead (spec.version: %s) to release it progressively, or run `sluice release start %s --to VERSION`; an admin can force static weights with `sluice apply --force`",
				d.Name, policy, splitText(now), splitText(next), s.StableVersion(d.Name), d.Name))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func hasVersion(svc *config.Service, version string) bool {
	for _, v := range svc.Spec.Versions {
		if v.Name == version {
			return true
		}
	}
	return false
}

var nameUnsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// ReleaseName is the name of a release of service to version `to` made at
// now: a DNS label such as "greeter-v2-1125-193005".
func ReleaseName(service, to string, now time.Time) string {
	base := nameUnsafe.ReplaceAllString(strings.ToLower(service+"-"+to), "-")
	suffix := now.UTC().Format("0102-150405")
	if max := 63 - len(suffix) - 1; len(base) > max {
		base = base[:max]
	}
	return strings.Trim(base, "-") + "-" + suffix
}

// DeclaredReleases returns the releases that applying docs at time now
// starts: one for each Service covered by a policy whose declared version
// changes to one that does not run now. Each goes from the version running
// now, with the change descriptor and gates of the document's
// annotations. The FSM creates them; the API assesses their risk first
// (the names are the same, from the command's time). It assumes
// CheckTraffic passed.
func DeclaredReleases(s *State, docs []config.Document, now time.Time) ([]*config.Release, error) {
	var out []*config.Release
	var errs config.Errors
	explicit := explicitReleases(docs)
	for i := range docs {
		d := &docs[i]
		if d.Service == nil || d.Service.Spec.Version == "" {
			continue
		}
		v := d.Service.Spec.Version
		old, ok := s.Services[d.Name]
		if !ok || old.Spec.Version == v {
			continue // a new service starts on its version; an unchanged one stays
		}
		if _, covered := coveredBy(s, docs, d.Name); !covered {
			continue
		}
		stable := s.StableVersion(d.Name)
		if stable == v {
			continue
		}
		if r := s.Releases[s.Active[d.Name]]; r != nil {
			continue // already releasing v (CheckTraffic refused any other)
		}
		if other, ok := explicit[d.Name]; ok {
			errs = append(errs, serviceError(d, "spec.version", "this apply also starts Release %q of %s: declare the version or start a release, not both", other, d.Name))
			continue
		}
		name := ReleaseName(d.Name, v, now)
		if _, taken := s.Releases[name]; taken {
			errs = append(errs, serviceError(d, "spec.version", "a Release named %q exists already; apply again in a second", name))
			continue
		}
		change, gates := config.ChangeFromAnnotations(d.Service.Metadata.Annotations)
		out = append(out, &config.Release{APIVersion: config.APIVersion, Kind: config.KindRelease, Metadata: config.Metadata{Name: name},
			Spec: config.ReleaseSpec{Service: d.Name, From: stable, To: v, Change: change, Gates: gates}})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// explicitReleases maps the services docs start releases of (Release
// documents and train members) to a release name.
func explicitReleases(docs []config.Document) map[string]string {
	out := map[string]string{}
	for _, d := range docs {
		switch {
		case d.Release != nil:
			out[d.Release.Spec.Service] = d.Name
		case d.ReleaseTrain != nil:
			for _, m := range d.ReleaseTrain.Spec.Members {
				out[m.Service] = MemberReleaseName(d.Name, m.MemberName())
			}
		}
	}
	return out
}

// UndoPlan is what undoing a service's last promotion does: the release
// that put From in place is undone by going back to its own From (To).
type UndoPlan struct {
	Service string `json:"service"`
	From    string `json:"from"`
	To      string `json:"to"`
	Release string `json:"release"`
}

// PlanUndo finds what `release undo` does for a service: the latest
// promoted release that brought the version running now, and the version
// before it. A release in progress is rolled back, not undone.
func PlanUndo(s *State, service string) (UndoPlan, error) {
	if _, ok := s.Services[service]; !ok {
		return UndoPlan{}, fmt.Errorf("%w: Service %q", ErrNotFound, service)
	}
	if name, ok := s.Active[service]; ok {
		return UndoPlan{}, fmt.Errorf("%w: Release %q is in progress on %s; to send its traffic back, roll it back: sluice release rollback %s", ErrBadTransition, name, service, name)
	}
	stable := s.StableVersion(service)
	var last *Release
	for _, name := range s.ReleaseNames() {
		r := s.Releases[name]
		if r.Service() != service || r.Status.Phase != PhasePromoted || r.Spec.Spec.To != stable {
			continue
		}
		if last == nil || !r.Status.EndedAt.Before(last.Status.EndedAt) {
			last = r
		}
	}
	if last == nil {
		return UndoPlan{}, fmt.Errorf("%w: %s runs %s and no promoted release brought it there", ErrNothingToUndo, service, stable)
	}
	return UndoPlan{Service: service, From: stable, To: last.Status.From, Release: last.Name()}, nil
}

// UndoService sends a service's traffic back to the version before its
// last promotion at once: a person's instant, recorded undo (`release undo
// --now`). The plan must still be what PlanUndo says.
type UndoService struct {
	UndoPlan
	Reason string `json:"reason,omitempty"`
}

// Type implements Event.
func (*UndoService) Type() Type { return CmdUndo }

func (u *UndoService) apply(t *tx) (any, error) {
	plan, err := PlanUndo(t.cur(), u.Service)
	if err != nil {
		return nil, err
	}
	if plan != u.UndoPlan {
		return nil, fmt.Errorf("%w: undoing %s now means %s -> %s (Release %q), the request expected %s -> %s (Release %q)",
			ErrConflict, u.Service, plan.From, plan.To, plan.Release, u.From, u.To, u.Release)
	}
	declare(t, u.Service, u.To)
	setStable(t, u.Service, u.To)
	msg := fmt.Sprintf("undone by %s at once: all traffic of %s back from %s to %s", t.actor, u.Service, u.From, u.To)
	if u.Reason != "" {
		msg += ": " + u.Reason
	}
	st := t.serviceStatus(u.Service)
	record(&st.Decisions, t.decision(DecisionUndo, msg+" (Release "+u.Release+")"))
	t.recordOn(t.release(u.Release), DecisionUndo, msg, nil)
	return plan, nil
}

// noteService keeps a service's status in step with the spec an apply
// stores: a Service that declares its version keeps the version running
// now as stable (uncovered, its declared version runs at once); forced
// static weights are recorded with who forced them.
func noteService(t *tx, docs []config.Document, old, svc *config.Service) bool {
	name := svc.Metadata.Name
	if svc.Spec.Version != "" {
		stable := svc.Spec.Version
		if _, covered := coveredBy(t.s, docs, name); covered && old != nil {
			stable = t.s.StableVersion(name)
		}
		if st := t.cur().ServiceStatus[name]; st == nil || st.Stable != stable {
			t.serviceStatus(name).Stable = stable
		}
		return false
	}
	if st := t.cur().ServiceStatus[name]; st != nil && st.Stable != "" {
		t.serviceStatus(name).Stable = ""
	}
	if old == nil {
		return false
	}
	if _, covered := coveredBy(t.s, docs, name); !covered {
		return false
	}
	was, now := weightsByName(old, t.s.IdleWeights(name)), weightsByName(svc, config.EffectiveWeights(&svc.Spec))
	if maps.Equal(was, now) {
		return false
	}
	st := t.serviceStatus(name)
	record(&st.Decisions, t.decision(DecisionForceWeights,
		fmt.Sprintf("static weights forced by %s: %s (was %s), unanalysed", t.actor, splitText(now), splitText(was))))
	return true
}
