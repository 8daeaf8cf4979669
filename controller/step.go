// Package controller runs releases on the leader: it observes the
// replicated state, the proxies' ACKs and the analysis, decides with pure
// functions, and proposes each decision as one Raft command.
package controller

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/state"
)

// Verdict phases, as the analysis reports them.
const (
	Successful   = "Successful"
	Failed       = "Failed"
	Inconclusive = "Inconclusive"
	Error        = "Error"
)

// Judgement is an analysis result as the controller needs it.
type Judgement struct {
	Phase  string
	Reason string
	// Raw is the full verdict (query, value, threshold per measurement),
	// recorded with the decision.
	Raw []byte
}

// GroupAck is what one proxy group on one node holds.
type GroupAck struct {
	Node  string
	Group string
	// AckedIndex is the newest state index every stream of the group
	// holds; Streams how many streams the group has there.
	AckedIndex uint64
	Streams    int
	NACKs      []string
}

// Observation is what the controller saw of the world at Now.
type Observation struct {
	Now time.Time
	// Groups are the proxy groups of every reachable node.
	Groups []GroupAck
	// Unreachable lists nodes whose status could not be read.
	Unreachable []string
}

// Next is what to do about a release: propose Update, run an analysis
// (Analyze), or nothing.
type Next struct {
	Update  *state.ReleaseUpdate
	Analyze bool
}

func update(r *state.Release, a state.Action, msg string) *state.ReleaseUpdate {
	return &state.ReleaseUpdate{Name: r.Name(), Action: a, ExpectPhase: r.Status.Phase, ExpectStep: r.Status.Step,
		ExpectStepIndex: r.Status.StepIndex, Message: msg}
}

// Decide is the pure first half of a controller step: from a release and
// an observation, the command to propose or whether an analysis is due.
func Decide(r *state.Release, obs Observation) Next {
	rs := &r.Status
	switch rs.Phase {
	case state.PhasePending:
		return Next{Update: update(r, state.ActStart, fmt.Sprintf("start: %d%% of traffic to %s (step 1 of %d)", rs.Plan[0].Weight, r.Spec.Spec.To, len(rs.Plan)))}
	case state.PhaseProgressing:
	default:
		return Next{}
	}
	if !rs.Acked {
		return decideAck(r, obs)
	}
	if obs.Now.Before(rs.NextAnalysisAt) {
		return Next{}
	}
	return Next{Analyze: true}
}

// decideAck waits for every proxy group to hold the step's routes.
func decideAck(r *state.Release, obs Observation) Next {
	rs := &r.Status
	var behind, nacks []string
	streams := 0
	for _, g := range obs.Groups {
		streams += g.Streams
		for _, n := range g.NACKs {
			nacks = append(nacks, fmt.Sprintf("group %s on %s rejected config: %s", g.Group, g.Node, n))
		}
		if g.AckedIndex < rs.StepIndex {
			behind = append(behind, fmt.Sprintf("%s@%s (acked %d)", g.Group, g.Node, g.AckedIndex))
		}
	}
	sort.Strings(nacks)
	sort.Strings(behind)
	switch {
	case len(nacks) > 0:
		return hold(r, "held: "+strings.Join(nacks, "; "))
	case len(behind) == 0:
		return Next{Update: update(r, state.ActAck, fmt.Sprintf("step %d (%d%%) applied: %d proxy group(s), %d stream(s) hold state index %d",
			rs.Step+1, rs.Weight, len(obs.Groups), streams, rs.StepIndex))}
	case obs.Now.Sub(rs.StepStartedAt) >= rs.PolicySpec.AckTimeout.D():
		return hold(r, fmt.Sprintf("held: not every proxy group ACKed step %d within %s: %s", rs.Step+1, rs.PolicySpec.AckTimeout.D(), strings.Join(behind, ", ")))
	}
	return Next{}
}

// hold records a hold reason once; repeating the same reason is not news.
func hold(r *state.Release, reason string) Next {
	if r.Status.Holding == reason {
		return Next{}
	}
	u := update(r, state.ActHold, reason)
	u.Holding = reason
	c := r.Status.Counters
	u.Counters = &c
	return Next{Update: u}
}

// AfterAnalysis is the pure second half: from a judgement, the command to
// propose. Only a Successful judgement after the bake advances; Failed
// rolls back once FailureLimit is reached; Inconclusive and Error hold
// until their limits, then roll back.
func AfterAnalysis(r *state.Release, j Judgement, now time.Time) *state.ReleaseUpdate {
	rs := &r.Status
	a := rs.PolicySpec.Analysis
	c := rs.Counters
	switch j.Phase {
	case Successful:
		c.Successes++
		c.Inconclusive, c.Errors = 0, 0
	case Failed:
		c.Failures++
		c.Inconclusive, c.Errors = 0, 0
	case Inconclusive:
		c.Inconclusive++
		c.Errors = 0
	default:
		c.Errors++
		c.Inconclusive = 0
	}
	withVerdict := func(u *state.ReleaseUpdate) *state.ReleaseUpdate {
		u.Verdict, u.Counters = j.Raw, &c
		return u
	}
	switch {
	case j.Phase == Failed && c.Failures >= a.FailureLimit:
		return withVerdict(update(r, state.ActRollback, fmt.Sprintf("rolled back at step %d (%d%%): %s", rs.Step+1, rs.Weight, j.Reason)))
	case j.Phase == Inconclusive && c.Inconclusive >= a.InconclusiveLimit:
		return withVerdict(update(r, state.ActRollback, fmt.Sprintf("rolled back at step %d: %d inconclusive analyses in a row (limit %d): %s", rs.Step+1, c.Inconclusive, a.InconclusiveLimit, j.Reason)))
	case j.Phase == Error && c.Errors >= a.ErrorLimit:
		return withVerdict(update(r, state.ActRollback, fmt.Sprintf("rolled back at step %d: %d analysis errors in a row (limit %d): %s", rs.Step+1, c.Errors, a.ErrorLimit, j.Reason)))
	case j.Phase == Successful && !now.Before(rs.BakeUntil):
		if rs.Step+1 >= len(rs.Plan) || rs.Weight >= 100 {
			return withVerdict(update(r, state.ActPromote, fmt.Sprintf("promoted: step %d (%d%%) baked and analysis successful: %s", rs.Step+1, rs.Weight, j.Reason)))
		}
		nextStep := rs.Plan[rs.Step+1]
		return withVerdict(update(r, state.ActAdvance, fmt.Sprintf("advance to step %d (%d%%): step %d baked %s and analysis successful: %s",
			rs.Step+2, nextStep.Weight, rs.Step+1, rs.Plan[rs.Step].Bake.D(), j.Reason)))
	}
	u := withVerdict(update(r, state.ActAnalysis, ""))
	switch j.Phase {
	case Successful:
		u.Message = fmt.Sprintf("analysis successful, baking until %s: %s", rs.BakeUntil.UTC().Format(time.RFC3339), j.Reason)
	case Failed:
		u.Message = fmt.Sprintf("analysis failed (%d of %d allowed): %s", c.Failures, a.FailureLimit, j.Reason)
		u.Holding = "held: " + u.Message
	case Inconclusive:
		u.Message = fmt.Sprintf("analysis inconclusive (%d of %d before rollback): %s", c.Inconclusive, a.InconclusiveLimit, j.Reason)
		u.Holding = "held: " + u.Message
	default:
		u.Message = fmt.Sprintf("analysis error (%d of %d before rollback): %s", c.Errors, a.ErrorLimit, j.Reason)
		u.Holding = "held: " + u.Message
	}
	return u
}
