package calendar

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ics wraps VEVENT lines in a calendar, with CRLF line ends as RFC 5545
// writes them.
func ics(events ...string) string {
	lines := []string{"BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//sluice//test//EN"}
	for _, e := range events {
		lines = append(lines, strings.Split(strings.TrimSpace(e), "\n")...)
	}
	lines = append(lines, "END:VCALENDAR")
	return strings.Join(lines, "\r\n") + "\r\n"
}

// occurrences parses text and expands it over [from, to) in loc.
func occurrences(t *testing.T, text string, from, to time.Time, loc *time.Location) []Occurrence {
	t.Helper()
	cal, err := ParseICS(text)
	require.NoError(t, err)
	occ, err := cal.Occurrences(from, to, loc)
	require.NoError(t, err)
	return occ
}

func starts(occ []Occurrence, loc *time.Location) []string {
	out := make([]string, len(occ))
	for i, o := range occ {
		out[i] = o.Start.In(loc).Format("2006-01-02 15:04 MST")
	}
	return out
}

func TestICSAllDayEvent(t *testing.T) {
	loc := berlin(t)
	text := ics(`
BEGIN:VEVENT
UID:xmas@example.com
DTSTART;VALUE=DATE:20261225
DTEND;VALUE=DATE:20261227
SUMMARY:Christmas\, Boxing Day
END:VEVENT`)
	occ := occurrences(t, text, time.Date(2026, 12, 1, 0, 0, 0, 0, loc), time.Date(2027, 1, 1, 0, 0, 0, 0, loc), loc)
	require.Len(t, occ, 1)
	require.Equal(t, "Christmas, Boxing Day", occ[0].Summary)
	require.True(t, occ[0].Start.Equal(time.Date(2026, 12, 25, 0, 0, 0, 0, loc)))
	require.True(t, occ[0].End.Equal(time.Date(2026, 12, 27, 0, 0, 0, 0, loc)))
	require.Equal(t, 4, occ[0].Line)

	// The same date is midnight-to-midnight in whatever zone it is read in.
	ny, err := LoadLocation("America/New_York")
	require.NoError(t, err)
	occ = occurrences(t, text, time.Date(2026, 12, 1, 0, 0, 0, 0, ny), time.Date(2027, 1, 1, 0, 0, 0, 0, ny), ny)
	require.True(t, occ[0].Start.Equal(time.Date(2026, 12, 25, 0, 0, 0, 0, ny)))

	// Without DTEND an all-day event lasts one day; an 8-digit value
	// without VALUE=DATE is a date too.
	occ = occurrences(t, ics("BEGIN:VEVENT\nDTSTART:20260501\nSUMMARY:Labour Day\nEND:VEVENT"),
		time.Date(2026, 4, 1, 0, 0, 0, 0, loc), time.Date(2026, 6, 1, 0, 0, 0, 0, loc), loc)
	require.Len(t, occ, 1)
	require.Equal(t, 24*time.Hour, occ[0].Duration())
}

func TestICSTimedEvents(t *testing.T) {
	loc := berlin(t)
	text := ics(`
BEGIN:VEVENT
DTSTART;TZID=America/New_York:20260610T090000
DTEND;TZID=America/New_York:20260610T103000
SUMMARY:NY all-hands
END:VEVENT
BEGIN:VEVENT
DTSTART:20260611T120000Z
DURATION:PT2H
SUMMARY:UTC maintenance
END:VEVENT
BEGIN:VEVENT
DTSTART:20260612T140000
DTEND:20260612T150000
SUMMARY:floating review
END:VEVENT
BEGIN:VEVENT
DTSTART;TZID="/Europe/Berlin":20260613T080000
DURATION:P1DT2H
SUMMARY:quoted global TZID
END:VEVENT`)
	occ := occurrences(t, text, time.Date(2026, 6, 1, 0, 0, 0, 0, loc), time.Date(2026, 7, 1, 0, 0, 0, 0, loc), loc)
	require.Len(t, occ, 4)
	require.Equal(t, time.Date(2026, 6, 10, 13, 0, 0, 0, time.UTC), occ[0].Start.UTC()) // 09:00 EDT
	require.Equal(t, 90*time.Minute, occ[0].Duration())
	require.Equal(t, time.Date(2026, 6, 11, 12, 0, 0, 0, time.UTC), occ[1].Start.UTC())
	require.Equal(t, 2*time.Hour, occ[1].Duration())
	require.Equal(t, time.Date(2026, 6, 12, 14, 0, 0, 0, loc), occ[2].Start.In(loc), "floating: read in the schedule's zone")
	require.Equal(t, 26*time.Hour, occ[3].Duration())
}

