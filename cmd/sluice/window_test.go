package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis/window"
)

// offlineFiles writes a policy with a weekday window and a holiday file,
// and four weeks of hourly traffic in which Wednesday 14:00-16:00 is the
// quiet part of the window.
func offlineFiles(t *testing.T) (policy, traffic string) {
	t.Helper()
	dir := t.TempDir()
	policy = filepath.Join(dir, "policy.yaml")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "holidays.ics"), []byte(holidays), 0o600))
	require.NoError(t, os.WriteFile(policy, []byte(`apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: web-policy}
spec:
  services: [web]
  schedule:
    timezone: Europe/Berlin
    windows: ["Mon-Fri 09:00-17:00"]
    calendar: {icsFile: holidays.ics}
---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: api-policy}
spec:
  services: [api]
`), 0o600))
	loc, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	var b strings.Builder
	b.WriteString("hour_start,requests,flag\n")
	start := time.Date(2026, 10, 5, 0, 0, 0, 0, loc) // Monday
	for h := range 28*24 + 10 {
		ts := start.Add(time.Duration(h) * time.Hour)
		v := 1000
		if ts.In(loc).Weekday() == time.Wednesday && (ts.In(loc).Hour() == 14 || ts.In(loc).Hour() == 15) {
			v = 200
		}
		fmt.Fprintf(&b, "%s,%d,\n", ts.Format(time.RFC3339), v)
	}
	traffic = filepath.Join(dir, "traffic.csv")
	require.NoError(t, os.WriteFile(traffic, []byte(b.String()), 0o600))
	return policy, traffic
}

func TestWindowSuggestOffline(t *testing.T) {
	policy, traffic := offlineFiles(t)
	// No server is running: the offline mode needs none.
	out, _, err := run(t, "", "--server", "127.0.0.1:1", "window", "suggest", "web", "-f", policy, "--traffic", traffic,
		"--at", "2026-11-02 08:00", "--risk", "0.9", "--duration", "2h", "-o", "json")
	require.NoError(t, err)
	var got suggestion
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Empty(t, got.Error)
	loc, _ := time.LoadLocation("Europe/Berlin")
	require.Equal(t, time.Date(2026, 11, 4, 14, 0, 0, 0, loc), got.Suggestion.Best.Start.In(loc), "the quiet Wednesday afternoon")
	require.InDelta(t, 200, got.Suggestion.Best.Traffic, 1e-9)

	// Text output, the policy picked by name.
	out, _, err = run(t, "", "window", "suggest", "-f", policy, "--policy", "web-policy", "--traffic", traffic,
		"--at", "2026-11-02T08:00:00+01:00", "--risk", "0.9", "--duration", "2h")
	require.NoError(t, err)
	require.Contains(t, out, "Policy web-policy at Mon 2026-11-02 08:00 CET, a 2h0m0s release at risk 0.90 (Europe/Berlin):")
	require.Contains(t, out, "Best:  Wed 2026-11-04 14:00")

	// Checking the schedule: Christmas is a calendar day.
	out, _, err = run(t, "", "window", "suggest", "web", "-f", policy, "--at", "2026-12-24 08:00", "--duration", "2h", "-o", "json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, time.Date(2026, 12, 28, 9, 0, 0, 0, loc), got.Suggestion.Best.Start.In(loc))
	require.Positive(t, got.Suggestion.Rejected.Calendar)
}

func TestWindowSuggestOfflineErrors(t *testing.T) {
	policy, traffic := offlineFiles(t)
	bad := filepath.Join(t.TempDir(), "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("when,requests\n2026-01-01,1\n"), 0o600))
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-f", policy}, "has 2 ReleasePolicies (web-policy, api-policy): name one with --policy or a SERVICE"},
		{[]string{"nope", "-f", policy}, `no ReleasePolicy covers Service "nope"`},
		{[]string{"api", "-f", policy}, `ReleasePolicy "api-policy" has no schedule`},
		{[]string{"web", "-f", policy, "--at", "soon"}, `--at: invalid time "soon"`},
		{[]string{"web", "-f", policy, "--traffic", bad}, "bad.csv: " + window.ErrCSV.Error()},
		{[]string{"web", "-f", policy, "--traffic", traffic, "--risk", "2"}, "risk must be between 0 and 1"},
		{[]string{}, "name a SERVICE, or plan offline with -f POLICY.yaml --traffic FILE.csv"},
	}
	for _, tc := range tests {
		_, _, err := run(t, "", append([]string{"window", "suggest"}, tc.args...)...)
		require.ErrorContains(t, err, tc.want, "%v", tc.args)
	}
}
