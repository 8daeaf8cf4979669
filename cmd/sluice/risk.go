package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
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
	cmd.AddCommand(newRiskEvaluateCmd(c), newRiskTrainCmd(c), newRiskExplainCmd(c), newRiskInstallCmd(c), newRiskModelCmd(c))
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

// riskData are the flags that say which data files to read and how;
// `risk evaluate` and `risk train` share them.
type riskData struct {
	files, names, baselines, terms []string
	mapping                        map[string]string
}

func (d *riskData) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&d.files, "data", nil, "JIT data CSV file (repeatable), e.g. a JIT-DP <project>_k_feature.csv")
	cmd.Flags().StringArrayVar(&d.names, "name", nil, "the project's name for the --data file in the same position (default: the file name up to its first '_' or '.')")
	cmd.Flags().StringArrayVar(&d.baselines, "baseline", nil, "a published baseline to show beside the --data file in the same position, e.g. issta21:qt (issta21 projects: qt, openstack, jdt, platform, gerrit, go); none is shown unless named")
	cmd.Flags().StringToStringVar(&d.mapping, "map", nil, "the data files' names for the columns Sluice reads, e.g. la=LinesAdded,date=committed_at (columns: _id, date, bug, la, ld, nf, nd, ns, entrophy, exp, fix, age; dates are Unix seconds, RFC 3339 or YYYY/MM/DD HH:MM)")
	cmd.Flags().StringSliceVar(&d.terms, "terms", nil, "the model's terms, e.g. linesAdded,files,fix (default: the default model's; only their columns, date and bug are required)")
}

// modelTerms are the terms --terms names, or the default terms.
func (d *riskData) modelTerms() ([]risk.FeatureSpec, error) {
	if len(d.terms) == 0 {
		return risk.DefaultTerms(), nil
	}
	var out []risk.FeatureSpec
	for _, n := range d.terms {
		t, err := risk.TermNamed(strings.TrimSpace(n))
		if err != nil {
			return nil, fmt.Errorf("--terms: %w", err)
		}
		out = append(out, t)
	}
	return out, nil
}

// load reads every --data file with its --name and --baseline, requiring
// only the columns of terms; warnings go to standard error.
func (d *riskData) load(errOut io.Writer, terms []risk.FeatureSpec) ([]risk.Project, error) {
	if len(d.files) == 0 {
		return nil, fmt.Errorf("--data FILE.csv is required (a JIT-DP <project>_k_feature.csv file; repeat the flag for more projects)")
	}
	if len(d.names) > len(d.files) || len(d.baselines) > len(d.files) {
		return nil, fmt.Errorf("%d --data file(s) but %d --name and %d --baseline: each --name and --baseline goes with the --data in the same position", len(d.files), len(d.names), len(d.baselines))
	}
	var ps []risk.Project
	seen := map[string]string{}
	for i, f := range d.files {
		p, warns, err := risk.LoadProjectWith(f, risk.ReadOptions{Map: d.mapping, Terms: terms})
		var mc *risk.MissingColumnsError
		if errors.As(err, &mc) && len(d.terms) == 0 {
			return nil, fmt.Errorf("%w; or leave their terms out with --terms (the default terms are %s)", err, riskTermList(risk.DefaultTerms()))
		}
		if err != nil {
			return nil, err
		}
		for _, w := range warns {
			fmt.Fprintf(errOut, "warning: %s: %s\n", f, w)
		}
		if i < len(d.names) && d.names[i] != "" {
			p.Name = d.names[i]
		}
		if i < len(d.baselines) {
			if p.Baseline, err = riskBaseline(d.baselines[i]); err != nil {
				return nil, fmt.Errorf("--baseline %s (for --data %s): %w", d.baselines[i], f, err)
			}
		}
		if prev, dup := seen[p.Name]; dup {
			return nil, fmt.Errorf("--data %s: project %q already read from %s", f, p.Name, prev)
		}
		seen[p.Name] = f
		ps = append(ps, p)
	}
	return ps, nil
}

