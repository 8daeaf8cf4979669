package test

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/state"
)

// checkReleases asserts the release invariants on every release the run
// started, from its decision record read consistently after the run: no
// lost release, no skipped or repeated step, no undone rollback. Decisions
// of a deposed leader are refused by the events' guards: a stale one would
// show up here as a repeated or skipped step.
func (c *chaosEnv) checkReleases() {
	t := c.t
	for name, svc := range c.started {
		r := c.waitConsistent(name, 60*time.Second, "read after the run", func(*state.Release) bool { return true })
		require.Truef(t, r.Status.Phase.Terminal(), "%s lost: still %s", name, r.Status.Phase)
		if svc == "fail" {
			requireRolledBackByAnalysis(t, r)
			require.Equal(t, 0, r.Status.Step, "%s advanced on a failing step", name)
		} else {
			require.Equalf(t, state.PhasePromoted, r.Status.Phase, "%s: %s", name, r.Status.Reason)
			checkDecisions(t, r)
		}
		for i, d := range r.Status.Decisions {
			if d.Action != state.DecisionRollback {
				continue
			}
			for _, later := range r.Status.Decisions[i+1:] {
				require.NotContainsf(t, []state.DecisionKind{state.DecisionAdvance, state.DecisionPromote, state.DecisionAck, state.DecisionStart},
					later.Action, "%s: %s after the rollback undoes it", name, later.Action)
			}
		}
	}
	for svc, v := range c.current {
		waitTraffic(t, c.loads[svc], v)
	}
}

// decisionLatencies is, for every leader kill, the time until a new
// leader's controller recorded its first decision on the release.
func (c *chaosEnv) decisionLatencies() []time.Duration {
	var out []time.Duration
	for _, k := range c.kills {
		r := c.waitConsistent(k.release, 30*time.Second, "read", func(*state.Release) bool { return true })
		if d := decidedAfter(r, k.at, k.old); d != nil {
			out = append(out, d.Time.Sub(k.at))
		}
	}
	return out
}

// staleRefusals counts the decisions the controllers dropped as stale
// (state.ErrConflict) or could not apply (no longer the leader), from the
// nodes' logs.
func (c *chaosEnv) staleRefusals() (stale, notApplied int) {
	for _, p := range c.procs {
		logs := p.logs.String()
		stale += strings.Count(logs, "stale decision dropped")
		notApplied += strings.Count(logs, "decision not applied")
	}
	return stale, notApplied
}

// report logs the run's figures; docs/reliability.md quotes them.
func (c *chaosEnv) report(rounds, ops, unknown int) {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos: %d round(s), %d releases\n", rounds, len(c.started))
	kinds := make([]string, 0, len(c.faults))
	total := 0
	for k, n := range c.faults {
		kinds = append(kinds, fmt.Sprintf("%s ×%d", k, n))
		total += n
	}
	slices.Sort(kinds)
	fmt.Fprintf(&b, "faults injected: %d (%s)\n", total, strings.Join(kinds, ", "))
	elections := make([]time.Duration, 0, len(c.kills))
	for _, k := range c.kills {
		elections = append(elections, k.election)
	}
	fmt.Fprintf(&b, "failover, kill -9 of the leader -> a new leader (n=%d): %s\n", len(elections), quantiles(elections))
	fmt.Fprintf(&b, "failover, kill -9 of the leader -> next controller decision recorded (n=%d): %s\n", len(c.kills), quantiles(c.decisionLatencies()))
	fmt.Fprintf(&b, "rollback latency under faults, start -> rollback (n=%d): %s\n", len(c.rollback), quantiles(c.rollback))
	stale, notApplied := c.staleRefusals()
	fmt.Fprintf(&b, "controller decisions refused as stale: %d, not applied (leadership lost): %d\n", stale, notApplied)
	fmt.Fprintf(&b, "linearizability: %d operations (%d writes of unknown outcome), porcupine: Ok\n", ops, unknown)
	fmt.Fprintf(&b, "violations found: 0\n")
	c.t.Log("\n" + b.String())
}

// quantiles formats p50, p99 and max of ds.
func quantiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	r := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	return fmt.Sprintf("p50 %s, p99 %s, max %s", r(q(0.5)), r(q(0.99)), r(s[len(s)-1]))
}
