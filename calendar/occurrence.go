package calendar

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/teambition/rrule-go"
)

// ErrExpansion is matched when a calendar would take too long to expand
// over the requested span.
var ErrExpansion = errors.New("calendar too costly to expand")

const (
	// maxCount bounds COUNT and maxInterval INTERVAL.
	maxCount    = 10000
	maxInterval = 1000
	// maxPeriods bounds the days, weeks, months or years that one
	// Occurrences call may walk over all its events' rules.
	maxPeriods = 2_000_000
)

// Occurrence is one occurrence of an event.
type Occurrence struct {
	Interval
	Summary string
	// Line is where the event (or the override of this occurrence) is
	// defined.
	Line int
}

// Occurrences returns every occurrence of the calendar's events that
// overlaps [from, to), ordered by start, then line. loc is the time zone
// for all-day events and floating times. A recurring event repeats at the
// same wall-clock time in its zone, so an event at 09:00 Europe/Berlin
// stays at 09:00 across daylight saving changes; an override
// (RECURRENCE-ID) replaces the occurrence it names, and a cancelled
// override removes it.
func (c *Calendar) Occurrences(from, to time.Time, loc *time.Location) ([]Occurrence, error) {
	overridden := map[string][]wallTime{}
	for _, e := range c.Events {
		if e.recurrenceID != nil {
			overridden[e.UID] = append(overridden[e.UID], *e.recurrenceID)
		}
	}
	budget := maxPeriods
	var out []Occurrence
	for i := range c.Events {
		e := &c.Events[i]
		if e.recurrenceID != nil {
			if !e.cancelled {
				out = e.add(out, e.start.in(loc), from, to, loc)
			}
			continue
		}
		starts, err := e.starts(from, to, loc, &budget)
		if err != nil {
			return nil, fmt.Errorf("event at line %d: %w", e.Line, err)
		}
		for _, s := range starts {
			if !e.matchesAny(overridden[e.UID], s, loc) {
				out = e.add(out, s, from, to, loc)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Occurrence) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return a.Line - b.Line
	})
	return out, nil
}

// add appends the occurrence starting at start if it overlaps [from, to).
func (e *Event) add(out []Occurrence, start, from, to time.Time, loc *time.Location) []Occurrence {
	iv := Interval{Start: start, End: start.Add(e.length)}
	if e.AllDay {
		d := DateOf(start.In(loc))
		iv = Interval{Start: d.At(0, loc), End: d.AddDays(e.days).At(0, loc)}
	}
	if iv.End.After(from) && iv.Start.Before(to) {
		out = append(out, Occurrence{Interval: iv, Summary: e.Summary, Line: e.Line})
	}
	return out
}

// matchesAny reports whether one of ids (RECURRENCE-IDs, or EXDATEs)
// names the occurrence starting at start: the same date for dates, the
// same instant for date-times.
func (e *Event) matchesAny(ids []wallTime, start time.Time, loc *time.Location) bool {
	return slices.ContainsFunc(ids, func(id wallTime) bool {
		if id.isDay {
			return id.date == DateOf(start.In(e.start.zoneOr(loc)))
		}
		return id.in(e.start.zoneOr(loc)).Equal(start)
	})
}

// starts returns the start of every occurrence of e (DTSTART, RRULE and
// RDATE, less EXDATE) that may overlap [from, to), in no particular
// order. budget is what is left of maxPeriods.
func (e *Event) starts(from, to time.Time, loc *time.Location, budget *int) ([]time.Time, error) {
	zone := e.start.zoneOr(loc)
	if e.AllDay {
		zone = loc
	}
	first := e.start.in(zone)
	out := []time.Time{first}
	if e.rule != "" {
		// An occurrence that starts this long before from may still run.
		back := e.length + time.Duration(e.days+2)*24*time.Hour
		ruled, err := e.expand(first, from.Add(-back), to, zone, budget)
		if err != nil {
			return nil, err
		}
		out = ruled
	}
	for _, rd := range e.rdates {
		out = append(out, rd.in(zone))
	}
	return slices.DeleteFunc(out, func(s time.Time) bool { return e.matchesAny(e.exdate, s, loc) }), nil
}

