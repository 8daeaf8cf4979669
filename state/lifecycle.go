package state

import (
	"fmt"
	"reflect"
	"time"

	"github.com/sluicehq/sluice/config"
)

// CmdReleaseUpdate moves a release through its lifecycle.
const CmdReleaseUpdate Type = "release.update"

// ReleaseUpdate is the payload of CmdReleaseUpdate. The controller (or a
// person through the API) decides; the FSM checks the preconditions and
// applies the action deterministically.
type ReleaseUpdate struct {
	Name   string `json:"name"`
	Action Action `json:"action"`
	// ExpectPhase and ExpectStep guard against stale decisions: the update
	// applies only if the release is still there. ExpectStepIndex, when
	// set, must match too (an ACK is for the routes of one step).
	ExpectPhase     Phase  `json:"expectPhase"`
	ExpectStep      int    `json:"expectStep"`
	ExpectStepIndex uint64 `json:"expectStepIndex,omitempty"`
	// Counters replace the release's counters (analysis, hold).
	Counters *Counters `json:"counters,omitempty"`
	// Holding replaces the hold reason ("" clears it) for analysis/hold.
	Holding string `json:"holding,omitempty"`
	// Message is the human explanation recorded with the decision.
	Message string `json:"message"`
	// Verdict is the analysis behind the decision (analysis.Verdict JSON).
	Verdict []byte `json:"verdict,omitempty"`
	// Exposure is the estimate for the step being entered (start,
	// advance) or waited for (hold).
	Exposure *Exposure `json:"exposure,omitempty"`
	// ApproveStep is the plan step an approval is for; ApproveGate the
	// failed quality gate it overrides; StartNow approves starting now
	// outside the release window.
	ApproveStep int    `json:"approveStep,omitempty"`
	ApproveGate string `json:"approveGate,omitempty"`
	StartNow    bool   `json:"startNow,omitempty"`
	// ScheduledAt and Schedule carry ActSchedule's start time and the
	// window optimizer's suggestion (JSON).
	ScheduledAt time.Time `json:"scheduledAt,omitempty"`
	Schedule    []byte    `json:"schedule,omitempty"`
	// Window records how a start time was chosen (see ReleaseStatus).
	Window string `json:"window,omitempty"`
}

// maxDecisions bounds a release's record. Beyond it, analyses that did
// not change anything are no longer recorded individually (transitions
// always are).
const maxDecisions = 2000

// stableVersion is the version with the most static weight (the first on
// a tie): where traffic goes when nothing is being released.
func stableVersion(svc *config.Service) string {
	weights := config.EffectiveWeights(&svc.Spec)
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

// createRelease builds the status of a new release. It assumes
// config.Check passed for the request (service, versions, policy exist).
func createRelease(next *State, rel *config.Release, now time.Time, a *Assessment) (*Release, error) {
	svc, ok := next.Services[rel.Spec.Service]
	if !ok {
		return nil, fmt.Errorf("%w: Release %q: unknown service %q", config.ErrInvalid, rel.Metadata.Name, rel.Spec.Service)
	}
	from := rel.Spec.From
	if from == "" {
		from = stableVersion(svc)
	}
	if from == rel.Spec.To {
		return nil, config.Errors{{Kind: config.KindRelease, Name: rel.Metadata.Name, Field: "spec.to",
			Message: fmt.Sprintf("%q is already the stable version of Service %q; nothing to release", from, rel.Spec.Service)}}
	}
	pol, ok := next.PolicyFor(rel.Spec.Service)
	if rel.Spec.Policy != "" {
		pol, ok = next.Policies[rel.Spec.Policy]
	}
	if !ok {
		return nil, config.Errors{{Kind: config.KindRelease, Name: rel.Metadata.Name, Field: "spec.service",
			Message: fmt.Sprintf("Service %q is covered by no ReleasePolicy (or the named one does not exist): a release needs one to be judged", rel.Spec.Service)}}
	}
	spec := config.PolicyDefaults(&pol.Spec)
	plan := spec.Steps
	if a != nil && a.PlanSource == "risk" {
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
		CreatedAt:  now,
	}}
	return r, nil
}

