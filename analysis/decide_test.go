package analysis

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

func TestDecide(t *testing.T) {
	verdict := func(p Phase, reason string) Verdict { return Verdict{Phase: p, Reason: reason} }
	limits := func(failure, inconclusive, errs int) config.ReleasePolicySpec {
		s := testSpec()
		s.Analysis = &config.AnalysisSpec{FailureLimit: failure, InconclusiveLimit: inconclusive, ErrorLimit: errs}
		return s
	}
	tests := []struct {
		name   string
		prev   Counters
		v      Verdict
		spec   config.ReleasePolicySpec
		want   Counters
		action Action
		reason string
	}{
		{
			name:   "Successful advances and resets the inconclusive and error counts",
			prev:   Counters{Successes: 2, Failures: 1, Inconclusive: 5, Errors: 3},
			v:      verdict(PhaseSuccessful, "all checks passed: x"),
			spec:   testSpec(),
			want:   Counters{Successes: 3, Failures: 1},
			action: ActionAdvance,
			reason: "analysis successful: all checks passed: x",
		},
		{
			name:   "Failed with the default limit (1) rolls back at once",
			v:      verdict(PhaseFailed, "burn rule fast fired: 1m burn 205.3 > 14.4 and 10s burn 198.0 > 14.4"),
			spec:   testSpec(),
			want:   Counters{Failures: 1},
			action: ActionRollBack,
			reason: "analysis failed once (failure limit 1): burn rule fast fired: 1m burn 205.3 > 14.4 and 10s burn 198.0 > 14.4",
		},
		{
			name:   "Failed under a limit of 3 holds",
			prev:   Counters{Failures: 1, Inconclusive: 2},
			v:      verdict(PhaseFailed, "r"),
			spec:   limits(3, 0, 0),
			want:   Counters{Failures: 2, Inconclusive: 2},
			action: ActionHold,
			reason: "analysis failed 2 times, rolls back after 3: r",
		},
		{
			name:   "Failed reaching a limit of 3 rolls back",
			prev:   Counters{Failures: 2},
			v:      verdict(PhaseFailed, "r"),
			spec:   limits(3, 0, 0),
			want:   Counters{Failures: 3},
			action: ActionRollBack,
			reason: "analysis failed 3 times (failure limit 3): r",
		},
		{
			name:   "Inconclusive holds: missing data never advances",
			v:      verdict(PhaseInconclusive, "too few requests: canary served 12 in 1m, needs 50"),
			spec:   testSpec(),
			want:   Counters{Inconclusive: 1},
			action: ActionHold,
			reason: "analysis inconclusive once, rolls back after 24: too few requests: canary served 12 in 1m, needs 50",
		},
		{
			name:   "the 24th Inconclusive in a row (2 minutes at 5s) rolls back",
			prev:   Counters{Inconclusive: 23, Successes: 4},
			v:      verdict(PhaseInconclusive, "r"),
			spec:   testSpec(),
			want:   Counters{Inconclusive: 24, Successes: 4},
			action: ActionRollBack,
			reason: "analysis inconclusive 24 times since the last successful one (inconclusive limit 24): r",
		},
		{
			name:   "Error holds",
			prev:   Counters{Inconclusive: 3},
			v:      verdict(PhaseError, "burn rule fast: query failed ..."),
			spec:   testSpec(),
			want:   Counters{Inconclusive: 3, Errors: 1},
			action: ActionHold,
			reason: "analysis errored once, rolls back after 12: burn rule fast: query failed ...",
		},
		{
			name:   "the 12th Error in a row (1 minute at 5s) rolls back",
			prev:   Counters{Errors: 11},
			v:      verdict(PhaseError, "r"),
			spec:   testSpec(),
			want:   Counters{Errors: 12},
			action: ActionRollBack,
			reason: "analysis errored 12 times since the last successful one (error limit 12): r",
		},
		{
			name:   "an error limit of 1 rolls back on the first Error",
			v:      verdict(PhaseError, "r"),
			spec:   limits(0, 0, 1),
			want:   Counters{Errors: 1},
			action: ActionRollBack,
			reason: "analysis errored once since the last successful one (error limit 1): r",
		},
		{
			name:   "Inconclusive does not reset Errors, nor Error Inconclusive",
			prev:   Counters{Inconclusive: 1, Errors: 1},
			v:      verdict(PhaseInconclusive, "r"),
			spec:   limits(0, 2, 0),
			want:   Counters{Inconclusive: 2, Errors: 1},
			action: ActionRollBack,
			reason: "analysis inconclusive 2 times since the last successful one (inconclusive limit 2): r",
		},
		{
			name:   "an unknown phase counts as Error",
			v:      verdict("Maybe", "r"),
			spec:   testSpec(),
			want:   Counters{Errors: 1},
			action: ActionHold,
			reason: `analysis errored once, rolls back after 12: unknown analysis phase "Maybe": r`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, action, reason := decideD(tc.prev, tc.v, tc.spec)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.action, action)
			require.Equal(t, tc.reason, reason)
		})
	}
}

// TestDecideSequence runs a release step through a realistic sequence:
// the step starts without enough data, gets it, then Prometheus goes away
// for a while and comes back.
func TestDecideSequence(t *testing.T) {
	spec := testSpec()
	var c Counters
	var action Action
	for range 10 {
		c, action, _ = decideD(c, Verdict{Phase: PhaseInconclusive}, spec)
		require.Equal(t, ActionHold, action)
	}
	c, action, _ = decideD(c, Verdict{Phase: PhaseSuccessful}, spec)
	require.Equal(t, ActionAdvance, action)
	require.Equal(t, Counters{Successes: 1}, c)
	for range 11 {
		c, action, _ = decideD(c, Verdict{Phase: PhaseError}, spec)
		require.Equal(t, ActionHold, action)
	}
	c, action, _ = decideD(c, Verdict{Phase: PhaseSuccessful}, spec)
	require.Equal(t, ActionAdvance, action)
	require.Equal(t, Counters{Successes: 2}, c)
}
