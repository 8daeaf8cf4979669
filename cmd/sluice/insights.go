package main

import (
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/analysis/report"
	"github.com/sluicehq/sluice/analysis/window"
)

func newReportCmd(c *cli) *cobra.Command {
	var (
		days   int
		output string
	)
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Release statistics and the DORA figures Sluice can know",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rep report.Report
			if err := c.client().GetJSON(cmd.Context(), fmt.Sprintf("/v1/report?days=%d", days), &rep); err != nil {
				return err
			}
			if output == "json" {
				return printJSON(c.out, rep)
			}
			period := fmt.Sprintf("last %d days", days)
			if days == 0 {
				period = "all time"
			}
			tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "Releases (%s):\t%d (%d promoted, %d rolled back, %d aborted, %d active)\n", period, rep.Releases, rep.Promoted, rep.RolledBack, rep.Aborted, rep.Active)
			pct := func(s report.Share, goal string) string {
				return fmt.Sprintf("%.0f%% (%d of %d)%s", 100*s.Ratio, s.Count, s.Total, goal)
			}
			fmt.Fprintf(tw, "Risk-assessed:\t%s\n", pct(rep.RiskAssessed, "  goal 85%"))
			fmt.Fprintf(tw, "Window-scheduled:\t%s\n", pct(rep.WindowScheduled, "  goal 75%"))
			fmt.Fprintf(tw, "Blast-radius-limited:\t%s\n", pct(rep.BlastRadiusLimited, "  goal 80%"))
			fmt.Fprintf(tw, "Approval-gated:\t%s\n", pct(rep.ApprovalGated, ""))
			fmt.Fprintf(tw, "Deployment frequency:\t%.2f promotions/day\n", rep.DeploymentsPerDay)
			fmt.Fprintf(tw, "Lead time (submit to promoted):\t%s\n", durs(rep.LeadTime))
			fmt.Fprintf(tw, "Change failure rate:\t%.0f%%\n", 100*rep.ChangeFailureRate)
			fmt.Fprintf(tw, "Time to restore (failing step to rollback):\t%s\n", durs(rep.TimeToRestore))
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&days, "days", 30, "period in days (0 = all time)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func durs(d report.Durations) string {
	if d.Count == 0 {
		return "-"
	}
	return fmt.Sprintf("median %s, p90 %s (%d)", d.Median.Round(time.Second), d.P90.Round(time.Second), d.Count)
}

func newWindowCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "window", Short: "Release windows"}
	var (
		risk     float64
		duration time.Duration
		output   string
	)
	suggest := &cobra.Command{
		Use:   "suggest SERVICE",
		Short: "Suggest when a release of SERVICE may start: the best start with its reasons and the top alternatives",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out struct {
				Suggestion window.Suggestion `json:"suggestion"`
				Error      string            `json:"error"`
			}
			path := fmt.Sprintf("/v1/windows/%s?risk=%g&duration=%s", url.PathEscape(args[0]), risk, duration)
			if err := c.client().GetJSON(cmd.Context(), path, &out); err != nil {
				return err
			}
			if output == "json" {
				return printJSON(c.out, out)
			}
			s := out.Suggestion
			loc, err := time.LoadLocation(s.Timezone)
			if err != nil {
				loc = time.UTC
			}
			fmt.Fprintf(c.out, "Service %s, a %s release at risk %.2f (%s):\n", args[0], s.Duration, s.Risk, s.Timezone)
			if out.Error != "" {
				fmt.Fprintf(c.out, "No allowed start: %s\n", out.Error)
			} else {
				printCandidate(c, "Best", s.Best, loc)
				for i, a := range s.Alternatives {
					printCandidate(c, fmt.Sprintf("Alt %d", i+1), a, loc)
				}
			}
			fmt.Fprintf(c.out, "%d candidate starts, %d feasible; rejected: %d outside windows, %d in blackouts, %d on calendar days, %d without on-call\n",
				s.Considered, s.Feasible, s.Rejected.Window, s.Rejected.Blackout, s.Rejected.Calendar, s.Rejected.OnCall)
			for _, n := range s.Notes {
				fmt.Fprintln(c.out, "Note: "+n)
			}
			return nil
		},
	}
	suggest.Flags().Float64Var(&risk, "risk", 0.5, "risk of the release (0-1; from sluice risk explain)")
	suggest.Flags().DurationVar(&duration, "duration", time.Hour, "expected duration of the release")
	suggest.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	cmd.AddCommand(suggest)
	return cmd
}

func printCandidate(c *cli, label string, k window.Candidate, loc *time.Location) {
	fmt.Fprintf(c.out, "%-6s %s (%s, score %.3f)\n", label+":", k.Start.In(loc).Format("Mon 2006-01-02 15:04"), k.Window, k.Score)
	for _, r := range k.Reasons {
		fmt.Fprintln(c.out, "         - "+strings.TrimSpace(r))
	}
}