func TestICSWeeklyRuleKeepsWallClockAcrossDST(t *testing.T) {
	loc := berlin(t)
	text := ics(`
BEGIN:VEVENT
DTSTART;TZID=Europe/Berlin:20260323T090000
DTEND;TZID=Europe/Berlin:20260323T100000
RRULE:FREQ=WEEKLY;COUNT=3
SUMMARY:weekly sync
END:VEVENT`)
	occ := occurrences(t, text, time.Date(2026, 3, 1, 0, 0, 0, 0, loc), time.Date(2026, 5, 1, 0, 0, 0, 0, loc), loc)
	require.Equal(t, []string{"2026-03-23 09:00 CET", "2026-03-30 09:00 CEST", "2026-04-06 09:00 CEST"}, starts(occ, loc))
	require.Equal(t, 8, occ[0].Start.UTC().Hour())
	require.Equal(t, 7, occ[1].Start.UTC().Hour())
}

func TestICSWeeklyByDayUntilAndExdate(t *testing.T) {
	loc := time.UTC
	text := ics(`
BEGIN:VEVENT
DTSTART:20260105T170000Z
DTEND:20260105T180000Z
RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;UNTIL=20260204T170000Z
EXDATE:20260119T170000Z
SUMMARY:fortnightly
END:VEVENT`)
	occ := occurrences(t, text, time.Date(2026, 1, 1, 0, 0, 0, 0, loc), time.Date(2026, 3, 1, 0, 0, 0, 0, loc), loc)
	// Weeks of Jan 5 and Jan 19 and Feb 2; Jan 19 excluded; Feb 4 is UNTIL itself.
	require.Equal(t, []string{
		"2026-01-05 17:00 UTC", "2026-01-07 17:00 UTC", "2026-01-21 17:00 UTC",
		"2026-02-02 17:00 UTC", "2026-02-04 17:00 UTC",
	}, starts(occ, loc))
}

func TestICSYearlyRules(t *testing.T) {
	loc := berlin(t)
	text := ics(`
BEGIN:VEVENT
DTSTART;VALUE=DATE:20241003
RRULE:FREQ=YEARLY
SUMMARY:German Unity Day
END:VEVENT
BEGIN:VEVENT
DTSTART;VALUE=DATE:20241128
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=4TH;UNTIL=20271231
SUMMARY:Thanksgiving
END:VEVENT
BEGIN:VEVENT
DTSTART;VALUE=DATE:20250101
RRULE:FREQ=YEARLY;COUNT=2
SUMMARY:New Year (two years only)
END:VEVENT`)
	occ := occurrences(t, text, time.Date(2026, 1, 1, 0, 0, 0, 0, loc), time.Date(2029, 1, 1, 0, 0, 0, 0, loc), loc)
	var got []string
	for _, o := range occ {
		got = append(got, o.Start.In(loc).Format("2006-01-02")+" "+o.Summary)
	}
	require.Equal(t, []string{
		"2026-01-01 New Year (two years only)",
		"2026-10-03 German Unity Day",
		"2026-11-26 Thanksgiving",
		"2027-10-03 German Unity Day",
		"2027-11-25 Thanksgiving",
		"2028-10-03 German Unity Day",
	}, got)
}

func TestICSMonthlyRules(t *testing.T) {
	loc := time.UTC
	text := ics(`
BEGIN:VEVENT
DTSTART;VALUE=DATE:20260130
RRULE:FREQ=MONTHLY;BYDAY=-1FR;COUNT=3
SUMMARY:last Friday
END:VEVENT
BEGIN:VEVENT
DTSTART;VALUE=DATE:20260131
RRULE:FREQ=MONTHLY;COUNT=3
SUMMARY:31st
END:VEVENT`)
	occ := occurrences(t, text, time.Date(2026, 1, 1, 0, 0, 0, 0, loc), time.Date(2027, 1, 1, 0, 0, 0, 0, loc), loc)
	var got []string
	for _, o := range occ {
		got = append(got, o.Start.Format("01-02")+" "+o.Summary)
	}
	// Months without a 31st are skipped, as RFC 5545 says.
	require.Equal(t, []string{"01-30 last Friday", "01-31 31st", "02-27 last Friday", "03-27 last Friday", "03-31 31st", "05-31 31st"}, got)
}

func TestICSInfiniteRuleSkipsAhead(t *testing.T) {
	loc := time.UTC
	text := ics(`
BEGIN:VEVENT
DTSTART:19700101T000000Z
DTEND:19700101T010000Z
RRULE:FREQ=DAILY
SUMMARY:nightly since 1970
END:VEVENT`)
	occ := occurrences(t, text, time.Date(2026, 6, 1, 0, 30, 0, 0, loc), time.Date(2026, 6, 3, 0, 0, 0, 0, loc), loc)
	require.Equal(t, []string{"2026-06-01 00:00 UTC", "2026-06-02 00:00 UTC"}, starts(occ, loc))
}

