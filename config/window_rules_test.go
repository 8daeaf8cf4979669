package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const holidaysICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261225\r\n" +
	"RRULE:FREQ=YEARLY\r\nSUMMARY:Christmas\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"

// fullSchedule sets every schedule field to a valid value.
func fullSchedule() *ScheduleSpec {
	return &ScheduleSpec{
		Timezone: "Europe/Berlin",
		Windows:  []string{"Mon-Thu 09:00-16:00", "Fri 09:00-12:00"},
		Blackouts: []BlackoutSpec{
			{From: "2026-12-20T00:00:00+01:00", To: "2027-01-04T00:00:00+01:00", Reason: "year-end freeze"},
			{From: "2026-06-01", To: "2026-06-02 12:00", Reason: "migration"},
		},
		Calendar: &CalendarSpec{ICS: holidaysICS},
		OnCall: &OnCallSpec{
			Shifts:    []ShiftSpec{{Who: "alice", From: "2026-06-01 09:00", To: "2026-06-08 09:00"}},
			Rotations: []RotationSpec{{People: []string{"bob", "carol"}, Start: "2026-06-08 09:00", Every: dur("168h"), Hours: []string{"Mon-Fri 08:00-18:00"}, Until: "2027-06-01"}},
			ICS:       "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20260601T000000Z\nDURATION:P1D\nSUMMARY:dave\nEND:VEVENT\nEND:VCALENDAR\n",
		},
		TrafficQuery:    `sum(rate(requests_total{service="{{service}}"}[1h]))`,
		TrafficLookback: dur("336h"),
		Slot:            dur("15m"),
	}
}

func scheduleErrors(s *ScheduleSpec) []string {
	spec := ReleasePolicySpec{Services: []string{"web"}, Schedule: s}
	return policyErrors(spec)
}