func newRiskEvaluateCmd(c *cli) *cobra.Command {
	var data riskData
	cmd := &cobra.Command{
		Use:   "evaluate --data FILE.csv [--data FILE2.csv ...] [--map la=LA,...]",
		Short: "Measure the risk model on public defect data with the published protocol, with bootstrap intervals",
		Long: `Evaluate the risk model on just-in-time defect data (the <project>_k_feature.csv
files of the ISSTA'21 JIT-DP benchmark, or your own with --map). Per project,
changes are taken in date order: the oldest 80% train the model (the scaling is
fitted there too) and the newest 20% test it. AUCs are exact (Mann-Whitney,
ties count one half).

Columns: the published LApredict AUC (for projects whose --baseline names
it), logistic regression on lines added alone (should reproduce LApredict),
the terms trained within the project (terms chosen on a validation split of
the training part), the terms trained on the other projects (leave one
project out), on all projects together, and the built-in default model as
it is. Each difference to LR on la comes with its paired-bootstrap 95%
interval. A second table gives the Brier score, recall at 20% of the churn
and Popt. Runs offline; needs no server.`,
		Example: `  sluice risk evaluate --data mine.csv --name payments --map la=LinesAdded,date=committed_at
  sluice risk evaluate --data mine.csv --terms linesAdded,linesDeleted,files,fix
  sluice risk evaluate --data qt_k_feature.csv --baseline issta21:qt \
    --data openstack_k_feature.csv --baseline issta21:openstack`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			terms, err := data.modelTerms()
			if err != nil {
				return err
			}
			ps, err := data.load(c.errOut, terms)
			if err != nil {
				return err
			}
			def := risk.DefaultModel()
			opts := risk.EvalOptions{Terms: terms}
			if len(data.terms) == 0 {
				opts.Default = def // it needs the default terms' columns
			}
			rep, err := risk.Evaluate(ps, opts)
			if err != nil {
				return err
			}
			return printRiskReport(c.out, rep, terms, opts.Default)
		},
	}
	data.addFlags(cmd)
	return cmd
}

