package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/calendar"
)

// checkSchedule applies the rules of spec.schedule. It is pure: time zones
// come from the tz database (embedded in the binary when the host has
// none) and calendars are inline text, so every node reaches the same
// answer.
func checkSchedule(r *reporter, s *ScheduleSpec) {
	if s == nil {
		return
	}
	const sp = "spec.schedule"
	loc, err := calendar.LoadLocation(s.Timezone)
	if err != nil {
		r.addf(sp+".timezone", "%s", trimSentinel(err, calendar.ErrTimezone))
	}
	// With a bad time zone, times are still checked for their form; a
	// stand-in zone keeps wall-clock times from being reported twice.
	timeLoc := loc
	if timeLoc == nil {
		timeLoc = time.UTC
	}
	checkWeeklyList(r, sp+".windows", s.Windows, MaxWindows)

	if len(s.Blackouts) > MaxBlackouts {
		r.addf(sp+".blackouts", "at most %d blackouts are allowed, got %d", MaxBlackouts, len(s.Blackouts))
	}
	for i, b := range s.Blackouts {
		path := fmt.Sprintf("%s.blackouts[%d]", sp, i)
		checkSpan(r, path, b.From, b.To, timeLoc)
		if strings.TrimSpace(b.Reason) == "" {
			r.addf(path+".reason", "required: say why releases are blocked, e.g. \"year-end freeze\"")
		}
	}

	if c := s.Calendar; c != nil {
		if strings.TrimSpace(c.ICS) == "" {
			r.addf(sp+".calendar.ics", "required: the iCalendar text (BEGIN:VCALENDAR ... END:VCALENDAR); remove calendar to have none")
		} else {
			checkICS(r, sp+".calendar.ics", c.ICS)
		}
	}
	if oc := s.OnCall; oc != nil {
		checkOnCall(r, sp+".onCall", oc, timeLoc)
	}
	checkServiceTemplate(r, sp+".trafficQuery", s.TrafficQuery)

	if lb := s.TrafficLookback.D(); lb != 0 {
		switch {
		case lb < MinTrafficLookback || lb > MaxTrafficLookback:
			r.addf(sp+".trafficLookback", "must be from %s to %s (one to eight weeks), got %s", MinTrafficLookback, MaxTrafficLookback, lb)
		case lb%time.Hour != 0:
			r.addf(sp+".trafficLookback", "must be a whole number of hours, got %s", lb)
		}
	}
	if slot := s.Slot.D(); slot != 0 {
		switch {
		case slot < MinSlot || slot > MaxSlot:
			r.addf(sp+".slot", "must be from %s to %s, got %s", MinSlot, MaxSlot, slot)
		case slot%time.Minute != 0 || (24*time.Hour)%slot != 0:
			r.addf(sp+".slot", "must be a whole number of minutes that divides a day evenly (e.g. 15m, 30m, 1h), got %s", slot)
		}
	}
	if mw := s.MaxWait.D(); mw < 0 || mw > MaxMaxWait {
		r.addf(sp+".maxWait", "must be from 0 (the default: the 7-day horizon) to %s, got %s", MaxMaxWait, mw)
	}
}

// checkWeeklyList checks a list of weekly windows such as
// "Mon-Thu 09:00-16:00".
func checkWeeklyList(r *reporter, path string, list []string, limit int) {
	if len(list) > limit {
		r.addf(path, "at most %d windows are allowed, got %d", limit, len(list))
	}
	seen := map[string]int{}
	for i, w := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		parsed, err := calendar.ParseWeekly(w)
		if err != nil {
			r.addf(p, "%s", trimSentinel(err, calendar.ErrWeekly))
			continue
		}
		key := parsed.String()
		if first, dup := seen[key]; dup {
			r.addf(p, "duplicate window %q (also %s[%d])", w, path, first)
			continue
		}
		seen[key] = i
	}
}

// checkSpan checks a from/to pair of times.
func checkSpan(r *reporter, path, from, to string, loc *time.Location) {
	f, errF := parseScheduleTime(r, path+".from", from, loc)
	t, errT := parseScheduleTime(r, path+".to", to, loc)
	if errF == nil && errT == nil && !t.After(f) {
		r.addf(path+".to", "must be after from (%s), got %s", from, to)
	}
}