func TestScheduleRules(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *ScheduleSpec)
		want   []string
	}{
		{name: "every field set and valid", mutate: func(*ScheduleSpec) {}},
		{name: "timezone only", mutate: func(s *ScheduleSpec) { *s = ScheduleSpec{Timezone: "UTC"} }},
		{name: "maxWait in range", mutate: func(s *ScheduleSpec) { s.MaxWait = Duration(72 * time.Hour) }},
		{name: "maxWait too long", mutate: func(s *ScheduleSpec) { s.MaxWait = Duration(40 * 24 * time.Hour) },
			want: []string{`spec.schedule.maxWait: must be from 0 (the default: the 7-day horizon) to 744h0m0s, got 960h0m0s`}},
		{name: "maxWait negative", mutate: func(s *ScheduleSpec) { s.MaxWait = Duration(-time.Hour) },
			want: []string{`spec.schedule.maxWait: must be from 0 (the default: the 7-day horizon) to 744h0m0s, got -1h0m0s`}},
		{name: "timezone missing", mutate: func(s *ScheduleSpec) { s.Timezone = "" },
			want: []string{`spec.schedule.timezone: a time zone name is required, e.g. "Europe/Berlin" or "UTC"`}},
		{name: "bad timezone", mutate: func(s *ScheduleSpec) { s.Timezone = "Europe/Berln" },
			want: []string{`spec.schedule.timezone: invalid time zone "Europe/Berln": not in the tz database; use an IANA name such as "Europe/Berlin", "America/New_York" or "UTC"`}},
		{name: "Local timezone", mutate: func(s *ScheduleSpec) { s.Timezone = "Local" },
			want: []string{`spec.schedule.timezone: "Local" depends on the machine; name the zone, e.g. "Europe/Berlin"`}},
		{name: "bad window syntax says the expected form", mutate: func(s *ScheduleSpec) { s.Windows[0] = "Mon-Thu 9-16" },
			want: []string{`spec.schedule.windows[0]: invalid window "Mon-Thu 9-16": time "9" is not HH:MM with two-digit hours; want "DAYS HH:MM-HH:MM", e.g. "Mon-Thu 09:00-16:00", "Mon,Wed,Fri 10:00-12:30" or "Sat 22:00-24:00"`}},
		{name: "window across midnight", mutate: func(s *ScheduleSpec) { s.Windows[1] = "Fri 22:00-02:00" },
			want: []string{`spec.schedule.windows[1]: invalid window "Fri 22:00-02:00": the end 02:00 is not after the start 22:00 (a window cannot cross midnight: split it in two)`}},
		{name: "duplicate window", mutate: func(s *ScheduleSpec) { s.Windows[1] = "mon-thu 09:00-16:00" },
			want: []string{`spec.schedule.windows[1]: duplicate window "mon-thu 09:00-16:00" (also spec.schedule.windows[0])`}},
		{name: "blackout from after to", mutate: func(s *ScheduleSpec) { s.Blackouts[0].From, s.Blackouts[0].To = "2027-01-04", "2026-12-20" },
			want: []string{`spec.schedule.blackouts[0].to: must be after from (2027-01-04), got 2026-12-20`}},
		{name: "blackout from equals to", mutate: func(s *ScheduleSpec) { s.Blackouts[1].To = "2026-06-01T00:00:00+02:00" },
			want: []string{`spec.schedule.blackouts[1].to: must be after from (2026-06-01), got 2026-06-01T00:00:00+02:00`}},
		{name: "blackout unreadable times and no reason", mutate: func(s *ScheduleSpec) {
			s.Blackouts[0] = BlackoutSpec{From: "20.12.2026", To: ""}
		}, want: []string{
			`spec.schedule.blackouts[0].from: invalid time "20.12.2026": want RFC 3339 such as "2026-12-20T00:00:00+01:00", or a wall-clock time in the schedule's time zone such as "2026-12-20 00:00" or "2026-12-20"`,
			`spec.schedule.blackouts[0].to: required: a time such as "2026-12-20T00:00:00+01:00" or "2026-12-20 00:00"`,
			`spec.schedule.blackouts[0].reason: required: say why releases are blocked, e.g. "year-end freeze"`,
		}},
		{name: "bad timezone still checks the form of times once", mutate: func(s *ScheduleSpec) {
			s.Timezone = "Nowhere"
			s.Blackouts = []BlackoutSpec{{From: "2026-06-01", To: "2026-06-02", Reason: "x"}}
		}, want: []string{`spec.schedule.timezone: invalid time zone "Nowhere"`}},
		{name: "unparseable ics with line numbers", mutate: func(s *ScheduleSpec) {
			s.Calendar.ICS = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:2026-12-25\nEND:VEVENT\nBEGIN:VEVENT\nSUMMARY:no start\nEND:VEVENT\nEND:VCALENDAR\n"
		}, want: []string{
			`spec.schedule.calendar.ics: iCalendar line 3: DTSTART: "2026-12-25" is not a date YYYYMMDD`,
			`spec.schedule.calendar.ics: iCalendar line 5: event has no DTSTART`,
		}},
		{name: "unbalanced ics", mutate: func(s *ScheduleSpec) {
			s.Calendar.ICS = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:VCALENDAR\n"
		}, want: []string{
			`spec.schedule.calendar.ics: iCalendar line 1: BEGIN:VCALENDAR has no matching END:VCALENDAR`,
			`spec.schedule.calendar.ics: iCalendar line 2: BEGIN:VEVENT has no matching END:VEVENT`,
			`spec.schedule.calendar.ics: iCalendar line 3: END:VCALENDAR does not match BEGIN:VEVENT at line 2`,
		}},
		{name: "empty calendar", mutate: func(s *ScheduleSpec) { s.Calendar.ICS = "  " },
			want: []string{`spec.schedule.calendar.ics: required: the iCalendar text (BEGIN:VCALENDAR ... END:VCALENDAR); remove calendar to have none`}},
		{name: "empty on-call", mutate: func(s *ScheduleSpec) { s.OnCall = &OnCallSpec{} },
			want: []string{`spec.schedule.onCall: set shifts, rotations or ics (or remove onCall to not check staffing)`}},
		{name: "bad shift", mutate: func(s *ScheduleSpec) { s.OnCall.Shifts[0] = ShiftSpec{From: "2026-06-08", To: "2026-06-01"} },
			want: []string{
				`spec.schedule.onCall.shifts[0].who: required: who is on call`,
				`spec.schedule.onCall.shifts[0].to: must be after from (2026-06-08), got 2026-06-01`,
			}},
		{name: "bad rotation", mutate: func(s *ScheduleSpec) {
			s.OnCall.Rotations[0] = RotationSpec{People: []string{"bob", " "}, Start: "2026-06-08 09:00", Every: dur("30m"), Hours: []string{"weekdays"}, Until: "2026-01-01"}
		}, want: []string{
			`spec.schedule.onCall.rotations[0].people[1]: must not be empty`,
			`spec.schedule.onCall.rotations[0].every: must be at least 1h0m0s when set (default 168h0m0s), got 30m0s`,
			`spec.schedule.onCall.rotations[0].hours[0]: invalid window "weekdays"`,
			`spec.schedule.onCall.rotations[0].until: must be after start (2026-06-08 09:00), got 2026-01-01`,
		}},
		{name: "rotation without people or start", mutate: func(s *ScheduleSpec) { s.OnCall.Rotations[0] = RotationSpec{} },
			want: []string{
				`spec.schedule.onCall.rotations[0].people: at least one person is required`,
				`spec.schedule.onCall.rotations[0].start: required`,
			}},
		{name: "bad on-call ics", mutate: func(s *ScheduleSpec) {
			s.OnCall.ICS = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20260601T000000Z\nSUMMARY:x\nEND:VEVENT\nEND:VCALENDAR"
		},
			want: []string{`spec.schedule.onCall.ics: iCalendar line 3: timed event has neither DTEND nor DURATION, so it would last no time`}},
		{name: "traffic query placeholders", mutate: func(s *ScheduleSpec) { s.TrafficQuery = `sum(rate(x{v="{{version}}",s="{{service}` },
			want: []string{`spec.schedule.trafficQuery: unknown placeholder "{{version}}": use {{service}}`}},
		{name: "traffic query unterminated placeholder", mutate: func(s *ScheduleSpec) { s.TrafficQuery = `sum(rate(x{s="{{service}` },
			want: []string{`spec.schedule.trafficQuery: unterminated placeholder "{{service}": use {{service}}`}},
		{name: "lookback out of range", mutate: func(s *ScheduleSpec) { s.TrafficLookback = dur("24h") },
			want: []string{`spec.schedule.trafficLookback: must be from 168h0m0s to 1344h0m0s (one to eight weeks), got 24h0m0s`}},
		{name: "lookback not whole hours", mutate: func(s *ScheduleSpec) { s.TrafficLookback = dur("200h30m") },
			want: []string{`spec.schedule.trafficLookback: must be a whole number of hours, got 200h30m0s`}},
		{name: "slot out of range", mutate: func(s *ScheduleSpec) { s.Slot = dur("1m") },
			want: []string{`spec.schedule.slot: must be from 5m0s to 4h0m0s, got 1m0s`}},
		{name: "slot does not divide a day", mutate: func(s *ScheduleSpec) { s.Slot = dur("7m") },
			want: []string{`spec.schedule.slot: must be a whole number of minutes that divides a day evenly (e.g. 15m, 30m, 1h), got 7m0s`}},
		{name: "too many windows", mutate: func(s *ScheduleSpec) {
			s.Windows = nil
			for i := range MaxWindows + 1 {
				s.Windows = append(s.Windows, fmt.Sprintf("Mon 00:%02d-23:00", i%60))
			}
		}, want: []string{`spec.schedule.windows: at most 50 windows are allowed, got 51`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := fullSchedule()
			tc.mutate(s)
			got := scheduleErrors(s)
			require.Len(t, got, len(tc.want), "%q", got)
			for i, w := range tc.want {
				require.Contains(t, got[i], w)
			}
		})
	}
}

