package calendar

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func at(h int) time.Time { return time.Date(2026, 1, 5, h, 0, 0, 0, time.UTC) }

func iv(a, b int) Interval { return Interval{Start: at(a), End: at(b)} }

func TestMergeCoversGaps(t *testing.T) {
	merged := Merge([]Interval{iv(5, 7), iv(1, 2), iv(2, 3), iv(6, 9), iv(4, 4)})
	require.Equal(t, []Interval{iv(1, 3), iv(5, 9)}, merged)

	require.True(t, Covers(merged, iv(1, 3)))
	require.True(t, Covers(merged, iv(6, 8)))
	require.True(t, Covers(merged, iv(5, 5)), "an empty interval at a covered start")
	require.False(t, Covers(merged, iv(2, 6)), "spans a gap")
	require.False(t, Covers(merged, iv(0, 2)))
	require.False(t, Covers(merged, iv(3, 4)), "starts where a covered interval ends")
	require.False(t, Covers(merged, iv(9, 10)))
	require.False(t, Covers(nil, iv(1, 2)))

	require.Equal(t, []Interval{iv(3, 5)}, Gaps(merged, iv(2, 6)))
	require.Equal(t, []Interval{iv(0, 1), iv(3, 5), iv(9, 10)}, Gaps(merged, iv(0, 10)))
	require.Empty(t, Gaps(merged, iv(6, 9)))
	require.Equal(t, []Interval{iv(0, 2)}, Gaps(nil, iv(0, 2)))
}

func TestParseTime(t *testing.T) {
	loc, err := LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	want := time.Date(2026, 12, 20, 0, 0, 0, 0, loc)
	for _, s := range []string{"2026-12-20T00:00:00+01:00", "2026-12-19T23:00:00Z", "2026-12-20T00:00", "2026-12-20 00:00", "2026-12-20 00:00:00", "2026-12-20"} {
		got, err := ParseTime(s, loc)
		require.NoError(t, err, s)
		require.True(t, want.Equal(got), "%s: got %s", s, got)
	}
	// Summer time in the same zone.
	got, err := ParseTime("2026-07-01 12:00", loc)
	require.NoError(t, err)
	require.Equal(t, 10, got.UTC().Hour())

	for _, s := range []string{"", "20.12.2026", "2026-12-20T25:00", "tomorrow"} {
		_, err := ParseTime(s, loc)
		require.True(t, errors.Is(err, ErrTime), s)
		require.Contains(t, err.Error(), `want RFC 3339 such as "2026-12-20T00:00:00+01:00"`)
	}
	// Without a zone only RFC 3339 is read.
	_, err = ParseTime("2026-12-20", nil)
	require.ErrorIs(t, err, ErrTime)
}

func TestLoadLocation(t *testing.T) {
	for _, name := range []string{"Europe/Berlin", "UTC", "America/New_York", "Asia/Kolkata"} {
		loc, err := LoadLocation(name)
		require.NoError(t, err, name)
		require.Equal(t, name, loc.String())
	}
	for name, want := range map[string]string{
		"":              "a time zone name is required",
		"Local":         `"Local" depends on the machine`,
		"Europe/Berlln": `not in the tz database; use an IANA name such as "Europe/Berlin"`,
		"CEST":          "not in the tz database",
		" UTC":          "remove the spaces",
	} {
		_, err := LoadLocation(name)
		require.ErrorIs(t, err, ErrTimezone, name)
		require.Contains(t, err.Error(), want, name)
	}
}

func TestDate(t *testing.T) {
	d := Date{2024, time.February, 28}
	require.Equal(t, Date{2024, time.February, 29}, d.AddDays(1))
	require.Equal(t, Date{2024, time.March, 1}, d.AddDays(2))
	require.Equal(t, time.Wednesday, d.Weekday())
	require.Equal(t, 366, Date{2025, time.February, 28}.DaysSince(d))
	require.Equal(t, "2024-02-28", d.String())
	require.Equal(t, -1, d.Compare(d.AddDays(1)))
}
