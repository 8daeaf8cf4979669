// Package controller runs releases on the leader: it observes the
// replicated state, the proxies' ACKs and the analysis, decides with pure
// functions, and proposes each decision as one Raft command.
package controller

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/state"
)

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

// Decide is the pure first half of a controller step for a release that
// moves traffic: from the release and an observation, the command to
// propose or whether an analysis is due. Releases that have not started
// go through DecideAdmission instead.
func Decide(r *state.Release, obs Observation) Next {
	rs := &r.Status
	switch rs.Phase {
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

// AfterAnalysis is the pure second half: from a verdict, the command to
// propose. analysis.Decide counts and applies the policy's limits; only a
// Successful verdict after the bake advances (or promotes after the last
// step); a rollback carries the verdict that caused it.
func AfterAnalysis(r *state.Release, v analysis.Verdict, raw []byte, now time.Time) *state.ReleaseUpdate {
	rs := &r.Status
	prev := analysis.Counters(rs.Counters)
	c, act, reason := analysis.Decide(prev, v, rs.PolicySpec)
	sc := state.Counters(c)
	withVerdict := func(u *state.ReleaseUpdate) *state.ReleaseUpdate {
		u.Verdict, u.Counters = raw, &sc
		return u
	}
	switch {
	case act == analysis.ActionRollBack:
		return withVerdict(update(r, state.ActRollback, fmt.Sprintf("rolled back at step %d (%d%%): %s", rs.Step+1, rs.Weight, reason)))
	case act == analysis.ActionAdvance && !now.Before(rs.BakeUntil):
		if rs.Step+1 >= len(rs.Plan) || rs.Weight >= 100 {
			return withVerdict(update(r, state.ActPromote, fmt.Sprintf("promoted: step %d (%d%%) baked %s; %s", rs.Step+1, rs.Weight, rs.Plan[rs.Step].Bake.D(), reason)))
		}
		nextStep := rs.Plan[rs.Step+1]
		return withVerdict(update(r, state.ActAdvance, fmt.Sprintf("advance to step %d (%d%%): step %d baked %s; %s",
			rs.Step+2, nextStep.Weight, rs.Step+1, rs.Plan[rs.Step].Bake.D(), reason)))
	case act == analysis.ActionAdvance:
		u := withVerdict(update(r, state.ActAnalysis, fmt.Sprintf("%s; baking until %s", reason, rs.BakeUntil.UTC().Format(time.RFC3339))))
		return u
	}
	u := withVerdict(update(r, state.ActAnalysis, reason))
	u.Holding = "held: " + reason
	return u
}
