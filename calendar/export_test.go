package calendar

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// readExport parses one of the calendars in testdata, shaped like what
// Google Calendar and Outlook (Exchange) export.
func readExport(t *testing.T, name string) *Calendar {
	t.Helper()
	text, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	cal, err := ParseICS(string(text))
	require.NoError(t, err)
	return cal
}

// spans renders occurrences as "start - end summary" in loc.
func spans(occ []Occurrence, loc *time.Location) []string {
	out := make([]string, len(occ))
	for i, o := range occ {
		out[i] = o.Start.In(loc).Format("Mon 01-02 15:04") + " - " + o.End.In(loc).Format("01-02 15:04 MST") + " " + o.Summary
	}
	return out
}

func TestGoogleCalendarExport(t *testing.T) {
	loc := berlin(t)
	cal := readExport(t, "google.ics")
	occ, err := cal.Occurrences(time.Date(2026, 3, 1, 0, 0, 0, 0, loc), time.Date(2026, 5, 1, 0, 0, 0, 0, loc), loc)
	require.NoError(t, err)
	require.Equal(t, []string{
		"Mon 03-02 10:00 - 03-02 11:30 CET Ops review",
		"Mon 03-09 10:00 - 03-09 11:30 CET Ops review",
		// UTC, read in Berlin.
		"Thu 03-12 23:00 - 03-13 03:00 CET Database maintenance (UTC)",
		// The override moves the 16 March occurrence (RECURRENCE-ID) to
		// Tuesday afternoon; 23 March is a cancelled override, 6 April an
		// EXDATE, and UNTIL ends the series before 27 April.
		"Tue 03-17 15:00 - 03-17 16:30 CET Ops review (moved to Tuesday)",
		"Mon 03-30 10:00 - 03-30 11:30 CEST Ops review",
		"Fri 04-03 00:00 - 04-07 00:00 CEST Easter freeze",
		"Mon 04-13 10:00 - 04-13 11:30 CEST Ops review",
		"Mon 04-20 10:00 - 04-20 11:30 CEST Ops review",
	}, spans(occ, loc))

	// RRULE plus RDATE: every 24 December and, once, 31 December.
	occ, err = cal.Occurrences(time.Date(2026, 12, 1, 0, 0, 0, 0, loc), time.Date(2028, 1, 1, 0, 0, 0, 0, loc), loc)
	require.NoError(t, err)
	require.Equal(t, []string{
		"Thu 12-24 00:00 - 12-25 00:00 CET Holiday freeze",
		"Thu 12-31 00:00 - 01-01 00:00 CET Holiday freeze",
		"Fri 12-24 00:00 - 12-25 00:00 CET Holiday freeze",
	}, spans(occ, loc))
}

func TestOutlookExport(t *testing.T) {
	loc := berlin(t)
	cal := readExport(t, "outlook.ics")
	// Read in UTC: the events carry their own (Windows-named) zones.
	occ, err := cal.Occurrences(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), time.UTC)
	require.NoError(t, err)
	require.Equal(t, []string{
		"Tue 03-03 10:00 - 03-03 11:00 CET Change Advisory Board",
		"Tue 03-10 14:00 - 03-10 15:00 CET Change Advisory Board (afternoon)",
		"Tue 03-17 10:00 - 03-17 11:00 CET Change Advisory Board",
		"Tue 03-24 10:00 - 03-24 11:00 CET Change Advisory Board",
		// W. Europe Standard Time is Europe/Berlin: summer time from 29 March.
		"Mon 03-30 23:00 - 03-31 15:00 CEST Quarter close (New York)",
		"Tue 03-31 10:00 - 03-31 11:00 CEST Change Advisory Board",
		"Tue 04-14 10:00 - 04-14 11:00 CEST Change Advisory Board",
		"Tue 04-21 10:00 - 04-21 11:00 CEST Change Advisory Board",
		"Tue 04-28 10:00 - 04-28 11:00 CEST Change Advisory Board",
		// All-day: midnight to midnight in the zone it is read in (UTC).
		"Fri 05-01 02:00 - 05-02 02:00 CEST Tag der Arbeit",
	}, spans(occ, loc))
	ny, err := LoadLocation("America/New_York")
	require.NoError(t, err)
	require.Equal(t, "17:00 EDT", occ[4].Start.In(ny).Format("15:04 MST"), "Eastern Standard Time is America/New_York")
}

