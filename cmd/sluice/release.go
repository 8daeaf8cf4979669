package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

func newReleaseCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Start, watch and steer progressive releases",
	}
	cmd.AddCommand(newReleaseStartCmd(c), newReleaseStatusCmd(c), newReleaseHistoryCmd(c), newReleaseWatchCmd(c), newReleaseApproveCmd(c), newReleaseUndoCmd(c))
	for _, verb := range []struct{ name, short string }{
		{"pause", "Stop a release's clock; traffic stays where it is"},
		{"resume", "Start a paused release's clock again"},
		{"promote", "End a release now with all traffic on the new version"},
		{"rollback", "End a release now with all traffic on the stable version"},
		{"abort", "Stop a release: all traffic back to the stable version"},
	} {
		cmd.AddCommand(newReleaseActionCmd(c, verb.name, verb.short))
	}
	return cmd
}

func newReleaseStartCmd(c *cli) *cobra.Command {
	var rel config.Release
	cmd := &cobra.Command{
		Use:   "start SERVICE --to VERSION",
		Short: "Start releasing a new version of a service under its policy",
		Example: `  sluice release start greeter --to v2
  sluice release start greeter --to v2 --from v1 --name greeter-v2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rel.Spec.Service = args[0]
			if rel.Spec.To == "" {
				return fmt.Errorf("--to VERSION is required")
			}
			if rel.Metadata.Name == "" {
				rel.Metadata.Name = state.ReleaseName(rel.Spec.Service, rel.Spec.To, time.Now())
			}
			r, err := c.client().StartRelease(cmd.Context(), rel)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "release %s created: %s %s -> %s, %d steps under policy %s\n", r.Name(), r.Service(), r.Status.From, r.Spec.Spec.To, len(r.Status.Plan), r.Status.Policy)
			fmt.Fprintf(c.out, "watch it with: sluice release watch %s\n", r.Name())
			return nil
		},
	}
	cmd.Flags().StringVar(&rel.Spec.To, "to", "", "version to release")
	cmd.Flags().StringVar(&rel.Spec.From, "from", "", "version traffic leaves (default: the current stable version)")
	cmd.Flags().StringVar(&rel.Metadata.Name, "name", "", "release name (default: SERVICE-VERSION-MMDD-HHMMSS)")
	return cmd
}

func newReleaseUndoCmd(c *cli) *cobra.Command {
	var req api.UndoRequest
	cmd := &cobra.Command{
		Use:   "undo SERVICE",
		Short: "Go back to the version a service ran before its last promotion",
		Long: `Go back to the version a service ran before its last promotion.

By default this starts a new release from the version running now back to the previous one,
analysed and gated like any other (deployer role). With --now all traffic goes back at once,
recorded with who asked and why (approver role). A release still in progress is rolled back
with 'sluice release rollback', not undone.`,
		Example: `  sluice release undo greeter
  sluice release undo greeter --now --reason "INC-42: errors since v3"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := c.client().Undo(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			p := res.Plan
			if res.Now {
				fmt.Fprintf(c.out, "%s: all traffic back from %s to %s now (undoing release %s)\n", p.Service, p.From, p.To, p.Release)
				return nil
			}
			fmt.Fprintf(c.out, "release %s created: %s %s -> %s, undoing release %s\n", res.Release.Name(), p.Service, p.From, p.To, p.Release)
			fmt.Fprintf(c.out, "watch it with: sluice release watch %s\n", res.Release.Name())
			return nil
		},
	}
	cmd.Flags().BoolVar(&req.Now, "now", false, "send all traffic back at once, unanalysed (approver role)")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why (recorded)")
	return cmd
}

func newReleaseActionCmd(c *cli, verb, short string) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := c.client().ReleaseAction(cmd.Context(), args[0], verb, reason)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "release %s: %s (step %s, %d%% on %s)\n", r.Name(), r.Status.Phase, stepLabel(r), r.Status.Weight, r.Spec.Spec.To)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded with the decision)")
	return cmd
}

