package calendar

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	return loc
}

func TestParseWeekly(t *testing.T) {
	good := []struct{ in, canonical string }{
		{"Mon-Thu 09:00-16:00", "Mon-Thu 09:00-16:00"},
		{"fri 09:00-12:00", "Fri 09:00-12:00"},
		{"Mon,Wed,Fri 10:00-12:30", "Mon,Wed,Fri 10:00-12:30"},
		{"Sat 22:00-24:00", "Sat 22:00-24:00"},
		{"Fri-Mon 00:00-06:00", "Mon,Fri-Sun 00:00-06:00"},
		{"Mon-Sun 00:00-24:00", "Mon-Sun 00:00-24:00"},
		{"  Tue   08:15-08:45 ", "Tue 08:15-08:45"},
	}
	for _, tc := range good {
		w, err := ParseWeekly(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.canonical, w.String(), tc.in)
	}
	bad := []struct{ in, want string }{
		{"Mon-Thu 9-16", `time "9" is not HH:MM with two-digit hours`},
		{"Mon-Thu 09:00", `time range "09:00" has no '-'`},
		{"Mon-Thu", "expected days and a time range separated by one space"},
		{"Mon Thu 09:00-10:00", "expected days and a time range"},
		{"Mo-Th 09:00-16:00", `unknown day "Mo"`},
		{"Mon, 09:00-16:00", `unknown day ""`},
		{"Mon,,Tue 09:00-16:00", `unknown day ""`},
		{"Mon 16:00-09:00", "is not after the start 16:00 (a window cannot cross midnight: split it in two)"},
		{"Mon 09:00-09:00", "is not after the start"},
		{"Mon 24:00-24:00", `time "24:00" is out of range`},
		{"Mon 09:60-10:00", `time "09:60" is out of range`},
		{"Mon 09:00-25:00", `time "25:00" is out of range`},
		{"", "expected days and a time range"},
	}
	for _, tc := range bad {
		_, err := ParseWeekly(tc.in)
		require.Error(t, err, tc.in)
		require.True(t, errors.Is(err, ErrWeekly), tc.in)
		require.Contains(t, err.Error(), tc.want, tc.in)
		require.Contains(t, err.Error(), `want "DAYS HH:MM-HH:MM", e.g. "Mon-Thu 09:00-16:00"`, tc.in)
	}
}

func TestWeeklyOccurrencesAcrossDST(t *testing.T) {
	loc := berlin(t)
	w, err := ParseWeekly("Sun 01:00-04:00")
	require.NoError(t, err)

	// 2026-03-29: clocks jump from 02:00 to 03:00, the window is 2h long.
	spring := w.Occurrences(time.Date(2026, 3, 28, 0, 0, 0, 0, loc), time.Date(2026, 3, 30, 0, 0, 0, 0, loc), loc)
	require.Len(t, spring, 1)
	require.Equal(t, 2*time.Hour, spring[0].Duration())
	require.Equal(t, time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC), spring[0].Start.UTC()) // 01:00 CET
	require.Equal(t, time.Date(2026, 3, 29, 2, 0, 0, 0, time.UTC), spring[0].End.UTC())   // 04:00 CEST

	// 2026-10-25: clocks fall back from 03:00 to 02:00, the window is 4h.
	autumn := w.Occurrences(time.Date(2026, 10, 24, 0, 0, 0, 0, loc), time.Date(2026, 10, 26, 0, 0, 0, 0, loc), loc)
	require.Len(t, autumn, 1)
	require.Equal(t, 4*time.Hour, autumn[0].Duration())

	// An ordinary weekday window keeps its wall-clock times across the change.
	biz, err := ParseWeekly("Mon-Thu 09:00-16:00")
	require.NoError(t, err)
	occ := biz.Occurrences(time.Date(2026, 3, 26, 0, 0, 0, 0, loc), time.Date(2026, 4, 1, 0, 0, 0, 0, loc), loc)
	require.Len(t, occ, 3) // Thu 26, Mon 30, Tue 31
	require.Equal(t, 8, occ[0].Start.UTC().Hour(), "Thu 09:00 CET is 08:00 UTC")
	require.Equal(t, 7, occ[1].Start.UTC().Hour(), "Mon 09:00 CEST is 07:00 UTC")
	for _, o := range occ {
		require.Equal(t, 9, o.Start.In(loc).Hour())
		require.Equal(t, 7*time.Hour, o.Duration())
	}
}

func TestWeeklyOccurrencesRange(t *testing.T) {
	loc := time.UTC
	w, err := ParseWeekly("Mon-Fri 22:00-24:00")
	require.NoError(t, err)
	// A range starting inside an occurrence still returns it.
	from := time.Date(2026, 6, 1, 23, 0, 0, 0, loc) // Monday 23:00
	occ := w.Occurrences(from, from.Add(time.Hour), loc)
	require.Len(t, occ, 1)
	require.Equal(t, time.Date(2026, 6, 1, 22, 0, 0, 0, loc), occ[0].Start)
	require.Equal(t, time.Date(2026, 6, 2, 0, 0, 0, 0, loc), occ[0].End)
}
