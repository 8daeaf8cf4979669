package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis/window"
)

// synthCSV is five weeks of hourly traffic: a daily wave, quieter
// weekends, a little deterministic noise, and in week three a
// Wednesday-to-Thursday outage (flagged zeros) followed by an unflagged
// recovery morning.
func synthCSV(start time.Time) string {
	var b strings.Builder
	b.WriteString("hour_start_local,requests,seconds_covered,flag\n")
	seed := uint32(7)
	for i := range 35 * 24 {
		t := start.Add(time.Duration(i) * time.Hour)
		seed = seed*1664525 + 1013904223
		noise := 0.9 + 0.2*float64(seed>>8)/float64(1<<24)
		v := (1500 + 2500*math.Max(0, math.Sin(math.Pi*float64(t.Hour()-5)/16))) * noise
		if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
			v *= 0.5
		}
		flag := ""
		day := i / 24
		switch {
		case day == 16 || (day == 17 && t.Hour() < 4): // Wed 12:00 to Thu 04:00 of week 3
			if day == 16 && t.Hour() < 12 {
				break
			}
			v, flag = 0, "outage"
		case day == 17 && t.Hour() < 10:
			v = 30 // recovering, not flagged
		}
		fmt.Fprintf(&b, "%s,%.0f,3600,%s\n", t.Format(time.RFC3339), v, flag)
	}
	return b.String()
}

func TestEvaluationOnSyntheticTraffic(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, ny) // Monday
	src, err := window.ReadCSV(strings.NewReader(synthCSV(start)))
	require.NoError(t, err)
	cfg := evalConfig{
		Timezone: "America/New_York", Windows: []string{"Mon-Fri 08:00-20:00"},
		First: start.Add(17 * 24 * time.Hour), Last: start.Add(26 * 24 * time.Hour),
		Every: 6 * time.Hour, Lookback: 7 * 24 * time.Hour, Duration: 2 * time.Hour,
		Slot: 30 * time.Minute, Horizon: 7 * 24 * time.Hour, Risks: []float64{0.9},
		Shadow:  [2]time.Time{start.Add(16*24*time.Hour + 12*time.Hour), start.Add(17*24*time.Hour + 10*time.Hour)},
		Example: start.Add(17 * 24 * time.Hour),
	}
	rep, err := run(context.Background(), src, cfg)
	require.NoError(t, err)
	require.Equal(t, 37, rep.Decisions)
	byName := map[string]result{}
	for _, r := range rep.Results {
		byName[r.Name] = r
	}
	opt, naive := byName["optimizer (risk 0.9)"], byName["optimizer, naive profile (risk 0.9)"]
	first, tue := byName["first allowed slot"], byName["fixed Tue 10:00"]
	_, optMedian, _, optWithin := stats(opt.Ratios)
	_, firstMedian, _, _ := stats(first.Ratios)
	_, tueMedian, _, _ := stats(tue.Ratios)
	require.Less(t, optMedian, firstMedian)
	require.Less(t, optMedian, tueMedian)
	require.Greater(t, optWithin, 0.5)
	require.Zero(t, opt.Fooled, "the robust profile never reads the outage as quiet")
	require.Positive(t, naive.Fooled, "the naive profile does: the check above could fail")
	require.Zero(t, opt.Infeasible)
	require.Positive(t, byName["start now (ignores windows)"].Infeasible)
	require.NotNil(t, rep.Example)
}

func TestEvaluationOnNASATrace(t *testing.T) {
	if _, err := os.Stat(defaultCSV); errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s not present", defaultCSV)
	}
	var out bytes.Buffer
	require.NoError(t, mainErr([]string{"-lookback", "168h"}, &out))
	text := out.String()
	require.Contains(t, text, "| method | scored | mean ratio |")
	require.Contains(t, text, "| optimizer, naive profile (risk 0.9) |")
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "| optimizer (risk") {
			require.True(t, strings.HasSuffix(line, "| 0 |"), "the robust optimizer was fooled by the outage: %s", line)
		}
	}
	require.Contains(t, text, "Outage example, decision 1995-08-07T00:00:00-04:00")
}

func TestMainErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("when,count\n"), 0o600))
	var out bytes.Buffer
	require.ErrorIs(t, mainErr([]string{"-csv", bad}, &out), window.ErrCSV)
	require.Error(t, mainErr([]string{"-csv", filepath.Join(dir, "missing.csv")}, &out))
	require.Error(t, mainErr([]string{"-risks", "high"}, &out))
	require.Error(t, mainErr([]string{"-from", "yesterday"}, &out))
}
