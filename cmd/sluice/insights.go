package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/analysis/report"
)

func newReportCmd(c *cli) *cobra.Command {
	var (
		days   int
		output *outputFormat
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
			return output.print(c.out, rep, func(w io.Writer) error { return printReport(w, &rep, days) })
		},
	}
	cmd.Flags().IntVar(&days, "days", 30, "period in days (0 = all time)")
	output = addOutputFlag(cmd)
	return cmd
}

// printReport is the table of `sluice report`.
func printReport(w io.Writer, rep *report.Report, days int) error {
	period := fmt.Sprintf("last %d days", days)
	if days == 0 {
		period = "all time"
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
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
}

func durs(d report.Durations) string {
	if d.Count == 0 {
		return "-"
	}
	return fmt.Sprintf("median %s, p90 %s (%d)", d.Median.Round(time.Second), d.P90.Round(time.Second), d.Count)
}
