package config

import (
	"slices"
	"time"
)

// This file holds the release schedule of a ReleasePolicy: when releases
// of its services may run (windows, blackouts, a business calendar, the
// on-call schedule) and what the window optimizer reads to prefer some
// allowed times over others (the traffic query, the slot). The rules are
// in window_rules.go; analysis/window evaluates a schedule, and
// docs/windows.md explains the model.
//
// Everything here is plain data that validates without I/O: calendars are
// inline iCalendar text, not file paths, so every node of the cluster
// checks and evaluates exactly the same bytes.

// ScheduleSpec says when releases may run.
type ScheduleSpec struct {
	// Timezone is the IANA name (e.g. "Europe/Berlin") windows, wall-clock
	// times, all-day calendar events and the traffic profile are read in.
	Timezone string `json:"timezone"`
	// Windows are the weekly spans releases may run in, such as
	// "Mon-Thu 09:00-16:00"; a release must start and finish inside them.
	// None means any time (blackouts, calendar and on-call still apply).
	Windows []string `json:"windows,omitempty"`
	// Blackouts are periods no release may overlap, such as a year-end
	// freeze.
	Blackouts []BlackoutSpec `json:"blackouts,omitempty"`
	// Calendar is a business calendar: every event in it (a holiday, a
	// company event) is a period no release may overlap.
	Calendar *CalendarSpec `json:"calendar,omitempty"`
	// OnCall is who is on call for the policy's services. When set,
	// someone must be on call for the whole expected duration of a
	// release; when absent, staffing is not checked.
	OnCall *OnCallSpec `json:"onCall,omitempty"`
	// TrafficQuery returns the service's request rate; the optimizer runs
	// it as a range query with a 1h step over TrafficLookback to learn the
	// traffic of each hour of the week. It may use {{service}}.
	TrafficQuery string `json:"trafficQuery,omitempty"`
	// TrafficLookback is how far back the traffic profile looks.
	TrafficLookback Duration `json:"trafficLookback,omitempty"`
	// Slot is the spacing of candidate start times.
	Slot Duration `json:"slot,omitempty"`
	// MaxWait is the delay-versus-traffic trade-off: how long past its
	// earliest allowed start a release of risk 1 may wait for the quietest
	// start. A release of risk r waits at most r × maxWait, and within
	// that takes the start with the least expected traffic. Default (0):
	// the optimizer's horizon, seven days.
	MaxWait Duration `json:"maxWait,omitempty"`
}

// BlackoutSpec is a period no release may overlap. From and To are RFC
// 3339 times ("2026-12-20T00:00:00+01:00"), or wall-clock times in the
// schedule's time zone ("2026-12-20 00:00", "2026-12-20").
type BlackoutSpec struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason"`
}

// CalendarSpec is a business calendar.
type CalendarSpec struct {
	// ICS is the iCalendar (RFC 5545) text itself, typically a YAML block
	// scalar (ics: |). Its VEVENTs, recurring ones included, block
	// releases; all-day events cover whole days in the schedule's zone.
	ICS string `json:"ics"`
}

// OnCallSpec is an on-call schedule: the union of its shifts, rotations
// and calendar events. At least one of them is set.
type OnCallSpec struct {
	Shifts    []ShiftSpec    `json:"shifts,omitempty"`
	Rotations []RotationSpec `json:"rotations,omitempty"`
	// ICS is an iCalendar text whose events are shifts: SUMMARY names who
	// is on call from DTSTART to DTEND.
	ICS string `json:"ics,omitempty"`
}

// ShiftSpec is one on-call shift. From and To read like a blackout's.
type ShiftSpec struct {
	Who  string `json:"who"`
	From string `json:"from"`
	To   string `json:"to"`
}

// RotationSpec is a repeating rotation: People take turns, each for Every
// (a week by default), starting with People[0] at Start.
type RotationSpec struct {
	People []string `json:"people"`
	// Start is the first handover, read like a blackout's From.
	Start string `json:"start"`
	// Every is the length of one turn.
	Every Duration `json:"every,omitempty"`
	// Hours limits the rotation to weekly windows (business-hours
	// on-call), written like spec.schedule.windows; none means around the
	// clock.
	Hours []string `json:"hours,omitempty"`
	// Until, when set, ends the rotation.
	Until string `json:"until,omitempty"`
}

// Schedule defaults and limits. ScheduleWithDefaults applies the defaults;
// docs/windows.md explains them.
const (
	// DefaultSlot is the spacing of candidate start times: fine enough to
	// use a window well, coarse enough that a week is 336 candidates.
	DefaultSlot = 30 * time.Minute
	// DefaultTrafficLookback is three weeks: three samples of each hour of
	// the week, so that the median ignores one bad week (an outage, a
	// holiday).
	DefaultTrafficLookback = 21 * 24 * time.Hour
	// DefaultTrafficQuery is the request rate of the service, averaged
	// over each hour.
	DefaultTrafficQuery = `sum(rate(requests_total{service="` + PlaceholderService + `"}[1h]))`
	// DefaultRotationEvery is one turn of a rotation: a week.
	DefaultRotationEvery = 7 * 24 * time.Hour

	// MinSlot and MaxSlot bound spec.schedule.slot.
	MinSlot = 5 * time.Minute
	MaxSlot = 4 * time.Hour
	// MaxMaxWait bounds maxWait: the longest horizon the optimizer looks
	// ahead.
	MaxMaxWait = 31 * 24 * time.Hour
	// MinTrafficLookback and MaxTrafficLookback bound trafficLookback: at
	// least one week (one sample of every hour of the week), at most
	// eight.
	MinTrafficLookback = 7 * 24 * time.Hour
	MaxTrafficLookback = 56 * 24 * time.Hour
	// MinRotationEvery is the shortest turn of a rotation.
	MinRotationEvery = time.Hour

	// MaxWindows, MaxBlackouts, MaxShifts, MaxRotations and
	// MaxRotationPeople keep a schedule a reasonable part of a replicated
	// policy; inline calendars are bounded by the calendar package.
	MaxWindows        = 50
	MaxBlackouts      = 500
	MaxShifts         = 2000
	MaxRotations      = 20
	MaxRotationPeople = 100
)

// ScheduleWithDefaults returns a copy of s with the defaults filled in:
// slot, trafficLookback, trafficQuery and each rotation's every. It
// returns nil for nil; the copy shares no memory with s.
func ScheduleWithDefaults(s *ScheduleSpec) *ScheduleSpec {
	if s == nil {
		return nil
	}
	out := *s
	out.Windows = slices.Clone(s.Windows)
	out.Blackouts = slices.Clone(s.Blackouts)
	if s.Calendar != nil {
		c := *s.Calendar
		out.Calendar = &c
	}
	if s.OnCall != nil {
		oc := OnCallSpec{
			Shifts: slices.Clone(s.OnCall.Shifts),
			ICS:    s.OnCall.ICS,
		}
		for _, r := range s.OnCall.Rotations {
			r.People = slices.Clone(r.People)
			r.Hours = slices.Clone(r.Hours)
			if r.Every == 0 {
				r.Every = Duration(DefaultRotationEvery)
			}
			oc.Rotations = append(oc.Rotations, r)
		}
		out.OnCall = &oc
	}
	if out.Slot == 0 {
		out.Slot = Duration(DefaultSlot)
	}
	if out.TrafficLookback == 0 {
		out.TrafficLookback = Duration(DefaultTrafficLookback)
	}
	if out.TrafficQuery == "" {
		out.TrafficQuery = DefaultTrafficQuery
	}
	return &out
}
