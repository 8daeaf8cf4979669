package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis/risk"
	"github.com/sluicehq/sluice/state"
)

// jitData is the folder of the ISSTA'21 JIT-DP files, or "" when they are
// not on this machine.
func jitData(t *testing.T) string {
	dir := os.Getenv("SLUICE_JIT_DATA")
	if dir == "" {
		dir = "/work/shared/data/jit/issta21-jit-dp"
	}
	if _, err := os.Stat(filepath.Join(dir, "qt_k_feature.csv")); err != nil {
		t.Skipf("JIT-DP data not found (%v); set SLUICE_JIT_DATA to the folder of the <project>_k_feature.csv files", err)
	}
	return dir
}

// TestRiskEvaluateOnTheBenchmark runs the real binary's `risk evaluate` on
// the four shipped projects: the intervals are printed, and the claims of
// docs/risk.md hold (significantly above LR on la within project on
// all four projects; never significantly below it).
func TestRiskEvaluateOnTheBenchmark(t *testing.T) {
	dir := jitData(t)
	var args []string
	for _, p := range []string{"qt", "openstack", "jdt", "platform"} {
		args = append(args, "--data", filepath.Join(dir, p+"_k_feature.csv"), "--baseline", "issta21:"+p)
	}
	out, err := exec.Command(sluiceBin, append([]string{"risk", "evaluate"}, args...)...).CombinedOutput()
	require.NoError(t, err, string(out))
	text := string(out)
	t.Log("\n" + text)
	for _, p := range []string{"qt", "openstack", "jdt", "platform"} {
		require.Regexp(t, `(?m)^\s*`+p+`\s.*\s\+\d\.\d{4} \[\+\d\.\d{4},\+\d\.\d{4}\]\*`, text, "%s: the within-project interval is above zero", p)
	}
	require.Contains(t, text, "significantly above LR on la on 4 of 4 projects")
	require.Regexp(t, `significantly below it \(left out, or the default model sha256:[0-9a-f]+\) on 0\.`, text)
	require.Regexp(t, `(?m)^\s*qt\s+within project\s.*\s0\.\d{4}\s+0\.\d{4}\s+0\.\d{3}\s+0\.\d{3}\s*$`, text, "Brier, recall@20%, Popt")
}

// TestRiskTrainOwnData: the real binary trains on a file laid out in its
// own way (renamed columns, RFC 3339 dates, columns the model does not use
// left out) and writes a model the cluster's stored form accepts.
func TestRiskTrainOwnData(t *testing.T) {
	raw, err := os.ReadFile("../analysis/risk/testdata/alpha_k_feature.csv")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	header := strings.Split(lines[0], ",")
	keep := map[string]string{"date": "committed", "bug": "defect", "la": "LinesAdded", "ld": "ld", "nf": "nf", "fix": "fix", "age": "age"}
	var cols []int
	var names []string
	for i, h := range header {
		if n, ok := keep[h]; ok {
			cols, names = append(cols, i), append(names, n)
		}
	}
	rows := []string{strings.Join(names, ",")}
	for _, l := range lines[1:] {
		cells := strings.Split(l, ",")
		var out []string
		for _, i := range cols {
			out = append(out, cells[i])
		}
		rows = append(rows, strings.Join(out, ","))
	}
	data := filepath.Join(t.TempDir(), "payments.csv")
	require.NoError(t, os.WriteFile(data, []byte(strings.Join(rows, "\n")+"\n"), 0o600))
	model := filepath.Join(t.TempDir(), "model.json")
	out, err := exec.Command(sluiceBin, "risk", "train", "--data", data, "--name", "payments",
		"--map", "date=committed,bug=defect,la=LinesAdded", "-o", model).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Regexp(t, regexp.MustCompile(`wrote model sha256:[0-9a-f]+ \(50 samples, \d+ failures\)`), string(out))
	b, err := os.ReadFile(model)
	require.NoError(t, err)
	var stored state.RiskModel
	require.NoError(t, json.Unmarshal(b, &stored))
	m, err := risk.ModelFromStored(&stored)
	require.NoError(t, err)
	require.Contains(t, m.TrainedOn, "payments 50")

	out, err = exec.Command(sluiceBin, "risk", "train", "--data", data).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "header has no column for date, bug, la, which the model uses")
}