// expand runs the RRULE from first over [lo, to) with rrule-go.
//
// rrule-go stops a rule only when it produces an occurrence past UNTIL or
// reaches the year 9999, so a rule that stops matching (BYMONTH=2;
// BYMONTHDAY=30, or a sparse one past the window) would walk every period
// up to 9999. expand therefore runs the rule on wall-clock times moved by
// a whole number of 400-year Gregorian cycles (which repeat dates and
// weekdays exactly) so that the window ends less than 400 years before
// 9999, and charges what is left of that walk to the budget when the
// rule may leave periods empty. Occurrences are moved back and placed in
// their zone afterwards, so daylight saving is that of the real year.
func (e *Event) expand(first, lo, to time.Time, zone *time.Location, budget *int) ([]time.Time, error) {
	opt, err := parseRule(e.rule, zone)
	if err != nil {
		return nil, err // checked by ParseICS; only a changed zone gets here
	}
	until := opt.Until
	if !until.IsZero() && untilIsDate(e.rule) && !e.AllDay {
		// UNTIL=YYYYMMDD on a timed event includes that whole date.
		until = until.AddDate(0, 0, 1).Add(-time.Second)
	}
	start := first
	if opt.Count == 0 {
		start = skipAhead(opt, first, lo)
	}
	if !until.IsZero() && until.Before(start) {
		return nil, nil
	}
	shift := (maxYear - 1 - to.Year()) / cycleYears * cycleYears
	periods := periodsBetween(opt, start, to)
	if opt.Count > 0 && !filtered(opt) {
		periods = min(periods, opt.Count)
	}
	tail := 1
	if filtered(opt) {
		tail = maxYear - (to.Year() + shift) + 1
	}
	periods += periodsBetween(opt, to, to.AddDate(tail, 0, 0))
	if *budget -= periods; *budget < 0 {
		return nil, fmt.Errorf("%w: its rules would walk more than %d periods to reach %s; start recurring events later or use fewer sparse rules",
			ErrExpansion, maxPeriods, to.Format(time.DateOnly))
	}
	opt.Dtstart, opt.Until = wallShift(start, shift), time.Time{}
	r, err := rrule.NewRRule(*opt)
	if err != nil {
		return nil, err
	}
	// A day of slack on each side covers any UTC offset of zone.
	moved := r.Between(wallShift(lo.In(zone), shift).AddDate(0, 0, -1), wallShift(to.In(zone), shift).AddDate(0, 0, 1), true)
	out := make([]time.Time, 0, len(moved)+1)
	for _, m := range moved {
		t := time.Date(m.Year()-shift, m.Month(), m.Day(), m.Hour(), m.Minute(), m.Second(), 0, zone)
		if until.IsZero() || !t.After(until) {
			out = append(out, t)
		}
	}
	// DTSTART is the first occurrence even where the rule would not
	// produce it (RFC 5545 3.8.5.3).
	if !first.Before(lo) && first.Before(to) && !slices.ContainsFunc(out, first.Equal) {
		out = append(out, first)
	}
	return out, nil
}

// maxYear is where rrule-go stops; cycleYears the Gregorian cycle.
const maxYear, cycleYears = 9999, 400

// wallShift returns t's wall-clock time, years later, as a UTC time.
func wallShift(t time.Time, years int) time.Time {
	return time.Date(t.Year()+years, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

// untilIsDate reports whether the rule's UNTIL is a date (YYYYMMDD).
func untilIsDate(rule string) bool {
	for part := range strings.SplitSeq(strings.ToUpper(rule), ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "UNTIL="); ok {
			return len(v) == 8
		}
	}
	return false
}

// skipAhead moves the start of a daily or weekly rule without COUNT
// forward by whole intervals to just before lo, so that a rule that began
// decades ago costs no more to expand than one that began last week. The
// occurrences on or after lo are the same.
func skipAhead(opt *rrule.ROption, first, lo time.Time) time.Time {
	days := max(opt.Interval, 1)
	switch opt.Freq {
	case rrule.DAILY:
	case rrule.WEEKLY:
		days *= 7
	default:
		return first
	}
	start, end := DateOf(first), DateOf(lo.In(first.Location()))
	gap := end.DaysSince(start) - 2*days
	if gap <= 0 {
		return first
	}
	clock := first.Sub(start.At(0, first.Location()))
	return start.AddDays(gap/days*days).At(clock, first.Location())
}

// periodsBetween is how many periods of the rule's frequency lie between
// a and b.
func periodsBetween(opt *rrule.ROption, a, b time.Time) int {
	days := b.Sub(a).Hours()/24 + 1
	switch opt.Freq {
	case rrule.WEEKLY:
		return int(days/7) + 1
	case rrule.MONTHLY:
		return int(days/28) + 1
	case rrule.YEARLY:
		return int(days/365) + 1
	}
	return int(days) + 1
}

// filtered reports whether the rule has parts that may leave periods
// without an occurrence, so that COUNT does not bound the periods walked.
func filtered(opt *rrule.ROption) bool {
	return len(opt.Bymonth)+len(opt.Bymonthday)+len(opt.Byyearday)+len(opt.Byweekno)+len(opt.Bysetpos)+len(opt.Byeaster) > 0 ||
		slices.ContainsFunc(opt.Byweekday, func(w rrule.Weekday) bool { return w.N() != 0 }) ||
		(len(opt.Byweekday) > 0 && opt.Freq == rrule.DAILY)
}
