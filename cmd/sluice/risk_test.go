package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis/risk"
	"github.com/sluicehq/sluice/state"
)

const riskTestdata = "../../analysis/risk/testdata"

// runRisk runs `sluice risk ARGS...` in-process.
func runRisk(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRiskCmd(&cli{out: &out, errOut: &errOut})
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestRiskEvaluateTinyData(t *testing.T) {
	alpha := filepath.Join(riskTestdata, "alpha_k_feature.csv")
	beta := filepath.Join(riskTestdata, "beta_k_feature.csv")
	out, err := runRisk(t, "evaluate", "--data", alpha, "--data", beta)
	require.NoError(t, err)

	// The printed numbers are the library's.
	var ps []risk.Project
	for _, f := range []string{alpha, beta} {
		p, err := risk.LoadProject(f)
		require.NoError(t, err)
		ps = append(ps, p)
	}
	rep, err := risk.Evaluate(ps, risk.EvalOptions{Default: risk.DefaultModel()})
	require.NoError(t, err)
	require.Len(t, rep.Projects, 2)
	lines := strings.Split(out, "\n")
	for _, r := range rep.Projects {
		var row string
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 0 && f[0] == r.Project && row == "" {
				row = l // the first table
			}
		}
		require.NotEmpty(t, row, "no row for %s in:\n%s", r.Project, out)
		iv := func(d risk.Interval) string {
			return fmt.Sprintf("%+.4f [%+.4f,%+.4f]", d.Estimate, d.Low, d.High)
		}
		want := []string{
			r.Project, fmt.Sprint(r.Rows), fmt.Sprint(r.TrainRows), fmt.Sprint(r.TestRows),
			fmt.Sprintf("%d (%.1f%%)", r.TestFailures, 100*float64(r.TestFailures)/float64(r.TestRows)),
			"n/a", fmt.Sprintf("%.4f", r.LAOnly.AUC), fmt.Sprintf("%.4f", r.Within.AUC), iv(r.WithinDiff),
			fmt.Sprintf("%.4f", r.Cross.AUC), iv(r.CrossDiff), fmt.Sprintf("%.4f", r.Pooled), fmt.Sprintf("%.4f", r.Default.AUC), iv(r.DefaultDiff),
		}
		require.Equal(t, strings.Join(want, " "), strings.ReplaceAll(strings.Join(strings.Fields(row), " "), "]*", "]"))
	}
	require.Equal(t, 50, rep.Projects[0].Rows)
	require.Equal(t, 40, rep.Projects[0].TrainRows)
	require.Contains(t, out, "Model terms: log1p(linesAdded), log1p(linesDeleted), log1p(files), fix, log1p(filesAge)")
	require.Contains(t, out, "paired bootstrap of the test rows (2000 resamples, seed 20210711)")
	require.Contains(t, out, risk.PublishedSource)
	require.Contains(t, out, "Default model "+risk.DefaultModel().Version+" on all test sets (18 changes)")
	for _, l := range []string{"low", "medium", "high"} {
		require.Regexp(t, `(?m)^\s*`+l+`\s+\d+\s+\d+\.\d%\s+\d+\s+\d+\.\d%\s*$`, out)
	}
}

func TestRiskEvaluateErrors(t *testing.T) {
	_, err := runRisk(t, "evaluate")
	require.ErrorContains(t, err, "--data FILE.csv is required")

	_, err = runRisk(t, "evaluate", "--data", filepath.Join(t.TempDir(), "nope.csv"))
	require.ErrorContains(t, err, "opening JIT data")

	bad := filepath.Join(t.TempDir(), "bad_k_feature.csv")
	require.NoError(t, os.WriteFile(bad, []byte("_id,date,bug,la,ld,nf,nd,ns,entrophy,exp,fix,age\nabc,1,1,-3,0,1,1,1,0,1,0,1\n"), 0o600))
	_, err = runRisk(t, "evaluate", "--data", bad)
	require.ErrorIs(t, err, risk.ErrBadCSV)
	require.ErrorContains(t, err, `line 2, column la: "-3" is not a non-negative number`)

	alpha := filepath.Join(riskTestdata, "alpha_k_feature.csv")
	_, err = runRisk(t, "evaluate", "--data", alpha, "--data", alpha)
	require.ErrorContains(t, err, `project "alpha" already read`)
}

