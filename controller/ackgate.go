package controller

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/state"
)

// The ACK gate. A step passes when every proxy group seen on a live node
// holds the step's state index, and every expected group (one that held
// the previous step or, at the first step, one recorded as serving the
// service: ReleaseStatus.ExpectedGroups) is among them. The expectation
// is replicated: after a leader change or a restart, proxies
// take a moment to reconnect, and a gate that only looked at who is
// connected now would pass with "0 proxy group(s)". An expected group that
// has no stream on any live node within the policy's ackTimeout stops
// being expected (it was scaled away or moved); the ACK says so.

// decideAck waits for every proxy group to hold the step's routes.
func decideAck(r *state.Release, fleet Fleet) Next {
	rs := &r.Status
	var behind, nacks []string
	streams := 0
	for _, g := range fleet.Groups {
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
	present := presentGroups(fleet.Groups)
	missing := missingGroups(rs.ExpectedGroups, present)
	timeout := rs.PolicySpec.AckTimeout.D()
	late := fleet.Now.Sub(rs.StepStartedAt) >= timeout
	switch {
	case len(nacks) > 0:
		return hold(r, state.HoldRejected, "held: "+strings.Join(nacks, "; "))
	case len(behind) == 0 && (len(missing) == 0 || late):
		msg := fmt.Sprintf("step %d (%d%%) applied: %d proxy group(s), %d stream(s) hold state index %d",
			rs.Step+1, rs.Weight, len(present), streams, rs.StepIndex)
		if len(missing) > 0 {
			msg += fmt.Sprintf("; no longer expected (no stream on any live node within %s): %s", timeout, strings.Join(missing, ", "))
		}
		if len(fleet.Unreachable) > 0 {
			msg += "; unreachable node(s), their proxies reconnect elsewhere: " + strings.Join(fleet.Unreachable, ", ")
		}
		return Next{Event: &state.AckStep{On: state.OnRelease(r, msg), Groups: present}}
	case late:
		return hold(r, state.HoldAckTimeout, fmt.Sprintf("held: not every proxy group ACKed step %d within %s: %s", rs.Step+1, timeout, strings.Join(behind, ", ")))
	}
	return Next{}
}

// presentGroups are the groups with a stream on some live node, sorted.
func presentGroups(groups []GroupAck) []string {
	var out []string
	for _, g := range groups {
		if g.Streams > 0 && !slices.Contains(out, g.Group) {
			out = append(out, g.Group)
		}
	}
	sort.Strings(out)
	return out
}

// missingGroups are the expected groups not present.
func missingGroups(expected, present []string) []string {
	var out []string
	for _, g := range expected {
		if !slices.Contains(present, g) {
			out = append(out, g)
		}
	}
	return out
}
