package calendar

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrWeekly is matched by a weekly window expression that ParseWeekly
// cannot read.
var ErrWeekly = errors.New("invalid window")

// WeeklyForm is the expected form of a weekly window, for messages.
const WeeklyForm = `"DAYS HH:MM-HH:MM", e.g. "Mon-Thu 09:00-16:00", "Mon,Wed,Fri 10:00-12:30" or "Sat 22:00-24:00"`

const minutesPerDay = 24 * 60

// dayNames are the accepted day names, indexed by time.Weekday.
var dayNames = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// Weekly is a window that repeats every week: the same wall-clock span on
// each of its days, in the schedule's time zone.
type Weekly struct {
	// Days, indexed by time.Weekday (Sunday is 0).
	Days [7]bool
	// Start and End are minutes after midnight; End may be 1440 (24:00).
	Start, End int
}

// ParseWeekly reads "DAYS HH:MM-HH:MM". DAYS is a comma-separated list of
// days (Mon, Tue, Wed, Thu, Fri, Sat, Sun, any case) and day ranges
// ("Mon-Thu"; a range may wrap, "Fri-Mon"). Times are 24-hour HH:MM with
// two-digit hours; the end may be 24:00 and must be after the start, so a
// window never crosses midnight: "Fri 22:00-24:00" and "Sat 00:00-02:00"
// together make one night window.
func ParseWeekly(s string) (Weekly, error) {
	fail := func(why string) (Weekly, error) {
		return Weekly{}, fmt.Errorf("%w %q: %s; want %s", ErrWeekly, s, why, WeeklyForm)
	}
	fields := strings.Fields(s)
	if len(fields) != 2 {
		return fail("expected days and a time range separated by one space")
	}
	var w Weekly
	for item := range strings.SplitSeq(fields[0], ",") {
		from, to, isRange := strings.Cut(item, "-")
		a, ok := parseDay(from)
		if !ok {
			return fail(fmt.Sprintf("unknown day %q (days are Mon, Tue, Wed, Thu, Fri, Sat, Sun)", from))
		}
		if !isRange {
			w.Days[a] = true
			continue
		}
		b, ok := parseDay(to)
		if !ok {
			return fail(fmt.Sprintf("unknown day %q (days are Mon, Tue, Wed, Thu, Fri, Sat, Sun)", to))
		}
		for d := a; ; d = (d + 1) % 7 {
			w.Days[d] = true
			if d == b {
				break
			}
		}
	}
	startText, endText, ok := strings.Cut(fields[1], "-")
	if !ok {
		return fail(fmt.Sprintf("time range %q has no '-'", fields[1]))
	}
	var err error
	if w.Start, err = parseClock(startText, false); err != nil {
		return fail(err.Error())
	}
	if w.End, err = parseClock(endText, true); err != nil {
		return fail(err.Error())
	}
	if w.End <= w.Start {
		return fail(fmt.Sprintf("the end %s is not after the start %s (a window cannot cross midnight: split it in two)", endText, startText))
	}
	return w, nil
}

func parseDay(s string) (time.Weekday, bool) {
	for i, n := range dayNames {
		if strings.EqualFold(s, n) {
			return time.Weekday(i), true
		}
	}
	return 0, false
}

// parseClock reads HH:MM (00:00-23:59, or 24:00 when end is set) into
// minutes after midnight.
func parseClock(s string, end bool) (int, error) {
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("time %q is not HH:MM with two-digit hours", s)
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	switch {
	case err1 != nil || err2 != nil || h < 0 || m < 0:
		return 0, fmt.Errorf("time %q is not HH:MM with two-digit hours", s)
	case h == 24 && m == 0 && end:
		return minutesPerDay, nil
	case h > 23 || m > 59:
		return 0, fmt.Errorf("time %q is out of range (00:00-23:59, or 24:00 as an end)", s)
	}
	return h*60 + m, nil
}

// String renders the window in canonical form: "Mon-Thu 09:00-16:00".
func (w Weekly) String() string {
	var parts []string
	// Walk Monday first, grouping consecutive days into ranges.
	order := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}
	for i := 0; i < len(order); {
		if !w.Days[order[i]] {
			i++
			continue
		}
		j := i
		for j+1 < len(order) && w.Days[order[j+1]] {
			j++
		}
		if j > i {
			parts = append(parts, dayNames[order[i]]+"-"+dayNames[order[j]])
		} else {
			parts = append(parts, dayNames[order[i]])
		}
		i = j + 1
	}
	return fmt.Sprintf("%s %s-%s", strings.Join(parts, ","), clock(w.Start), clock(w.End))
}

func clock(min int) string { return fmt.Sprintf("%02d:%02d", min/60, min%60) }

// Occurrences returns every occurrence of w in loc that overlaps
// [from, to), in order. Each runs from its start wall-clock time to its end
// wall-clock time on the same date, so on the days daylight saving time
// begins or ends it is an hour shorter or longer than usual.
func (w Weekly) Occurrences(from, to time.Time, loc *time.Location) []Interval {
	var out []Interval
	day := from.In(loc)
	// Start a day early: an occurrence that began yesterday may still run.
	y, m, d := day.Date()
	for i := -1; ; i++ {
		noon := time.Date(y, m, d+i, 12, 0, 0, 0, loc)
		dayStart := time.Date(y, m, d+i, 0, 0, 0, 0, loc)
		if !dayStart.Before(to) {
			break
		}
		if !w.Days[noon.Weekday()] {
			continue
		}
		ny, nm, nd := noon.Date()
		iv := Interval{
			Start: time.Date(ny, nm, nd, w.Start/60, w.Start%60, 0, 0, loc),
			End:   time.Date(ny, nm, nd, w.End/60, w.End%60, 0, 0, loc),
		}
		if iv.End.After(from) && iv.Start.Before(to) {
			out = append(out, iv)
		}
	}
	return out
}