func newRiskTrainCmd(c *cli) *cobra.Command {
	var data riskData
	var out string
	cmd := &cobra.Command{
		Use:   "train --data FILE.csv [--data FILE2.csv ...] [-o model.json]",
		Short: "Train a risk model on defect data and write it as JSON",
		Long: `Train the risk model's terms on just-in-time defect data, every row of every
--data file (each file a group with its own intercept in the fit, as the
default model is made), append the release-time priors and write the model
as JSON (the form the cluster stores). Takes the same data options as
risk evaluate. For a project whose --baseline names a published LApredict
AUC, it also prints the terms' held-out AUC on that project (oldest 80%
train, newest 20% test) beside it.`,
		Example: `  sluice risk train --data mine.csv --name payments --map la=LinesAdded,date=committed_at -o model.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			terms, err := data.modelTerms()
			if err != nil {
				return err
			}
			ps, err := data.load(c.errOut, terms)
			if err != nil {
				return err
			}
			m, err := risk.TrainProjects(ps, terms)
			if err != nil {
				return err
			}
			for _, p := range ps {
				if p.Baseline == "" {
					continue
				}
				auc, err := risk.HeldOutAUC(p, terms)
				if err != nil {
					return err
				}
				pub, _ := risk.PublishedLApredict(p.Baseline)
				fmt.Fprintf(c.errOut, "%s: held-out AUC %.4f (oldest 80%% train, newest 20%% test); published LApredict (%s) %.4f\n", p.Name, auc, p.Baseline, pub)
			}
			b, err := json.MarshalIndent(m.Stored(), "", "  ")
			if err != nil {
				return err
			}
			b = append(b, '\n')
			if out == "" || out == "-" {
				_, err = c.out.Write(b)
				return err
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return fmt.Errorf("writing the model: %w", err)
			}
			fmt.Fprintf(c.errOut, "wrote model %s (%d samples, %d failures) to %s\n", m.Version, m.Samples, m.Failures, out)
			return nil
		},
	}
	data.addFlags(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write the model to (default: standard output)")
	return cmd
}

// riskBaseline reads a --baseline value: "issta21:PROJECT", or "" for none.
func riskBaseline(v string) (string, error) {
	if v == "" || v == "none" {
		return "", nil
	}
	src, project, ok := strings.Cut(v, ":")
	if !ok || src != "issta21" {
		return "", fmt.Errorf("want issta21:PROJECT (the ISSTA'21 JIT-DP benchmark's published LApredict AUC)")
	}
	if _, ok := risk.PublishedLApredict(project); !ok {
		return "", fmt.Errorf("the ISSTA'21 benchmark publishes no LApredict AUC for %q (it has qt, openstack, jdt, platform, gerrit, go)", project)
	}
	return project, nil
}

func riskAUC(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.4f", x)
}

// riskTermList names terms as --terms takes them.
func riskTermList(terms []risk.FeatureSpec) string {
	var out []string
	for _, t := range terms {
		out = append(out, t.Name)
	}
	return strings.Join(out, ",")
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

// riskInterval writes an AUC difference with its 95% interval, marked
// "*" when the interval lies above zero.
func riskInterval(iv risk.Interval) string {
	if math.IsNaN(iv.Estimate) {
		return "n/a"
	}
	mark := ""
	if iv.Significant() {
		mark = "*"
	}
	return fmt.Sprintf("%+.4f [%+.4f,%+.4f]%s", iv.Estimate, iv.Low, iv.High, mark)
}

func riskFigure(x float64, format string) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf(format, x)
}

func printRiskReport(w io.Writer, rep *risk.Report, terms []risk.FeatureSpec, def *risk.Model) error {
	fmt.Fprintf(w, "Protocol: per project, changes in date order; oldest 80%% train (scaling fitted there), newest 20%% test.\n")
	fmt.Fprintf(w, "Model terms: %s\n", riskTermNames(terms))
	fmt.Fprintf(w, "Intervals: paired bootstrap of the test rows (%d resamples, seed %d), 95%% interval of AUC minus LR-on-la's AUC; * = above zero.\n\n", rep.Resamples, rep.Seed)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "project\trows\ttrain\ttest\ttest buggy\tLApredict (published)\tLR on la\twithin project\tdifference [95% CI]\tleave project out\tdifference [95% CI]\tpooled\tdefault model\tdifference [95% CI]\t")
	for _, r := range rep.Projects {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d (%.1f%%)\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Project, r.Rows, r.TrainRows, r.TestRows, r.TestFailures, 100*float64(r.TestFailures)/float64(r.TestRows),
			riskAUC(r.Published), riskAUC(r.LAOnly.AUC), riskAUC(r.Within.AUC), riskInterval(r.WithinDiff),
			riskAUC(r.Cross.AUC), riskInterval(r.CrossDiff), riskAUC(r.Pooled), riskAUC(r.Default.AUC), riskInterval(r.DefaultDiff))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nCalibration and effort (Brier score, lower is better; recall of buggy changes within 20%% of the churn; Popt), ranked by probability per changed line:\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "project\tmodel\tterms\tAUC\tBrier\trecall@20%\tPopt\t")
	for _, r := range rep.Projects {
		rows := []struct {
			name, terms string
			m           risk.Metrics
		}{
			{"LR on la", "linesAdded", r.LAOnly},
			{"within project", fmt.Sprintf("%s; L2 %g", riskTermNames(r.WithinTerms), r.WithinLambda), r.Within},
			{"leave project out", riskTermNames(terms), r.Cross},
		}
		if def != nil {
			rows = append(rows, struct {
				name, terms string
				m           risk.Metrics
			}{"default model", def.Version, r.Default})
		}
		for _, row := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Project, row.name, row.terms, riskAUC(row.m.AUC),
				riskFigure(row.m.Brier, "%.4f"), riskFigure(row.m.RecallAt20, "%.3f"), riskFigure(row.m.Popt, "%.3f"))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var within, cross, below, n int
	for _, r := range rep.Projects {
		n++
		if r.WithinDiff.Significant() {
			within++
		}
		if r.CrossDiff.Significant() {
			cross++
		}
		if r.CrossDiff.High < 0 || r.DefaultDiff.High < 0 {
			below++
		}
	}
	fmt.Fprintf(w, "\nWithin project, the model's AUC is significantly above LR on la on %d of %d projects; left out of training, on %d of %d;\n", within, n, cross, n)
	if def != nil {
		fmt.Fprintf(w, "significantly below it (left out, or the default model %s) on %d.\n", def.Version, below)
	} else {
		fmt.Fprintf(w, "significantly below it (left out) on %d; the default model is not evaluated with --terms.\n", below)
	}
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