// TestRiskEvaluateJITData runs the evaluation on the ISSTA'21 JIT-DP files
// when they are on this machine (SLUICE_JIT_DATA, or the shared data
// folder) and checks the claim docs/risk.md makes.
func TestRiskEvaluateJITData(t *testing.T) {
	dir := os.Getenv("SLUICE_JIT_DATA")
	if dir == "" {
		dir = "/work/shared/data/jit/issta21-jit-dp"
	}
	var args []string
	for _, p := range []string{"qt", "openstack", "jdt", "platform"} {
		f := filepath.Join(dir, p+"_k_feature.csv")
		if _, err := os.Stat(f); err != nil {
			t.Skipf("JIT-DP data not found (%v); set SLUICE_JIT_DATA to the folder of the <project>_k_feature.csv files to run this test", err)
		}
		args = append(args, "--data", f, "--baseline", "issta21:"+p)
	}
	out, err := runRisk(t, append([]string{"evaluate"}, args...)...)
	require.NoError(t, err)
	t.Log("\n" + out)
	require.Contains(t, out, "significantly above LR on la on 4 of 4 projects")
	require.Regexp(t, `significantly below it \(left out, or the default model sha256:[0-9a-f]+\) on 0\.`, out)
}

// runRiskStderr runs `sluice risk ARGS...` and returns its standard error
// as well.
func runRiskStderr(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRiskCmd(&cli{out: &out, errOut: &errOut})
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

// renamedData writes the alpha data with la renamed to LA and, when
// fractional, one row's la made a fraction.
func renamedData(t *testing.T, fractional bool) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(riskTestdata, "alpha_k_feature.csv"))
	require.NoError(t, err)
	lines := strings.Split(string(raw), "\n")
	cols := strings.Split(lines[0], ",")
	la := -1
	for i, c := range cols {
		if c == "la" {
			cols[i], la = "LA", i
		}
	}
	require.NotEqual(t, -1, la)
	lines[0] = strings.Join(cols, ",")
	if fractional {
		cells := strings.Split(lines[1], ",")
		cells[la] = "0.5"
		lines[1] = strings.Join(cells, ",")
	}
	path := filepath.Join(t.TempDir(), "mine.csv")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600))
	return path
}

func TestRiskEvaluateColumnMapping(t *testing.T) {
	path := renamedData(t, false)
	_, err := runRisk(t, "evaluate", "--data", path)
	require.ErrorContains(t, err, "header has no column for la, which the model uses")
	out, stderr, err := runRiskStderr(t, "evaluate", "--data", path, "--map", "la=LA")
	require.NoError(t, err)
	require.NotEmpty(t, out)
	require.Empty(t, stderr)
}

func TestRiskEvaluateReportsEveryMissingColumn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "few.csv")
	require.NoError(t, os.WriteFile(path, []byte("_id,date,bug,la\na,1,0,1\n"), 0o600))
	_, err := runRisk(t, "evaluate", "--data", path)
	require.ErrorContains(t, err, "header has no column for ld, nf, fix, age, which the model uses")
	_, err = runRisk(t, "evaluate", "--data", path, "--map", "lines=la")
	require.ErrorContains(t, err, `the mapping names "lines"`)
}

func TestRiskEvaluateWarnsOnFractionalChurn(t *testing.T) {
	_, stderr, err := runRiskStderr(t, "evaluate", "--data", renamedData(t, true), "--map", "la=LA")
	require.NoError(t, err)
	require.Contains(t, stderr, "warning: ")
	require.Contains(t, stderr, "1 of ")
	require.Contains(t, stderr, "fractional churn (la, ld): it looks relative")
}

