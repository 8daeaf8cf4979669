package state

import (
	"fmt"
	"reflect"
	"time"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
)

// maxDecisions bounds a release's record. Beyond it, analyses that did
// not change anything are no longer recorded individually (transitions
// always are).
const maxDecisions = 2000

// createRelease builds a new release, makes it the service's active one
// and declares its version (for a Service that declares one); the caller
// records its creation. It assumes config.Check passed for the request
// (service, versions, policy exist). gen is the generation of policy
// defaults the command names: the release keeps its policy's spec with
// those defaults filled in.
func createRelease(t *tx, rel *config.Release, a *Assessment, gen config.Defaults) (*Release, error) {
	st := t.cur()
	if _, ok := st.Services[rel.Spec.Service]; !ok {
		return nil, fmt.Errorf("%w: Release %q: unknown service %q", config.ErrInvalid, rel.Metadata.Name, rel.Spec.Service)
	}
	from := rel.Spec.From
	if from == "" {
		from = st.StableVersion(rel.Spec.Service)
	}
	if from == rel.Spec.To {
		return nil, config.Errors{{Kind: config.KindRelease, Name: rel.Metadata.Name, Field: "spec.to",
			Message: fmt.Sprintf("%q is already the stable version of Service %q; nothing to release", from, rel.Spec.Service)}}
	}
	pol, ok := st.PolicyFor(rel.Spec.Service)
	if rel.Spec.Policy != "" {
		pol, ok = st.Policies[rel.Spec.Policy]
	}
	if !ok {
		return nil, config.Errors{{Kind: config.KindRelease, Name: rel.Metadata.Name, Field: "spec.service",
			Message: fmt.Sprintf("Service %q is covered by no ReleasePolicy (or the named one does not exist): a release needs one to be judged", rel.Spec.Service)}}
	}
	if _, taken := st.Releases[rel.Metadata.Name]; taken {
		return nil, config.Errors{{Kind: config.KindRelease, Name: rel.Metadata.Name, Field: "metadata.name",
			Message: fmt.Sprintf("a Release named %q already exists", rel.Metadata.Name)}}
	}
	spec := config.PolicyDefaultsOf(gen, &pol.Spec)
	plan := spec.Steps
	// A blue/green release has the strategy's two steps, whatever risk says.
	if a != nil && a.PlanSource == "risk" && spec.BlueGreen() == nil {
		if err := checkPlan(a.Plan, &spec); err != nil {
			return nil, fmt.Errorf("%w: Release %q: assessed plan: %v", ErrBadPayload, rel.Metadata.Name, err)
		}
		plan = a.Plan
	}
	r := &Release{Spec: *rel, Status: ReleaseStatus{Assessment: a,
		Phase:      PhasePending,
		From:       from,
		Policy:     pol.Metadata.Name,
		PolicySpec: spec,
		Plan:       append([]config.StepSpec(nil), plan...),
		Step:       -1,
		CreatedAt:  t.time,
	}}
	t.putRelease(r)
	t.active()[rel.Spec.Service] = rel.Metadata.Name
	dropKept(t, rel.Spec.Service)
	declare(t, rel.Spec.Service, rel.Spec.To)
	return r, nil
}

// enterStep makes step i current: its weight is routed from this command's
// index on, and its bake starts once proxies ACK it.
func enterStep(r *Release, i int, index uint64, now time.Time) {
	rs := &r.Status
	rs.Step = i
	rs.Weight = r.StepWeight(i)
	rs.StepIndex = index
	rs.StepStartedAt = now
	rs.Acked, rs.AckedAt, rs.BakeUntil = false, time.Time{}, time.Time{}
	rs.Baked, rs.BakedTo = 0, time.Time{}
	rs.NextAnalysisAt = time.Time{}
	rs.Counters = analysis.Counters{}
	rs.Analyses = 0
	rs.Hold = nil
}

// pauseClock stops a release's clock. Releases and train members pause
// through it alike.
func pauseClock(r *Release, now time.Time) {
	r.Status.Phase, r.Status.PausedAt = PhasePaused, now
}

// resumeClock starts a paused release's clock again: the bake is pushed
// out by the time spent paused and an analysis is due at once. A release
// paused before its first step goes back to Pending.
func resumeClock(r *Release, now time.Time) {
	rs := &r.Status
	if rs.Acked {
		rs.BakeUntil = rs.BakeUntil.Add(now.Sub(rs.PausedAt))
		// Time paused is not baked: counting starts again now. (Before
		// the step's first counted analysis, BakedTo is unset and the
		// controller counts from the ACK, at most one analysis's cover.)
		if !rs.BakedTo.IsZero() {
			rs.BakedTo = now
		}
	}
	rs.NextAnalysisAt = now
	rs.PausedAt = time.Time{}
	rs.Phase = PhaseProgressing
	if rs.Step < 0 {
		rs.Phase = PhasePending
	}
}

// finish ends a release and sends the service's traffic to version when
// no release runs (setStable), so routes stay where the release left them.
func finish(t *tx, r *Release, phase Phase, version string, weight uint32, reason string) {
	rs := &r.Status
	rs.Phase, rs.Weight, rs.EndedAt, rs.Reason, rs.Hold = phase, weight, t.time, reason, nil
	setStable(t, r.Service(), version)
	// A train keeps its members' services reserved until it ends, so it
	// can still roll a promoted member back.
	if r.Status.Train == "" {
		delete(t.active(), r.Service())
	}
}

// checkServiceUpdate refuses a Service change that would remove a version
// an active release uses.
func checkServiceUpdate(s *State, svc *config.Service) error {
	name, ok := s.Active[svc.Metadata.Name]
	if !ok {
		return nil
	}
	r := s.Releases[name]
	for _, need := range []string{r.Status.From, r.Spec.Spec.To} {
		found := false
		for _, v := range svc.Spec.Versions {
			found = found || v.Name == need
		}
		if !found {
			return config.Errors{{Kind: config.KindService, Name: svc.Metadata.Name, Field: "spec.versions",
				Message: fmt.Sprintf("version %q is used by active Release %q; finish or abort the release first", need, name)}}
		}
	}
	return nil
}

// releaseUnchanged reports whether applying rel again changes nothing.
func releaseUnchanged(s *State, rel *config.Release) (bool, bool) {
	cur, ok := s.Releases[rel.Metadata.Name]
	if !ok {
		return false, false
	}
	return true, reflect.DeepEqual(cur.Spec, *rel)
}

// checkPlan makes sure a plan from a command can be run: steps with a
// weight of 1-100 or a cohort stage of the policy.
func checkPlan(plan []config.StepSpec, spec *config.ReleasePolicySpec) error {
	if len(plan) == 0 {
		return fmt.Errorf("no steps")
	}
	for i, s := range plan {
		switch {
		case s.Cohort != "":
			if _, ok := spec.Cohorts.Stage(s.Cohort); !ok {
				return fmt.Errorf("step %d: unknown cohort stage %q", i+1, s.Cohort)
			}
		case s.Weight < 1 || s.Weight > config.TotalWeight:
			return fmt.Errorf("step %d: weight %d", i+1, s.Weight)
		}
	}
	return nil
}

// ActiveRelease implements config.Catalog.
func (s *State) ActiveRelease(service string) (string, bool) {
	name, ok := s.Active[service]
	return name, ok
}

// Release implements config.Catalog.
func (s *State) Release(name string) (*config.Release, bool) {
	r, ok := s.Releases[name]
	if !ok {
		return nil, false
	}
	return &r.Spec, true
}

// ReleaseNames returns every release name, sorted.
func (s *State) ReleaseNames() []string { return sortedKeys(s.Releases) }