func (s *State) cloneReleases(next *State) {
	next.Releases = cloneMap(s.Releases)
	next.Active = cloneMap(s.Active)
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

// Routing is how a release in progress routes its service's traffic.
type Routing struct {
	From, To string
	// Weight is the new version's share of the traffic in scope.
	Weight uint32
	// Stage is the cohort stage of the current step, if it names one, and
	// Cohorts the policy's cohort settings (headers).
	Stage   *config.CohortStage
	Cohorts *config.CohortSpec
}

// Routing returns how a service is routed by its release in progress.
func (s *State) Routing(service string) (Routing, bool) {
	name, ok := s.Active[service]
	if !ok {
		return Routing{}, false
	}
	r := s.Releases[name]
	if r == nil || (r.Status.Phase != PhaseProgressing && r.Status.Phase != PhasePaused) || r.Status.Step < 0 {
		return Routing{}, false
	}
	rt := Routing{From: r.Status.From, To: r.Spec.Spec.To, Weight: r.Status.Weight, Cohorts: r.Status.PolicySpec.Cohorts}
	if st, ok := r.Stage(r.Status.Step); ok {
		rt.Stage = &st
	}
	return rt, true
}

// RouteWeights returns the share of traffic each version of a service gets
// now, in the order of its versions: the static weights, or, while a
// release is in progress, 100-w on its stable version and w on the new
// one.
func (s *State) RouteWeights(service string) []uint32 {
	svc, ok := s.Services[service]
	if !ok {
		return nil
	}
	if rt, ok := s.Routing(service); ok {
		return SplitWeights(svc, rt.From, rt.To, rt.Weight)
	}
	return config.EffectiveWeights(&svc.Spec)
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

// withAllTraffic returns a copy of svc whose static weights send all
// traffic to version.
func withAllTraffic(svc *config.Service, version string) *config.Service {
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
	return &c
}

func applyReleaseUpdate(s *State, index uint64, c Command) (*State, any, error) {
	var u ReleaseUpdate
	if err := decodePayload(c, &u); err != nil {
		return s, nil, err
	}
	cur, ok := s.Releases[u.Name]
	if !ok {
		return s, nil, fmt.Errorf("%w: Release %q", ErrNotFound, u.Name)
	}
	st := cur.Status
	if st.Phase != u.ExpectPhase || st.Step != u.ExpectStep || (u.ExpectStepIndex != 0 && st.StepIndex != u.ExpectStepIndex) {
		return s, nil, fmt.Errorf("%w: Release %q is %s at step %d (index %d), the decision expected %s at step %d",
			ErrConflict, u.Name, st.Phase, st.Step, st.StepIndex, u.ExpectPhase, u.ExpectStep)
	}
	r := cur.clone()
	next := s.shallow()
	s.cloneReleases(next)
	next.Releases[u.Name] = r
	rs := &r.Status
	now := c.Time
	record := true
	switch u.Action {
	case ActStart:
		if !rs.Phase.Waiting() || rs.Blocked != "" {
			return s, nil, badTransition(u, rs)
		}
		if rs.Window != "scheduled" || u.Window == "start-now" {
			rs.Window = u.Window
		}
		rs.ScheduledAt = time.Time{}
		rs.Phase, rs.StartedAt = PhaseProgressing, now
		enterStep(r, 0, index, now)
		rs.Exposure = u.Exposure
		st, selective := r.Stage(0)
		rs.Limited = selective && st.Selective() || u.Exposure != nil && u.Exposure.Share >= 0 && u.Exposure.Share <= LimitedShare
	case ActAck:
		if rs.Phase != PhaseProgressing || rs.Acked {
			return s, nil, badTransition(u, rs)
		}
		step, _ := r.CurrentStep()
		rs.Acked, rs.AckedAt = true, now
		rs.BakeUntil = now.Add(step.Bake.D())
		rs.NextAnalysisAt = now.Add(analysisInterval(rs))
		rs.Holding = ""
	case ActAnalysis, ActHold:
		if rs.Phase != PhaseProgressing && !(u.Action == ActHold && rs.Phase.Waiting()) {
			return s, nil, badTransition(u, rs)
		}
		if u.Counters != nil {
			rs.Counters = *u.Counters
		}
		if u.Exposure != nil {
			rs.Exposure = u.Exposure
		}
		rs.Holding = u.Holding
		if u.Action == ActAnalysis {
			rs.NextAnalysisAt = now.Add(analysisInterval(rs))
			rs.LastVerdict = u.Verdict
			// Beyond the cap, only analyses that change the hold state
			// are kept individually.
			if len(rs.Decisions) >= maxDecisions && cur.Status.Holding == u.Holding {
				record = false
			}
		}
	case ActAdvance:
		if rs.Phase != PhaseProgressing || rs.Step+1 >= len(rs.Plan) {
			return s, nil, badTransition(u, rs)
		}
		if u.Verdict != nil {
			rs.LastVerdict = u.Verdict
		}
		enterStep(r, rs.Step+1, index, now)
		rs.Exposure = u.Exposure
	case ActPromote:
		if rs.Phase.Terminal() {
			return s, nil, badTransition(u, rs)
		}
		if u.Counters != nil {
			rs.Counters = *u.Counters
		}
		if u.Verdict != nil {
			rs.LastVerdict = u.Verdict
		}
		finish(next, r, PhasePromoted, r.Spec.Spec.To, 100, now, u.Message)
	case ActRollback, ActAbort:
		if rs.Phase.Terminal() {
			return s, nil, badTransition(u, rs)
		}
		phase := PhaseRolledBack
		if u.Action == ActAbort {
			phase = PhaseAborted
		}
		if u.Verdict != nil {
			rs.LastVerdict = u.Verdict
		}
		if u.Counters != nil {
			rs.Counters = *u.Counters
		}
		finish(next, r, phase, rs.From, 0, now, u.Message)
	case ActPause:
		if rs.Phase != PhaseProgressing && !rs.Phase.Waiting() {
			return s, nil, badTransition(u, rs)
		}
		rs.Phase, rs.PausedAt = PhasePaused, now
	case ActAwait:
		if !rs.Phase.Waiting() {
			return s, nil, badTransition(u, rs)
		}
		rs.Phase, rs.Holding = PhaseAwaitingApproval, u.Message
	case ActSchedule:
		if !rs.Phase.Waiting() || u.ScheduledAt.IsZero() {
			return s, nil, badTransition(u, rs)
		}
		rs.Phase, rs.ScheduledAt, rs.Schedule, rs.Holding, rs.Window = PhaseScheduled, u.ScheduledAt, u.Schedule, u.Message, "scheduled"
	case ActApprove:
		switch {
		case rs.Phase.Terminal():
			return s, nil, badTransition(u, rs)
		case u.ApproveGate != "":
			found := false
			for _, g := range r.Spec.Spec.Gates {
				found = found || (g.Name == u.ApproveGate && g.Required && !g.Passed)
			}
			if !found {
				return s, nil, fmt.Errorf("%w: Release %q has no failed required gate %q", ErrBadTransition, u.Name, u.ApproveGate)
			}
			if r.GateOverridden(u.ApproveGate) {
				return s, nil, nil
			}
			rs.Approvals = append(rs.Approvals, Approval{Step: -1, Gate: u.ApproveGate, Actor: c.Actor, Time: now, Reason: u.Message})
			if rs.Phase == PhaseAwaitingApproval && len(r.FailedGates()) == 0 {
				rs.Phase, rs.Holding = PhasePending, ""
			}
		case u.StartNow:
			if !rs.Phase.Waiting() {
				return s, nil, fmt.Errorf("%w: Release %q is %s; start-now approves a release that has not started", ErrBadTransition, u.Name, rs.Phase)
			}
			if r.StartNowApproved() {
				return s, nil, nil
			}
			rs.Approvals = append(rs.Approvals, Approval{Step: -1, StartNow: true, Actor: c.Actor, Time: now, Reason: u.Message})
			if rs.Phase == PhaseScheduled || (rs.Phase == PhaseAwaitingApproval && len(r.FailedGates()) == 0) {
				rs.Phase, rs.Holding, rs.ScheduledAt = PhasePending, "", time.Time{}
			}
		default:
			if u.ApproveStep < 0 || u.ApproveStep >= len(rs.Plan) {
				return s, nil, fmt.Errorf("%w: cannot approve step %d of Release %q (%s, %d steps)", ErrBadTransition, u.ApproveStep+1, u.Name, rs.Phase, len(rs.Plan))
			}
			if r.Approved(u.ApproveStep) {
				return s, nil, nil
			}
			rs.Approvals = append(rs.Approvals, Approval{Step: u.ApproveStep, Actor: c.Actor, Time: now, Reason: u.Message})
			if r.HeldForStepApproval() {
				rs.Holding = ""
			}
		}
	case ActResume:
		if rs.Phase != PhasePaused {
			return s, nil, badTransition(u, rs)
		}
		// The clock stood still while paused: push deadlines out.
		paused := now.Sub(rs.PausedAt)
		if rs.Acked {
			rs.BakeUntil = rs.BakeUntil.Add(paused)
		}
		rs.NextAnalysisAt = now
		rs.PausedAt = time.Time{}
		rs.Phase = PhaseProgressing
		if rs.Step < 0 {
			rs.Phase = PhasePending
		}
	default:
		return s, nil, fmt.Errorf("%w: unknown release action %q", ErrBadPayload, u.Action)
	}
	if record {
		rs.Decisions = append(rs.Decisions, Decision{
			Seq: len(rs.Decisions) + 1, Time: now, Actor: c.Actor, Action: u.Action,
			Phase: rs.Phase, Step: rs.Step, Weight: rs.Weight, Index: index,
			Message: u.Message, Verdict: u.Verdict,
		})
	}
	return next, r.Status.Phase, nil
}

func badTransition(u ReleaseUpdate, rs *ReleaseStatus) error {
	return fmt.Errorf("%w: cannot %s Release %q while it is %s", ErrBadTransition, u.Action, u.Name, rs.Phase)
}

func analysisInterval(rs *ReleaseStatus) time.Duration {
	if a := rs.PolicySpec.Analysis; a != nil && a.Interval > 0 {
		return a.Interval.D()
	}
	return 5 * time.Second
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
	rs.NextAnalysisAt = time.Time{}
	rs.Counters = Counters{}
	rs.Holding = ""
}

// finish ends a release and writes the final split into the service's
// static weights, so routes stay where the release left them.
func finish(next *State, r *Release, phase Phase, version string, weight uint32, now time.Time, reason string) {
	rs := &r.Status
	rs.Phase, rs.Weight, rs.EndedAt, rs.Reason, rs.Holding = phase, weight, now, reason, ""
	next.Services = cloneMap(next.Services)
	if svc, ok := next.Services[r.Service()]; ok {
		next.Services[r.Service()] = withAllTraffic(svc, version)
	}
	// A train keeps its members' services reserved until it ends, so it
	// can still roll a promoted member back.
	if r.Status.Train == "" {
		delete(next.Active, r.Service())
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