// TestScheduleErrorsPointAtTheField: problems found in a file name the
// line of the offending value.
func TestScheduleErrorsPointAtTheField(t *testing.T) {
	doc := policy("p", "web") + `  schedule:
    timezone: Europe/Berlin
    windows:
      - Mon-Thu 09:00-16:00
      - Mon-Thu 9-16
    blackouts:
      - {from: "2026-12-20", to: "2026-12-19", reason: freeze}
    calendar:
      ics: |
        BEGIN:VCALENDAR
        BEGIN:VEVENT
        DTSTART;VALUE=DATE:20261225
        RRULE:FREQ=SECONDLY
        END:VEVENT
        END:VCALENDAR
    slot: 30m
`
	_, err := Parse("policy.yaml", []byte(doc))
	require.ErrorIs(t, err, ErrInvalid)
	lines := errorLines(t, err)
	require.Len(t, lines, 3, "%q", lines)
	require.Contains(t, lines[0], `policy.yaml:11:9: ReleasePolicy "p": spec.schedule.windows[1]: invalid window "Mon-Thu 9-16"`)
	require.Contains(t, lines[1], `policy.yaml:13:34: ReleasePolicy "p": spec.schedule.blackouts[0].to: must be after from (2026-12-20), got 2026-12-19`)
	require.Contains(t, lines[2], `policy.yaml:15:12: ReleasePolicy "p": spec.schedule.calendar.ics: iCalendar line 4: RRULE: FREQ=SECONDLY is not supported`)

	// An unknown field gets the usual hint.
	_, err = Parse("policy.yaml", []byte(policy("p", "web")+"  schedule:\n    timezone: UTC\n    window: [\"Mon 09:00-10:00\"]\n"))
	require.ErrorIs(t, err, ErrInvalid)
	require.Contains(t, err.Error(), `spec.schedule.window`)
	require.Contains(t, err.Error(), `windows`)
}