func TestICSTimeZones(t *testing.T) {
	vtz := func(id, std, dst string) string {
		return "BEGIN:VTIMEZONE\nTZID:" + id + "\nBEGIN:STANDARD\nDTSTART:16010101T030000\nTZOFFSETFROM:" + dst +
			"\nTZOFFSETTO:" + std + "\nEND:STANDARD\nBEGIN:DAYLIGHT\nDTSTART:16010101T020000\nTZOFFSETFROM:" + std +
			"\nTZOFFSETTO:" + dst + "\nEND:DAYLIGHT\nEND:VTIMEZONE"
	}
	event := func(tzid string) string {
		return "BEGIN:VEVENT\nDTSTART;TZID=" + tzid + ":20260701T090000\nDURATION:PT1H\nSUMMARY:x\nEND:VEVENT"
	}
	first := func(t *testing.T, text string) time.Time {
		t.Helper()
		cal, err := ParseICS(text)
		require.NoError(t, err)
		occ, err := cal.Occurrences(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC), time.UTC)
		require.NoError(t, err)
		require.Len(t, occ, 1)
		return occ[0].Start.UTC()
	}
	t.Run("a custom name resolved by X-LIC-LOCATION", func(t *testing.T) {
		text := ics("BEGIN:VTIMEZONE\nTZID:Team time\nX-LIC-LOCATION:Asia/Tokyo\nEND:VTIMEZONE", event("Team time"))
		require.Equal(t, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), first(t, text))
	})
	t.Run("a Windows name without VTIMEZONE", func(t *testing.T) {
		require.Equal(t, time.Date(2026, 7, 1, 16, 0, 0, 0, time.UTC), first(t, ics(event("Pacific Standard Time"))))
	})
	t.Run("a VTIMEZONE that contradicts the zone it names", func(t *testing.T) {
		_, err := ParseICS(ics(vtz("Europe/Berlin", "-0500", "-0400"), event("Europe/Berlin")))
		require.ErrorIs(t, err, ErrICS)
		require.Contains(t, err.Error(), "line 18: DTSTART: TZID=Europe/Berlin: its VTIMEZONE (line 4) gives UTC offsets -05:00/-04:00, but Europe/Berlin has +01:00/+02:00 in 2026")
	})
	t.Run("a VTIMEZONE that agrees", func(t *testing.T) {
		text := ics(vtz("GMT Standard Time", "+0000", "+0100"), event("GMT Standard Time"))
		require.Equal(t, time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC), first(t, text))
	})
}

func TestICSOverridesAndExceptions(t *testing.T) {
	loc := time.UTC
	series := `BEGIN:VEVENT
UID:s1
DTSTART;VALUE=DATE:20260105
RRULE:FREQ=WEEKLY;COUNT=4
EXDATE;VALUE=DATE:20260112,20260119
SUMMARY:weekly day
END:VEVENT`
	// An override may come before its series and move an occurrence out of
	// the window (it then blocks nothing there) or into it.
	moved := "BEGIN:VEVENT\nUID:s1\nRECURRENCE-ID;VALUE=DATE:20260126\nDTSTART;VALUE=DATE:20260301\nSUMMARY:moved far\nEND:VEVENT"
	occ := occurrences(t, ics(moved, series), time.Date(2026, 1, 1, 0, 0, 0, 0, loc), time.Date(2026, 2, 1, 0, 0, 0, 0, loc), loc)
	require.Equal(t, []string{"2026-01-05 00:00 UTC"}, starts(occ, loc))
	occ = occurrences(t, ics(moved, series), time.Date(2026, 2, 15, 0, 0, 0, 0, loc), time.Date(2026, 3, 15, 0, 0, 0, 0, loc), loc)
	require.Equal(t, []string{"2026-03-01 00:00 UTC"}, starts(occ, loc))
	require.Equal(t, "moved far", occ[0].Summary)
	require.Equal(t, 4, occ[0].Line)

	// A cancelled series blocks nothing, overrides included.
	cancelled := ics(`BEGIN:VEVENT
UID:s2
DTSTART:20260105T090000Z
DURATION:PT1H
RRULE:FREQ=DAILY
STATUS:CANCELLED
END:VEVENT`)
	occ = occurrences(t, cancelled, time.Date(2026, 1, 1, 0, 0, 0, 0, loc), time.Date(2026, 2, 1, 0, 0, 0, 0, loc), loc)
	require.Empty(t, occ)
}

func TestICSHostileShapes(t *testing.T) {
	tests := []struct{ name, text, want string }{
		// go-ical panics on these two; the line check refuses them first.
		{"parameter without a value", "BEGIN:VCALENDAR\nDTSTART;X=a\nEND:VCALENDAR\n", "line 2: DTSTART: no ':' before the value"},
		{"text after a quoted parameter", "BEGIN:VCALENDAR\nDTSTART;X=\"a\"b:1\nEND:VCALENDAR\n", `line 2: DTSTART: unexpected 'b' after a parameter value`},
		{"content after the calendar", "BEGIN:VCALENDAR\nEND:VCALENDAR\nBEGIN:VCALENDAR\nEND:VCALENDAR\n", "line 3: BEGIN:VCALENDAR after END:VCALENDAR"},
		{"deep nesting", "BEGIN:VCALENDAR\n" + repeatLines("BEGIN:X\n", 20), "components nested more than 8 deep"},
		{"huge duration", ics("BEGIN:VEVENT\nDTSTART:20260101T000000Z\nDURATION:PT99999999999999H\nEND:VEVENT"), "has a number above 9999"},
		{"year-long event", ics("BEGIN:VEVENT\nDTSTART:20260101T000000Z\nDURATION:P9999W\nEND:VEVENT"), "longer than a year"},
		{"ancient start", ics("BEGIN:VEVENT\nDTSTART:00010101T000000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;COUNT=5\nEND:VEVENT"), "DTSTART year 1 is outside 1900-2200"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseICS(tc.text)
			require.ErrorIs(t, err, ErrICS)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestICSExpansionBudget(t *testing.T) {
	// Daily rules with COUNT and a filter that never matches walk every
	// day from 1900: refused as a whole rather than expanded for minutes.
	var events []string
	for range 20 {
		events = append(events, "BEGIN:VEVENT\nDTSTART:19000101T000000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;COUNT=5;BYMONTH=2;BYMONTHDAY=30\nEND:VEVENT")
	}
	cal, err := ParseICS(ics(events...))
	require.NoError(t, err)
	_, err = cal.Occurrences(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), time.UTC)
	require.ErrorIs(t, err, ErrExpansion)
	require.Contains(t, err.Error(), "start recurring events later")
}

func repeatLines(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}