func TestICSFoldingCancelledAndIgnoredParts(t *testing.T) {
	text := "BEGIN:VCALENDAR\nBEGIN:VTIMEZONE\nTZID:Europe/Berlin\nEND:VTIMEZONE\n" +
		"BEGIN:VEVENT\nDTSTART;VALUE=DATE:20260406\nSUMMARY:Easter\n  Monday\nX-CUSTOM:ignored\n" +
		"BEGIN:VALARM\nTRIGGER:-PT15M\nEND:VALARM\nEND:VEVENT\n" +
		"BEGIN:VEVENT\nDTSTART;VALUE=DATE:20260407\nSTATUS:CANCELLED\nSUMMARY:gone\nEND:VEVENT\n" +
		"BEGIN:VTODO\nSUMMARY:not an event\nEND:VTODO\nEND:VCALENDAR"
	cal, err := ParseICS(text)
	require.NoError(t, err)
	require.Len(t, cal.Events, 1)
	require.Equal(t, "Easter Monday", cal.Events[0].Summary)
}

func TestICSMalformed(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"not a calendar", "hello\n", []string{`line 1: expected NAME:VALUE, got "hello"`}},
		{"no VCALENDAR", "BEGIN:VEVENT\nEND:VEVENT\n", []string{"line 1: BEGIN:VEVENT outside BEGIN:VCALENDAR", "line 2: END:VEVENT without BEGIN:VEVENT"}},
		{"empty", "\n\n", []string{"line 1: not an iCalendar text: expected BEGIN:VCALENDAR"}},
		{"unterminated", "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20260101\n", []string{
			"line 1: BEGIN:VCALENDAR has no matching END:VCALENDAR", "line 2: BEGIN:VEVENT has no matching END:VEVENT"}},
		{"mismatched END", "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20260101\nEND:VCALENDAR\nEND:VEVENT\nEND:VCALENDAR\n",
			[]string{"line 4: END:VCALENDAR does not match BEGIN:VEVENT at line 2"}},
		{"missing DTSTART", ics("BEGIN:VEVENT\nSUMMARY:x\nEND:VEVENT"), []string{"line 4: event has no DTSTART"}},
		{"bad date", ics("BEGIN:VEVENT\nDTSTART;VALUE=DATE:2026-12-25\nEND:VEVENT"),
			[]string{`line 5: DTSTART: "2026-12-25" is not a date YYYYMMDD`}},
		{"bad date-time", ics("BEGIN:VEVENT\nDTSTART:20261225T9\nDTEND:20261225T100000\nEND:VEVENT"),
			[]string{`line 5: DTSTART: "20261225T9" is not a date-time YYYYMMDDTHHMMSS`}},
		{"unknown TZID", ics("BEGIN:VEVENT\nDTSTART;TZID=Customized Time Zone:20261225T090000\nDURATION:PT1H\nEND:VEVENT"),
			[]string{"line 5: DTSTART: unknown time zone TZID=Customized Time Zone: use an IANA name such as Europe/Berlin or a Windows zone name"}},
		{"end before start", ics("BEGIN:VEVENT\nDTSTART:20261225T100000Z\nDTEND:20261225T090000Z\nEND:VEVENT"),
			[]string{"line 6: event ends at or before its start"}},
		{"no end for a timed event", ics("BEGIN:VEVENT\nDTSTART:20261225T100000Z\nEND:VEVENT"),
			[]string{"line 5: timed event has neither DTEND nor DURATION"}},
		{"date and date-time mixed", ics("BEGIN:VEVENT\nDTSTART;VALUE=DATE:20261225\nDTEND:20261225T100000Z\nEND:VEVENT"),
			[]string{"line 6: DTEND is a date-time but DTSTART is a date"}},
		{"DTEND and DURATION", ics("BEGIN:VEVENT\nDTSTART:20261225T100000Z\nDTEND:20261225T110000Z\nDURATION:PT1H\nEND:VEVENT"),
			[]string{"line 7: event has both DTEND and DURATION"}},
		{"unsupported RRULE part", ics("BEGIN:VEVENT\nDTSTART:20261225T100000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;BYHOUR=9,17\nEND:VEVENT"),
			[]string{"line 7: RRULE: BYHOUR, BYMINUTE and BYSECOND are not supported"}},
		{"unknown RRULE part", ics("BEGIN:VEVENT\nDTSTART;VALUE=DATE:20261225\nRRULE:FREQ=YEARLY;BYFOO=1\nEND:VEVENT"),
			[]string{"line 6: RRULE: \"FREQ=YEARLY;BYFOO=1\": unknown RRULE property: BYFOO"}},
		{"unsupported FREQ", ics("BEGIN:VEVENT\nDTSTART;VALUE=DATE:20261225\nRRULE:FREQ=HOURLY\nEND:VEVENT"),
			[]string{"line 6: RRULE: FREQ=HOURLY is not supported"}},
		{"COUNT and UNTIL", ics("BEGIN:VEVENT\nDTSTART;VALUE=DATE:20261225\nRRULE:FREQ=YEARLY;COUNT=2;UNTIL=20301231\nEND:VEVENT"),
			[]string{"line 6: RRULE: has both COUNT and UNTIL"}},
		{"RDATE period", ics("BEGIN:VEVENT\nDTSTART;VALUE=DATE:20261225\nRDATE;VALUE=PERIOD:20271225T000000Z/PT1H\nEND:VEVENT"),
			[]string{"line 6: RDATE;VALUE=PERIOD is not supported"}},
		{"bad EXDATE in a list", ics("BEGIN:VEVENT\nDTSTART;VALUE=DATE:20261225\nRRULE:FREQ=YEARLY\nEXDATE;VALUE=DATE:20271225,2028\nEND:VEVENT"),
			[]string{`line 7: EXDATE: "2028" is not a date YYYYMMDD`}},
		{"bad duration", ics("BEGIN:VEVENT\nDTSTART:20261225T100000Z\nDURATION:1 hour\nEND:VEVENT"),
			[]string{`line 6: DURATION: "1 hour" is not a duration such as PT1H30M`}},
		{"several problems at once", ics("BEGIN:VEVENT\nDTSTART:nope\nEND:VEVENT\nBEGIN:VEVENT\nDTSTART:20261225T100000Z\nRRULE:FREQ=WEEKLY;BYDAY=XX\nDURATION:PT1H\nEND:VEVENT"),
			[]string{`line 5: DTSTART: "nope" is not a date-time`, `line 9: RRULE: "FREQ=WEEKLY;BYDAY=XX": undefined weekday: XX`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseICS(tc.text)
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrICS))
			var es ICSError
			require.ErrorAs(t, err, &es)
			got := make([]string, len(es))
			for i, e := range es {
				got[i] = e.Error()
			}
			require.Len(t, got, len(tc.want), "%v", got)
			for i, w := range tc.want {
				require.Contains(t, got[i], w)
			}
		})
	}
}

