package demo

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCompareVersions(t *testing.T) {
	ordered := []string{"", "1", "2", "10", "v", "v1", "v1.2", "v1.10", "v2", "v02a", "v10", "v10a", "w"}
	for i, a := range ordered {
		for j, b := range ordered {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			require.Equal(t, want, CompareVersions(a, b), "%q vs %q", a, b)
		}
	}
	require.Equal(t, 0, CompareVersions("v02", "v2"), "leading zeros do not count")
}

func TestReporterBarFollowsTheLatestVersion(t *testing.T) {
	at := time.Date(2030, 1, 2, 12, 0, 5, 0, time.UTC)
	var buf bytes.Buffer
	r := NewReporter(&buf)
	r.BarVersion = BarLatest
	report := func(byVersion map[string]uint64) string {
		t.Helper()
		buf.Reset()
		var ok uint64
		for _, n := range byVersion {
			ok += n
		}
		require.NoError(t, r.Report(at, time.Second, Counts{OK: ok, ByVersion: byVersion}, false))
		return strings.TrimSpace(buf.String())
	}

	line := report(map[string]uint64{})
	require.Contains(t, line, "(no answers)")

	line = report(map[string]uint64{"v9": 10})
	require.True(t, strings.HasSuffix(line, Bar(1, BarWidth)+" v9"), line)

	line = report(map[string]uint64{"v9": 9, "v10": 1})
	require.Contains(t, line, "v9  90.0% | v10  10.0%", "columns in version order")
	require.True(t, strings.HasSuffix(line, Bar(0.1, BarWidth)+" v10"), line)

	// A version that stops answering keeps the bar, at 0%.
	line = report(map[string]uint64{"v9": 10})
	require.True(t, strings.HasSuffix(line, Bar(0, BarWidth)+" v10"), line)
}