// parseScheduleTime reports a missing or unreadable time at path.
func parseScheduleTime(r *reporter, path, s string, loc *time.Location) (time.Time, error) {
	if strings.TrimSpace(s) == "" {
		r.addf(path, "required: a time such as \"2026-12-20T00:00:00+01:00\" or \"2026-12-20 00:00\"")
		return time.Time{}, errRequired
	}
	t, err := calendar.ParseTime(s, loc)
	if err != nil {
		r.addf(path, "%s", trimSentinel(err, calendar.ErrTime))
	}
	return t, err
}

// errRequired marks a value that was reported as missing.
var errRequired = errors.New("required")

// checkICS reports each problem of an iCalendar text with its line.
func checkICS(r *reporter, path, text string) {
	if _, err := calendar.ParseICS(text); err != nil {
		var es calendar.ICSError
		if errors.As(err, &es) {
			for _, e := range es {
				r.addf(path, "iCalendar line %d: %s", e.Line, e.Msg)
			}
			return
		}
		r.addf(path, "%v", err)
	}
}

func checkOnCall(r *reporter, path string, oc *OnCallSpec, loc *time.Location) {
	if len(oc.Shifts) == 0 && len(oc.Rotations) == 0 && strings.TrimSpace(oc.ICS) == "" {
		r.addf(path, "set shifts, rotations or ics (or remove onCall to not check staffing)")
	}
	if len(oc.Shifts) > MaxShifts {
		r.addf(path+".shifts", "at most %d shifts are allowed, got %d", MaxShifts, len(oc.Shifts))
	}
	for i, sh := range oc.Shifts {
		p := fmt.Sprintf("%s.shifts[%d]", path, i)
		if strings.TrimSpace(sh.Who) == "" {
			r.addf(p+".who", "required: who is on call")
		}
		checkSpan(r, p, sh.From, sh.To, loc)
	}
	if len(oc.Rotations) > MaxRotations {
		r.addf(path+".rotations", "at most %d rotations are allowed, got %d", MaxRotations, len(oc.Rotations))
	}
	for i, rot := range oc.Rotations {
		p := fmt.Sprintf("%s.rotations[%d]", path, i)
		switch {
		case len(rot.People) == 0:
			r.addf(p+".people", "at least one person is required")
		case len(rot.People) > MaxRotationPeople:
			r.addf(p+".people", "at most %d people are allowed, got %d", MaxRotationPeople, len(rot.People))
		}
		for j, who := range rot.People {
			if strings.TrimSpace(who) == "" {
				r.addf(fmt.Sprintf("%s.people[%d]", p, j), "must not be empty")
			}
		}
		start, errS := parseScheduleTime(r, p+".start", rot.Start, loc)
		if e := rot.Every.D(); e != 0 && e < MinRotationEvery {
			r.addf(p+".every", "must be at least %s when set (default %s), got %s", MinRotationEvery, DefaultRotationEvery, e)
		}
		checkWeeklyList(r, p+".hours", rot.Hours, MaxWindows)
		if rot.Until != "" {
			until, errU := calendar.ParseTime(rot.Until, loc)
			switch {
			case errU != nil:
				r.addf(p+".until", "%s", trimSentinel(errU, calendar.ErrTime))
			case errS == nil && !until.After(start):
				r.addf(p+".until", "must be after start (%s), got %s", rot.Start, rot.Until)
			}
		}
	}
	if strings.TrimSpace(oc.ICS) != "" {
		checkICS(r, path+".ics", oc.ICS)
	}
}

// checkServiceTemplate checks a query that may use {{service}} and no
// other placeholder. An empty template means the default.
func checkServiceTemplate(r *reporter, path, tmpl string) {
	if strings.TrimSpace(tmpl) != "" {
		checkQueryTemplate(r, path, tmpl, PlaceholderService)
	}
}

// trimSentinel drops a leading "sentinel: " (as in "invalid time zone: a
// time zone name is required") from a calendar error.
func trimSentinel(err, sentinel error) string {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, sentinel.Error()+": "); ok {
		return rest
	}
	return msg
}