func newReleaseApproveCmd(c *cli) *cobra.Command {
	var req api.ActionRequest
	cmd := &cobra.Command{
		Use:   "approve NAME",
		Short: "Approve what a release waits for: a step, a failed gate (--override-gate) or starting now (--start-now)",
		Long: `Approve what a release waits for, recorded with who and why. Needs the approver role.

Without flags it approves the step the release waits to enter (exposure budget, high
risk). --override-gate GATE lets a release whose required quality gate failed start;
it needs --reason. --start-now starts a release outside its release window.`,
		Example: `  sluice release approve greeter-v2
  sluice release approve greeter-v2 --override-gate integration-tests --reason "flaky suite, INC-123"
  sluice release approve greeter-v2 --start-now --reason "hotfix"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := c.client().ApproveWith(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			a := r.Status.Approvals[len(r.Status.Approvals)-1]
			switch {
			case a.Gate != "":
				fmt.Fprintf(c.out, "release %s: gate %s overridden by %s (%s)\n", r.Name(), a.Gate, a.Actor, r.Status.Phase)
			case a.StartNow:
				fmt.Fprintf(c.out, "release %s: start now approved by %s (%s)\n", r.Name(), a.Actor, r.Status.Phase)
			default:
				fmt.Fprintf(c.out, "release %s: step %d approved by %s\n", r.Name(), a.Step+1, a.Actor)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why (recorded; required with --override-gate)")
	cmd.Flags().IntVar(&req.Step, "step", 0, "plan step to approve (1-based; default: the step the release waits for)")
	cmd.Flags().StringVar(&req.OverrideGate, "override-gate", "", "failed required quality gate to let past")
	cmd.Flags().BoolVar(&req.StartNow, "start-now", false, "start now, outside the release window")
	return cmd
}

func stepLabel(r *state.Release) string { return stepOf(r.Status.Step, len(r.Status.Plan)) }

func newReleaseStatusCmd(c *cli) *cobra.Command {
	var output *outputFormat
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a release's phase, step, weights, hold reason and last analysis",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := c.client().Release(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return output.print(c.out, viewRelease(r), func(w io.Writer) error {
				printStatus(w, r, time.Now())
				return nil
			})
		},
	}
	output = addOutputFlag(cmd)
	return cmd
}

// verdictView is the part of an analysis verdict the CLI shows.
type verdictView struct {
	Phase  string `json:"phase"`
	Reason string `json:"reason"`
}

func printStatus(w io.Writer, r *state.Release, now time.Time) {
	rs := &r.Status
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Release:\t%s\n", r.Name())
	fmt.Fprintf(tw, "Service:\t%s  %s -> %s  (policy %s)\n", r.Service(), rs.From, r.Spec.Spec.To, rs.Policy)
	fmt.Fprintf(tw, "Phase:\t%s\n", rs.Phase)
	if who, ok := pausedBy(r, now); ok {
		fmt.Fprintf(tw, "Paused:\t%s\n", who)
	}
	fmt.Fprintf(tw, "Step:\t%s  %s\n", stepLabel(r), planLine(r))
	if st, ok := r.Stage(rs.Step); ok {
		fmt.Fprintf(tw, "Cohort:\t%s\n", describeStage(st))
	}
	printMirror(tw, r)
	fmt.Fprintf(tw, "Traffic:\t%s %d%%  |  %s %d%%  %s\n", rs.From, 100-rs.Weight, r.Spec.Spec.To, rs.Weight, bar(rs.Weight, 30))
	switch {
	case rs.Phase == state.PhaseProgressing && !rs.Acked:
		fmt.Fprintf(tw, "Proxies:\twaiting for every proxy group to ACK state index %d (since %s)\n", rs.StepIndex, ago(now, rs.StepStartedAt))
	case rs.Phase == state.PhaseProgressing:
		step, _ := r.CurrentStep()
		if rs.Baked.D() < step.Bake.D() {
			fmt.Fprintf(tw, "Bake:\t%s of %s baked with analysis data (not before %s)\n", rs.Baked.D().Round(time.Second), step.Bake.D(), rs.BakeUntil.Local().Format("15:04:05"))
		} else {
			fmt.Fprintf(tw, "Bake:\tdone; advances on the next successful analysis\n")
		}
	}
	if rb := rs.Rollback; rb != nil {
		fmt.Fprintf(tw, "Rollback:\t%s\n", rollbackLine(rs, rb, now))
	}
	if a := rs.Assessment; a != nil {
		fmt.Fprintf(tw, "Risk:\t%s (p=%.2f, model %s), plan from %s\n", a.Level, a.Probability, a.ModelVersion, a.PlanSource)
	}
	if !rs.ScheduledAt.IsZero() && rs.Phase == state.PhaseScheduled {
		fmt.Fprintf(tw, "Scheduled:\t%s (in %s)\n", rs.ScheduledAt.Local().Format("Mon 2006-01-02 15:04 MST"), rs.ScheduledAt.Sub(now).Round(time.Second))
	}
	if e := rs.Exposure; e != nil {
		share := "unknown"
		if e.Share >= 0 {
			share = fmt.Sprintf("~%g%% of traffic", e.Share)
		}
		fmt.Fprintf(tw, "Exposure:\tstep %d: %s (%s), %s tenants, %s regions; %s\n", e.Step+1, share, e.Source, countOrAll(e.Tenants), countOrAll(e.Regions), e.Detail)
		if b := rs.PolicySpec.Exposure; b != nil {
			fmt.Fprintf(tw, "Budget:\tmax %g%% of traffic, %d tenants, %d regions (0 = no limit) before approval\n", b.MaxTrafficShare, b.MaxTenants, b.MaxRegions)
		}
	}
	for _, a := range rs.Approvals {
		what := fmt.Sprintf("step %d", a.Step+1)
		switch {
		case a.Gate != "":
			what = "gate " + a.Gate + " overridden"
		case a.StartNow:
			what = "start now"
		}
		fmt.Fprintf(tw, "Approved:\t%s by %s at %s %s\n", what, a.Actor, a.Time.Local().Format("15:04:05"), a.Reason)
	}
	if h := rs.Hold; h != nil {
		fmt.Fprintf(tw, "Holding:\t%s (%s)\n", h.Message, h.Kind)
	}
	if len(rs.LastVerdict) > 0 {
		var v verdictView
		if json.Unmarshal(rs.LastVerdict, &v) == nil {
			fmt.Fprintf(tw, "Analysis:\t%s: %s\n", v.Phase, v.Reason)
		}
	}
	fmt.Fprintf(tw, "Counters:\t%d successful, %d failed, %d inconclusive in a row, %d errors in a row\n",
		rs.Counters.Successes, rs.Counters.Failures, rs.Counters.Inconclusive, rs.Counters.Errors)
	if rs.Reason != "" {
		fmt.Fprintf(tw, "Ended:\t%s\n", rs.Reason)
	}
	tw.Flush()
}

func describeStage(st config.CohortStage) string {
	var parts []string
	if len(st.Tenants) > 0 {
		parts = append(parts, "tenants "+strings.Join(st.Tenants, ","))
	}
	if len(st.Regions) > 0 {
		parts = append(parts, "regions "+strings.Join(st.Regions, ","))
	}
	if len(st.Headers) > 0 {
		parts = append(parts, fmt.Sprintf("%d header match(es)", len(st.Headers)))
	}
	parts = append(parts, fmt.Sprintf("%d%% of the rest", st.EffectivePercent()))
	return st.Name + ": " + strings.Join(parts, ", ")
}

func planLine(r *state.Release) string {
	parts := make([]string, len(r.Status.Plan))
	for i, s := range r.Status.Plan {
		p := fmt.Sprintf("%d%%/%s", s.Weight, s.Bake.D())
		if s.Cohort != "" {
			p = fmt.Sprintf("%s/%s", s.Cohort, s.Bake.D())
		}
		if s.Mirror != 0 {
			p = fmt.Sprintf("%s/%s", mirrorLabel(s.Mirror), s.Bake.D())
		}
		if i == r.Status.Step {
			p = "[" + p + "]"
		}
		parts[i] = p
	}
	return strings.Join(parts, " ")
}

func countOrAll(n int) string {
	if n < 0 {
		return "all"
	}
	return fmt.Sprint(n)
}

func bar(weight uint32, width int) string {
	n := int(weight) * width / 100
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Round(time.Second).String() + " ago"
}

func newReleaseHistoryCmd(c *cli) *cobra.Command {
	var output *outputFormat
	cmd := &cobra.Command{
		Use:   "history NAME",
		Short: "Show every decision of a release, with who made it and why",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := c.client().Release(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return output.print(c.out, historyView(r.Status.Decisions), func(w io.Writer) error {
				return printHistory(w, r.Status.Decisions)
			})
		},
	}
	output = addOutputFlag(cmd)
	cmd.Flags().Lookup("output").Usage = "output format: table, yaml or json (yaml and json include every analysis measurement)"
	return cmd
}

// webhookCallText is one webhook call of a decision, for the history.
func webhookCallText(c state.WebhookCall) string {
	answer := fmt.Sprintf("HTTP %d", c.Status)
	if c.Error != "" && c.Error != state.WebhookErrStatus {
		answer = fmt.Sprintf("no answer (%s: %s)", c.Error, clip(c.Detail, 80))
	}
	out := fmt.Sprintf("%s webhook %s: POST %s -> %s in %s", c.Type, c.Name, c.URL, answer, c.Latency.D())
	if c.Body != "" {
		out += ": " + clip(strings.Join(strings.Fields(c.Body), " "), 80)
	}
	return out
}

func newReleaseWatchCmd(c *cli) *cobra.Command {
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "watch NAME",
		Short: "Follow a release live until it ends (exit code 2 unless promoted)",
		Long: `Follow a release live until it ends; the exit code is 2 unless it was promoted.

On a terminal one view is redrawn in place: phase, step, bake countdown, latest
verdict and the last decisions, in colour unless NO_COLOR is set. Piped, every
decision is printed as a plain line as it is made.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWatch(cmd.Context(), c.out, c.display(), &releaseWatch{cl: c.client(), name: args[0]}, interval)
		},
	}
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "refresh interval")
	return cmd
}

// clip shortens a line for live views; history keeps the full text.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func stepOf(step, n int) string {
	if step < 0 {
		return "-/" + fmt.Sprint(n)
	}
	return fmt.Sprintf("%d/%d", step+1, n)
}

func printReleases(w io.Writer, items []api.ReleaseSummary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSERVICE\tFROM\tTO\tPHASE\tSTEP\tWEIGHT\tNOTE")
	for _, r := range items {
		note := r.Reason
		if r.Hold != nil {
			note = r.Hold.Message
		}
		note = clip(note, 100)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d%%\t%s\n", r.Name, r.Service, r.From, r.To, r.Phase, stepOf(r.Step, r.Steps), r.Weight, dash(note))
	}
	return tw.Flush()
}