func TestRiskEvaluateDateForms(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(riskTestdata, "alpha_k_feature.csv"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	date := slices.Index(strings.Split(lines[0], ","), "date")
	require.NotEqual(t, -1, date)
	for i := 1; i < len(lines); i++ {
		cells := strings.Split(lines[i], ",")
		sec, err := strconv.ParseInt(cells[date], 10, 64)
		require.NoError(t, err)
		layout := time.RFC3339
		if i%2 == 0 {
			layout = "2006/01/02 15:04"
		}
		cells[date] = time.Unix(sec, 0).UTC().Format(layout)
		lines[i] = strings.Join(cells, ",")
	}
	path := filepath.Join(t.TempDir(), "dated.csv")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	got, err := runRisk(t, "evaluate", "--data", path)
	require.NoError(t, err)
	// The same data with Unix seconds gives the same report.
	plain := filepath.Join(t.TempDir(), "dated.csv")
	require.NoError(t, os.WriteFile(plain, raw, 0o600))
	want, err := runRisk(t, "evaluate", "--data", plain)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// TestRiskEvaluateNameAndBaseline: the project is named by --name, and a
// published baseline is shown only when --baseline names it, whatever the
// file is called.
func TestRiskEvaluateNameAndBaseline(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(riskTestdata, "alpha_k_feature.csv"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "qt_mine.csv")
	require.NoError(t, os.WriteFile(path, raw, 0o600))

	out, err := runRisk(t, "evaluate", "--data", path)
	require.NoError(t, err)
	require.Regexp(t, `(?m)^\s*qt\s+\d+\s+\d+\s+\d+\s+\d+ \(\S+\)\s+n/a\s`, out, "no baseline from the file name")
	require.NotContains(t, out, "0.7438")

	out, err = runRisk(t, "evaluate", "--data", path, "--name", "payments", "--baseline", "issta21:qt")
	require.NoError(t, err)
	require.Contains(t, out, "payments")
	require.NotContains(t, out, " qt ")
	require.Contains(t, out, "0.7438", "the named baseline is shown")

	_, err = runRisk(t, "evaluate", "--data", path, "--baseline", "issta21:nope")
	require.ErrorContains(t, err, `publishes no LApredict AUC for "nope"`)
	_, err = runRisk(t, "evaluate", "--data", path, "--baseline", "qt")
	require.ErrorContains(t, err, "want issta21:PROJECT")
	_, err = runRisk(t, "evaluate", "--data", path, "--name", "a", "--name", "b")
	require.ErrorContains(t, err, "each --name and --baseline goes with the --data in the same position")
}

// TestRiskTrain: training takes the evaluate data options (--map, --name,
// --baseline, date forms) and writes a model the cluster's stored form
// accepts.
func TestRiskTrain(t *testing.T) {
	path := renamedData(t, false)
	out := filepath.Join(t.TempDir(), "model.json")
	_, stderr, err := runRiskStderr(t, "train", "--data", path, "--map", "la=LA", "--name", "payments", "--baseline", "issta21:qt", "-o", out)
	require.NoError(t, err)
	require.Contains(t, stderr, "payments: held-out AUC ")
	require.Contains(t, stderr, "published LApredict (qt) 0.7438")
	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	var stored state.RiskModel
	require.NoError(t, json.Unmarshal(raw, &stored))
	m, err := risk.ModelFromStored(&stored)
	require.NoError(t, err)
	require.Equal(t, 50, m.Samples)
	require.Contains(t, m.TrainedOn, "payments 50")
	require.Contains(t, stderr, "wrote model "+m.Version)
	_, ok := m.Feature(risk.FeatFilesAge)
	require.True(t, ok)

	_, err = runRisk(t, "train", "--data", path)
	require.ErrorContains(t, err, "header has no column for la, which the model uses")
}

// TestRiskTermsNeedOnlyTheirColumns: with --terms, a file lacking the
// columns of other terms is read; a missing used column is still named.
func TestRiskTermsNeedOnlyTheirColumns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "few.csv")
	var b strings.Builder
	b.WriteString("date,bug,la,fix\n")
	for i := range 60 {
		fmt.Fprintf(&b, "%d,%d,%d,%d\n", 1700000000+i*3600, (i*7)%3/2, 1+(i*37)%200, i%2)
	}
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	out, err := runRisk(t, "evaluate", "--data", path, "--terms", "linesAdded,fix")
	require.NoError(t, err)
	require.Contains(t, out, "Model terms: log1p(linesAdded), fix")
	require.Contains(t, out, "the default model is not evaluated with --terms")
	stdout, err := runRisk(t, "train", "--data", path, "--terms", "linesAdded,fix")
	require.NoError(t, err)
	require.Contains(t, stdout, `"name": "linesAdded"`)

	_, err = runRisk(t, "evaluate", "--data", path, "--terms", "linesAdded,files,filesAge")
	require.ErrorContains(t, err, "header has no column for nf, age, which the model uses")
	var mc *risk.MissingColumnsError
	require.ErrorAs(t, err, &mc)
	require.Equal(t, []string{"nf", "age"}, mc.Columns)
	require.NotContains(t, err.Error(), "--terms", "the terms were chosen")
	_, err = runRisk(t, "evaluate", "--data", path)
	require.ErrorContains(t, err, "header has no column for ld, nf, age, which the model uses")
	require.ErrorContains(t, err, "or leave their terms out with --terms (the default terms are linesAdded,linesDeleted,files,fix,filesAge)")
	_, err = runRisk(t, "evaluate", "--data", path, "--terms", "offHours")
	require.ErrorContains(t, err, `--terms: unknown model term "offHours"`)
}
