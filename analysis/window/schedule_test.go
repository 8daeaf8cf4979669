package window

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

func compile(t *testing.T, spec *config.ScheduleSpec) *Schedule {
	t.Helper()
	s, err := Compile(spec)
	require.NoError(t, err)
	return s
}

func TestRotationHandsOverAtWallClockAcrossDST(t *testing.T) {
	loc := mustLoc(t, berlinTZ)
	s := compile(t, &config.ScheduleSpec{Timezone: berlinTZ, OnCall: &config.OnCallSpec{Rotations: []config.RotationSpec{{
		People: []string{"alice", "bob", "carol"}, Start: "2026-03-16 09:00", // Mondays 09:00, weekly by default
	}}}})
	// Turns: alice Mar 16, bob Mar 23, carol Mar 30 (after the change to
	// summer time on Mar 29), alice Apr 6.
	check := func(tm time.Time, want ...string) {
		t.Helper()
		v := s.Check(tm, time.Hour)
		require.True(t, v.OK, v.Reason)
		require.Equal(t, want, v.OnCall, tm.String())
	}
	check(time.Date(2026, 3, 23, 8, 30, 0, 0, loc), "alice", "bob")
	check(time.Date(2026, 3, 30, 8, 0, 0, 0, loc), "bob")
	check(time.Date(2026, 3, 30, 8, 30, 0, 0, loc), "bob", "carol")
	check(time.Date(2026, 3, 30, 9, 0, 0, 0, loc), "carol")
	check(time.Date(2026, 4, 13, 9, 0, 0, 0, loc), "bob")
	// Before the rotation starts nobody is on call.
	v := s.Check(time.Date(2026, 3, 16, 8, 0, 0, 0, loc), 2*time.Hour)
	require.False(t, v.OK)
	require.Equal(t, ConstraintOnCall, v.Constraint)
	require.Contains(t, v.Reason, "no one is on call from Mon 2026-03-16 08:00 CET to Mon 2026-03-16 09:00 CET")
}

func TestRotationHoursAndUntil(t *testing.T) {
	loc := mustLoc(t, "UTC")
	s := compile(t, &config.ScheduleSpec{Timezone: "UTC", OnCall: &config.OnCallSpec{Rotations: []config.RotationSpec{{
		People: []string{"day-a", "day-b"}, Start: "2026-06-01 00:00", Every: config.Duration(24 * time.Hour),
		Hours: []string{"Mon-Fri 08:00-18:00"}, Until: "2026-06-05 12:00",
	}}}})
	at := func(day, h int) time.Time { return time.Date(2026, 6, day, h, 0, 0, 0, loc) }
	require.Equal(t, []string{"day-b"}, s.Check(at(2, 9), time.Hour).OnCall)
	require.False(t, s.Check(at(2, 17), 2*time.Hour).OK, "business hours end at 18:00")
	require.False(t, s.Check(at(6, 9), time.Hour).OK, "Saturday")
	require.True(t, s.Check(at(5, 11), time.Hour).OK)
	require.False(t, s.Check(at(5, 11), 2*time.Hour).OK, "the rotation ends at 12:00 on the 5th")
}

func TestOnCallFromICSAndShifts(t *testing.T) {
	loc := mustLoc(t, berlinTZ)
	s := compile(t, &config.ScheduleSpec{Timezone: berlinTZ, OnCall: &config.OnCallSpec{
		ICS: "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;TZID=Europe/Berlin:20260601T080000\nDTEND;TZID=Europe/Berlin:20260601T200000\n" +
			"RRULE:FREQ=DAILY;COUNT=5\nSUMMARY:dana\nEND:VEVENT\nEND:VCALENDAR\n",
		Shifts: []config.ShiftSpec{{Who: "erin", From: "2026-06-01T20:00:00+02:00", To: "2026-06-02T08:00:00+02:00"}},
	}})
	v := s.Check(time.Date(2026, 6, 1, 19, 0, 0, 0, loc), 2*time.Hour)
	require.True(t, v.OK, v.Reason)
	require.Equal(t, []string{"dana", "erin"}, v.OnCall)
	v = s.Check(time.Date(2026, 6, 2, 19, 0, 0, 0, loc), 2*time.Hour)
	require.False(t, v.OK)
	require.Contains(t, v.Reason, "no one is on call from Tue 2026-06-02 20:00 CEST to Tue 2026-06-02 21:00 CEST")
}

func TestCheckOrderAndReasons(t *testing.T) {
	loc := mustLoc(t, berlinTZ)
	spec := businessSpec("Mon-Fri 09:00-17:00")
	spec.Blackouts = []config.BlackoutSpec{{From: "2026-12-21", To: "2027-01-04", Reason: "year-end freeze"}}
	spec.Calendar = &config.CalendarSpec{ICS: "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20261003\n" +
		"RRULE:FREQ=YEARLY\nSUMMARY:Tag der Deutschen Einheit\nEND:VEVENT\nEND:VCALENDAR\n"}
	s := compile(t, spec)

	// 2027-10-03 is a Sunday: outside the windows, which are checked first.
	v := s.Check(time.Date(2027, 10, 3, 10, 0, 0, 0, loc), time.Hour)
	require.Equal(t, ConstraintWindow, v.Constraint)
	// 2028-10-03 is a Tuesday: the recurring holiday applies.
	v = s.Check(time.Date(2028, 10, 3, 10, 0, 0, 0, loc), time.Hour)
	require.Equal(t, ConstraintHoliday, v.Constraint)
	require.Contains(t, v.Reason, `overlaps the calendar event "Tag der Deutschen Einheit"`)
	v = s.Check(time.Date(2026, 12, 22, 10, 0, 0, 0, loc), time.Hour)
	require.Equal(t, ConstraintBlackout, v.Constraint)
	require.Contains(t, v.Reason, "year-end freeze")
	v = s.Check(time.Date(2027, 1, 4, 10, 0, 0, 0, loc), time.Hour)
	require.True(t, v.OK, v.Reason)
	require.Equal(t, "Mon-Fri 09:00-17:00", v.Window)
	require.Contains(t, v.Reason, "on-call not checked (no on-call schedule)")
}

func TestAdjacentWindowsJoin(t *testing.T) {
	loc := mustLoc(t, "UTC")
	s := compile(t, &config.ScheduleSpec{Timezone: "UTC", Windows: []string{"Fri 22:00-24:00", "Sat 00:00-02:00"}})
	v := s.Check(time.Date(2026, 6, 5, 23, 0, 0, 0, loc), 2*time.Hour)
	require.True(t, v.OK, "a release may run across midnight when two windows meet: %s", v.Reason)
	require.Equal(t, "Fri 22:00-24:00", v.Window)
}
