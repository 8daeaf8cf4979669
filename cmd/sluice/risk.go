package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/analysis/risk"
	"github.com/sluicehq/sluice/state"
)

func newRiskCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "risk",
		Short: "Inspect and evaluate the release risk model",
	}
	cmd.AddCommand(newRiskEvaluateCmd(c), newRiskExplainCmd(c))
	return cmd
}

func newRiskExplainCmd(c *cli) *cobra.Command {
	var output *outputFormat
	cmd := &cobra.Command{
		Use:   "explain RELEASE",
		Short: "Show a release's risk score, its top reasons in plain words and the plan it chose",
		Long: `Show a release's risk score, its top reasons in plain words and the plan it chose.
-o json and -o yaml print the release's recorded assessment.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := c.client().Release(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if r.Status.Assessment == nil {
				return fmt.Errorf("release %s has no risk assessment (it was created before assessments, or its policy could not be found)", r.Name())
			}
			return output.print(c.out, r.Status.Assessment, func(w io.Writer) error {
				printExplain(w, r)
				return nil
			})
		},
	}
	output = addOutputFlag(cmd)
	return cmd
}

// printExplain is the text of `risk explain`.
func printExplain(w io.Writer, r *state.Release) {
	a := r.Status.Assessment
	fmt.Fprintf(w, "Release %s: %s risk (p=%.2f), model %s, assessed %s\n", r.Name(), a.Level, a.Probability, a.ModelVersion, a.At.Local().Format("2006-01-02 15:04:05"))
	fmt.Fprintln(w, "Top reasons:")
	for _, line := range a.Reasons {
		fmt.Fprintln(w, "  - "+line)
	}
	var sc struct {
		Missing []string `json:"missing"`
		Invalid []string `json:"invalid"`
	}
	if json.Unmarshal(a.Score, &sc) == nil && len(sc.Missing) > 0 {
		fmt.Fprintf(w, "Not known (counted at the model's reference value): %s\n", strings.Join(sc.Missing, ", "))
	}
	if len(a.ServicesTouched) > 0 {
		fmt.Fprintf(w, "Services touched (with dependents): %s\n", strings.Join(a.ServicesTouched, ", "))
	}
	fmt.Fprintf(w, "Plan (%s): %s\n", a.PlanSource, planLine(r))
	for _, s := range a.ApprovalSteps {
		fmt.Fprintf(w, "A person must approve step %d before it starts.\n", s+1)
	}
	if g := r.Spec.Spec.Gates; len(g) > 0 {
		for _, gate := range g {
			state := "passed"
			if !gate.Passed {
				state = "FAILED"
			}
			req := ""
			if gate.Required {
				req = " (required: no model overrides it)"
			}
			fmt.Fprintf(w, "Gate %s: %s%s\n", gate.Name, state, req)
		}
	}
}

func newRiskEvaluateCmd(c *cli) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "evaluate --data FILE.csv [--data FILE2.csv ...]",
		Short: "Measure the risk model's AUC on public defect data with the published protocol",
		Long: `Evaluate the risk model on just-in-time defect data (the <project>_k_feature.csv
files of the ISSTA'21 JIT-DP benchmark). Per project, changes are taken in date
order: the oldest 80% train the model (the scaling is fitted there too) and the
newest 20% test it. AUCs are exact (Mann-Whitney, ties count one half).

Columns: the published LApredict AUC, logistic regression on lines added alone
(should reproduce LApredict), the model's terms trained within the project (the
published protocol), the difference, the terms trained on the other projects,
on all projects together, and the built-in default model as it is. Runs offline;
needs no server.`,
		Example: `  sluice risk evaluate --data qt_k_feature.csv --data openstack_k_feature.csv \
    --data jdt_k_feature.csv --data platform_k_feature.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return fmt.Errorf("--data FILE.csv is required (a JIT-DP <project>_k_feature.csv file; repeat the flag for more projects)")
			}
			var ps []risk.Project
			seen := map[string]string{}
			for _, f := range files {
				p, err := risk.LoadProject(f)
				if err != nil {
					return err
				}
				if prev, dup := seen[p.Name]; dup {
					return fmt.Errorf("--data %s: project %q already read from %s", f, p.Name, prev)
				}
				seen[p.Name] = f
				ps = append(ps, p)
			}
			def := risk.DefaultModel()
			rep, err := risk.Evaluate(ps, risk.EvalOptions{Default: def})
			if err != nil {
				return err
			}
			return printRiskReport(c.out, rep, def)
		},
	}
	cmd.Flags().StringArrayVar(&files, "data", nil, "JIT-DP <project>_k_feature.csv file (repeatable); the project is named by the file name up to its first '_'")
	return cmd
}

func riskAUC(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.4f", x)
}

func riskAUCDiff(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%+.4f", x)
}

func riskTermNames(terms []risk.FeatureSpec) string {
	var out []string
	for _, t := range terms {
		if t.Transform == risk.TransformIdentity {
			out = append(out, t.Name)
		} else {
			out = append(out, t.Transform+"("+t.Name+")")
		}
	}
	return strings.Join(out, ", ")
}

func printRiskReport(w io.Writer, rep *risk.Report, def *risk.Model) error {
	fmt.Fprintf(w, "Protocol: per project, changes in date order; oldest 80%% train (scaling fitted there), newest 20%% test.\n")
	fmt.Fprintf(w, "Model terms: %s\n\n", riskTermNames(risk.DefaultTerms()))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "project\trows\ttrain\ttest\ttest buggy\tLApredict (published)\tLR on la\tours (within project)\tours - published\tcross-project\tpooled\tdefault model\t")
	beat, beatDefault, compared := 0, 0, 0
	for _, r := range rep.Projects {
		diff := r.WithinProject - r.Published
		if !math.IsNaN(diff) {
			compared++
			if diff > 0 {
				beat++
			}
			if r.Default > r.Published {
				beatDefault++
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d (%.1f%%)\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Project, r.Rows, r.TrainRows, r.TestRows, r.TestFailures, 100*float64(r.TestFailures)/float64(r.TestRows),
			riskAUC(r.Published), riskAUC(r.LAOnly), riskAUC(r.WithinProject), riskAUCDiff(diff), riskAUC(r.CrossProject), riskAUC(r.Pooled), riskAUC(r.Default))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nWithin project, the model beats the published LApredict AUC on %d of %d projects with a published number;\n", beat, compared)
	fmt.Fprintf(w, "the default model (%s) beats it on %d of %d.\n", def.Version, beatDefault, compared)
	fmt.Fprintf(w, "Published LApredict: %s.\n", risk.PublishedSource)
	if len(rep.Levels) == 0 {
		return nil
	}
	total := 0
	for _, l := range rep.Levels {
		total += l.Changes
	}
	fmt.Fprintf(w, "\nDefault model %s on all test sets (%d changes); medium from p >= %.4f, high from p >= %.4f:\n",
		def.Version, total, def.Cutoffs.Medium, def.Cutoffs.High)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "level\tchanges\tshare\tbuggy\tbuggy rate\t")
	for _, l := range rep.Levels {
		share, rate := 0.0, 0.0
		if total > 0 {
			share = 100 * float64(l.Changes) / float64(total)
		}
		if l.Changes > 0 {
			rate = 100 * float64(l.Failures) / float64(l.Changes)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t%d\t%.1f%%\t\n", l.Level, l.Changes, share, l.Failures, rate)
	}
	return tw.Flush()
}