func TestScheduleWithDefaults(t *testing.T) {
	require.Nil(t, ScheduleWithDefaults(nil))
	in := &ScheduleSpec{Timezone: "UTC", Windows: []string{"Mon 09:00-10:00"},
		OnCall: &OnCallSpec{Rotations: []RotationSpec{{People: []string{"a"}, Start: "2026-01-01"}}}}
	out := ScheduleWithDefaults(in)
	require.Equal(t, Duration(DefaultSlot), out.Slot)
	require.Equal(t, Duration(DefaultTrafficLookback), out.TrafficLookback)
	require.Equal(t, DefaultTrafficQuery, out.TrafficQuery)
	require.Equal(t, Duration(DefaultRotationEvery), out.OnCall.Rotations[0].Every)
	// The defaults are themselves valid.
	require.Empty(t, scheduleErrors(out))
	require.Empty(t, scheduleErrors(ScheduleWithDefaults(fullSchedule())))
	// The input is untouched and nothing is shared.
	require.Zero(t, in.Slot)
	require.Zero(t, in.OnCall.Rotations[0].Every)
	out.Windows[0] = "changed"
	out.OnCall.Rotations[0].People[0] = "changed"
	require.Equal(t, "Mon 09:00-10:00", in.Windows[0])
	require.Equal(t, "a", in.OnCall.Rotations[0].People[0])
	require.Equal(t, 30*time.Minute, DefaultSlot)
}

// TestWindowsDocExamples: the YAML examples in docs/windows.md parse and
// check cleanly, so the documentation cannot drift from the rules.
func TestWindowsDocExamples(t *testing.T) {
	src, err := os.ReadFile("../docs/windows.md")
	require.NoError(t, err)
	lines := strings.Split(string(src), "\n")
	blocks := 0
	for i := 0; i < len(lines); i++ {
		if lines[i] != "```yaml" {
			continue
		}
		start := i + 1
		for i++; i < len(lines) && lines[i] != "```"; i++ {
		}
		block := strings.Join(lines[start:i], "\n")
		docs, err := Parse(fmt.Sprintf("windows.md:%d", start), []byte(block))
		require.NoError(t, err, "block at line %d", start)
		require.NoError(t, Check(docs, newCatalog(t, svc("web", "http", 8080, "")+"---\n"+svc("checkout", "http", 8081, ""))), "block at line %d", start)
		for _, d := range docs {
			require.NotNil(t, d.ReleasePolicy, "block at line %d", start)
			require.NotNil(t, d.ReleasePolicy.Spec.Schedule, "block at line %d", start)
		}
		blocks++
	}
	require.Positive(t, blocks)
}