func TestICSTooLarge(t *testing.T) {
	_, err := ParseICS(strings.Repeat("X", MaxICSBytes+1))
	require.ErrorIs(t, err, ErrICS)
	require.Contains(t, err.Error(), "at most")
}

// FuzzParseICS: ParseICS never panics and stays within its limits, and
// whatever it accepts can be expanded over a year, or is refused as too
// costly to expand.
func FuzzParseICS(f *testing.F) {
	f.Add(ics("BEGIN:VEVENT\nDTSTART;VALUE=DATE:20261225\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=4TH\nEND:VEVENT"))
	f.Add(ics("BEGIN:VEVENT\nDTSTART;TZID=Europe/Berlin:20260323T090000\nDURATION:PT1H\nRRULE:FREQ=WEEKLY;BYDAY=MO,FR;COUNT=9\nEND:VEVENT"))
	f.Add(ics("BEGIN:VEVENT\nDTSTART:20260131T000000Z\nDTEND:20260131T010000Z\nRRULE:FREQ=MONTHLY;BYMONTHDAY=-1,15\nEND:VEVENT"))
	f.Add(ics("BEGIN:VEVENT\nUID:a\nDTSTART;VALUE=DATE:20260105\nRRULE:FREQ=WEEKLY;BYSETPOS=-1;BYDAY=MO,TU\nRDATE;VALUE=DATE:20260301\nEND:VEVENT",
		"BEGIN:VEVENT\nUID:a\nRECURRENCE-ID;VALUE=DATE:20260112\nDTSTART;VALUE=DATE:20260113\nEND:VEVENT"))
	f.Add("BEGIN:VCALENDAR\n X\nEND:VCALENDAR")
	for _, name := range []string{"google.ics", "outlook.ics"} {
		text, err := os.ReadFile("testdata/" + name)
		require.NoError(f, err)
		f.Add(string(text))
	}
	f.Fuzz(func(t *testing.T, text string) {
		cal, err := ParseICS(text)
		if err != nil {
			require.ErrorIs(t, err, ErrICS)
			return
		}
		require.LessOrEqual(t, len(cal.Events), MaxEvents)
		from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if _, err := cal.Occurrences(from, from.AddDate(1, 0, 0), time.UTC); err != nil {
			require.ErrorIs(t, err, ErrExpansion)
		}
	})
}
