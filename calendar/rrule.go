package calendar

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Freq is the FREQ of a recurrence rule.
type Freq int

// The frequencies a recurrence rule may have.
const (
	FreqDaily Freq = iota + 1
	FreqWeekly
	FreqMonthly
	FreqYearly
)

// maxCount bounds COUNT, and maxPeriods the number of periods (days,
// weeks, months or years) one expansion walks, so that no rule can make an
// expansion run away.
const (
	maxCount   = 10000
	maxPeriods = 200000
)

// DayNum is one BYDAY entry: a weekday with an optional ordinal (N = 2 is
// the second, N = -1 the last; 0 means every such weekday).
type DayNum struct {
	N   int
	Day time.Weekday
}

// Until is the end of a recurrence: a date (occurrences on or before it),
// or a time (occurrences starting at or before it; Floating means a
// wall-clock time in the event's zone).
type Until struct {
	IsDate   bool
	Date     Date
	Time     time.Time
	Clock    time.Duration
	Floating bool
}

// RRule is the subset of RFC 5545 recurrence rules this package expands:
// FREQ=DAILY|WEEKLY|MONTHLY|YEARLY with INTERVAL, COUNT or UNTIL, BYDAY,
// BYMONTHDAY, BYMONTH and WKST. Other parts (BYSETPOS, BYYEARDAY,
// BYWEEKNO, BYHOUR, BYMINUTE, BYSECOND) are refused rather than ignored,
// so a calendar never silently means something else.
type RRule struct {
	Freq       Freq
	Interval   int
	Count      int
	Until      *Until
	ByDay      []DayNum
	ByMonthDay []int
	ByMonth    []int
	WeekStart  time.Weekday
}

var icsDays = map[string]time.Weekday{
	"SU": time.Sunday, "MO": time.Monday, "TU": time.Tuesday, "WE": time.Wednesday,
	"TH": time.Thursday, "FR": time.Friday, "SA": time.Saturday,
}

// parseRRule reads an RRULE value such as "FREQ=WEEKLY;COUNT=10;BYDAY=MO,WE".
// allDay says whether DTSTART is a date.
func parseRRule(value string, allDay bool) (*RRule, error) {
	r := &RRule{Interval: 1, WeekStart: time.Monday}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(value, ";") {
		name, val, ok := strings.Cut(part, "=")
		name = strings.ToUpper(strings.TrimSpace(name))
		if !ok || name == "" || val == "" {
			return nil, fmt.Errorf("RRULE part %q is not NAME=VALUE", part)
		}
		if seen[name] {
			return nil, fmt.Errorf("RRULE has %s twice", name)
		}
		seen[name] = true
		var err error
		switch name {
		case "FREQ":
			switch strings.ToUpper(val) {
			case "DAILY":
				r.Freq = FreqDaily
			case "WEEKLY":
				r.Freq = FreqWeekly
			case "MONTHLY":
				r.Freq = FreqMonthly
			case "YEARLY":
				r.Freq = FreqYearly
			default:
				return nil, fmt.Errorf("RRULE FREQ=%s is not supported (use DAILY, WEEKLY, MONTHLY or YEARLY)", val)
			}
		case "INTERVAL":
			r.Interval, err = positive(name, val, 1000)
		case "COUNT":
			r.Count, err = positive(name, val, maxCount)
		case "UNTIL":
			r.Until, err = parseUntil(val)
		case "BYDAY":
			r.ByDay, err = parseByDay(val)
		case "BYMONTHDAY":
			r.ByMonthDay, err = parseInts(name, val, -31, 31)
		case "BYMONTH":
			r.ByMonth, err = parseInts(name, val, 1, 12)
		case "WKST":
			d, ok := icsDays[strings.ToUpper(val)]
			if !ok {
				return nil, fmt.Errorf("RRULE WKST=%s is not a day (MO, TU, WE, TH, FR, SA, SU)", val)
			}
			r.WeekStart = d
		default:
			return nil, fmt.Errorf("RRULE part %s is not supported (supported: FREQ, INTERVAL, COUNT, UNTIL, BYDAY, BYMONTHDAY, BYMONTH, WKST)", name)
		}
		if err != nil {
			return nil, err
		}
	}
	switch {
	case r.Freq == 0:
		return nil, fmt.Errorf("RRULE has no FREQ")
	case r.Count > 0 && r.Until != nil:
		return nil, fmt.Errorf("RRULE has both COUNT and UNTIL (use one)")
	case r.Until != nil && allDay && !r.Until.IsDate:
		// RFC 5545 wants UNTIL to have DTSTART's value type; a date-time
		// UNTIL on an all-day event is read as its date.
		d := r.Until.Date
		if !r.Until.Floating {
			d = DateOf(r.Until.Time)
		}
		r.Until = &Until{IsDate: true, Date: d}
	}
	for _, d := range r.ByDay {
		if d.N == 0 {
			continue
		}
		if r.Freq != FreqMonthly && r.Freq != FreqYearly {
			return nil, fmt.Errorf("RRULE BYDAY with a number (%d%s) needs FREQ=MONTHLY or YEARLY", d.N, dayCode(d.Day))
		}
		if d.N > 5 || d.N < -5 {
			return nil, fmt.Errorf("RRULE BYDAY number %d is out of range (-5 to 5 within a month)", d.N)
		}
	}
	if r.Freq == FreqYearly && len(r.ByDay) > 0 && len(r.ByMonth) == 0 {
		return nil, fmt.Errorf("RRULE FREQ=YEARLY with BYDAY needs BYMONTH (e.g. BYMONTH=11;BYDAY=4TH)")
	}
	if r.Freq == FreqWeekly && len(r.ByMonthDay) > 0 {
		return nil, fmt.Errorf("RRULE BYMONTHDAY cannot be used with FREQ=WEEKLY")
	}
	return r, nil
}

func dayCode(d time.Weekday) string {
	for k, v := range icsDays {
		if v == d {
			return k
		}
	}
	return "?"
}

func positive(name, val string, limit int) (int, error) {
	n, err := strconv.Atoi(val)
	if err != nil || n < 1 || n > limit {
		return 0, fmt.Errorf("RRULE %s=%s must be a whole number from 1 to %d", name, val, limit)
	}
	return n, nil
}

func parseInts(name, val string, lo, hi int) ([]int, error) {
	var out []int
	for s := range strings.SplitSeq(val, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi || n == 0 {
			return nil, fmt.Errorf("RRULE %s value %q must be a whole number from %d to %d, not 0", name, s, lo, hi)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseByDay(val string) ([]DayNum, error) {
	var out []DayNum
	for s := range strings.SplitSeq(val, ",") {
		s = strings.ToUpper(strings.TrimSpace(s))
		if len(s) < 2 {
			return nil, fmt.Errorf("RRULE BYDAY value %q is not a day such as MO or 2TU", s)
		}
		d, ok := icsDays[s[len(s)-2:]]
		if !ok {
			return nil, fmt.Errorf("RRULE BYDAY value %q is not a day such as MO or 2TU", s)
		}
		n := 0
		if num := s[:len(s)-2]; num != "" {
			v, err := strconv.Atoi(num)
			if err != nil || v == 0 {
				return nil, fmt.Errorf("RRULE BYDAY value %q has a bad number", s)
			}
			n = v
		}
		out = append(out, DayNum{N: n, Day: d})
	}
	return out, nil
}

func parseUntil(val string) (*Until, error) {
	if len(val) == 8 {
		d, err := parseDate(val)
		if err != nil {
			return nil, fmt.Errorf("RRULE UNTIL=%s: %w", val, err)
		}
		return &Until{IsDate: true, Date: d}, nil
	}
	d, clk, utc, err := parseDateTime(val)
	if err != nil {
		return nil, fmt.Errorf("RRULE UNTIL=%s: %w", val, err)
	}
	if utc {
		return &Until{Time: d.At(clk, time.UTC)}, nil
	}
	return &Until{Date: d, Clock: clk, Floating: true}, nil
}

// expand calls yield with the dates of the rule's candidate occurrences in
// increasing order, starting with first (DTSTART's date, always the first
// occurrence). from is a hint: periods that end before it may be skipped
// when the rule has no COUNT. It stops when yield returns false and fails
// when the rule walks more than maxPeriods periods.
func (r *RRule) expand(first, from Date, yield func(Date) bool) error {
	if !yield(first) {
		return nil
	}
	skip := 0
	if r.Count == 0 && from.Compare(first) > 0 {
		skip = r.periodsBefore(first, from)
	}
	var buf []Date
	for k := skip; k < skip+maxPeriods; k++ {
		buf = r.candidates(first, k, buf[:0])
		for _, d := range buf {
			if d.Compare(first) <= 0 {
				continue
			}
			if !yield(d) {
				return nil
			}
		}
	}
	return fmt.Errorf("recurrence rule walked %d periods without ending; add COUNT or UNTIL", maxPeriods)
}

// periodsBefore returns a period index at or before the one holding from,
// rounded down to a whole number of intervals.
func (r *RRule) periodsBefore(first, from Date) int {
	var n int
	switch r.Freq {
	case FreqDaily:
		n = from.DaysSince(first)
	case FreqWeekly:
		n = from.DaysSince(first)/7 - 1
	case FreqMonthly:
		n = (from.Year-first.Year)*12 + int(from.Month-first.Month) - 1
	case FreqYearly:
		n = from.Year - first.Year - 1
	}
	if n < 0 {
		return 0
	}
	return n / r.Interval
}

// candidates appends the dates of period k (the k-th period of INTERVAL
// units from DTSTART's), sorted, that pass the BY* filters.
func (r *RRule) candidates(first Date, k int, out []Date) []Date {
	step := k * r.Interval
	switch r.Freq {
	case FreqDaily:
		d := first.AddDays(step)
		if r.dayMatches(d) && r.monthMatches(d.Month) && r.monthDayMatches(d) {
			out = append(out, d)
		}
	case FreqWeekly:
		back := (int(first.Weekday()) - int(r.WeekStart) + 7) % 7
		weekStart := first.AddDays(-back + 7*step)
		for i := range 7 {
			d := weekStart.AddDays(i)
			if !r.monthMatches(d.Month) {
				continue
			}
			if len(r.ByDay) == 0 && d.Weekday() != first.Weekday() {
				continue
			}
			if len(r.ByDay) > 0 && !r.dayMatches(d) {
				continue
			}
			out = append(out, d)
		}
	case FreqMonthly:
		m := time.Date(first.Year, first.Month+time.Month(step), 1, 12, 0, 0, 0, time.UTC)
		if r.monthMatches(m.Month()) {
			out = r.monthDays(m.Year(), m.Month(), first.Day, out)
		}
	case FreqYearly:
		year := first.Year + step
		months := r.ByMonth
		if len(months) == 0 {
			if len(r.ByMonthDay) > 0 {
				months = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
			} else {
				months = []int{int(first.Month)}
			}
		}
		months = slices.Sorted(slices.Values(months))
		for _, m := range slices.Compact(months) {
			out = r.monthDays(year, time.Month(m), first.Day, out)
		}
	}
	return out
}

// monthDays appends the days of one month selected by BYMONTHDAY and
// BYDAY (both: days that pass both), or defDay when neither is set.
func (r *RRule) monthDays(year int, month time.Month, defDay int, out []Date) []Date {
	n := daysIn(year, month)
	for day := 1; day <= n; day++ {
		d := Date{year, month, day}
		switch {
		case len(r.ByMonthDay) == 0 && len(r.ByDay) == 0:
			if day != defDay {
				continue
			}
		case !r.monthDayMatches(d):
			continue
		case len(r.ByDay) > 0 && !r.dayInMonthMatches(d, n):
			continue
		}
		out = append(out, d)
	}
	return out
}

func (r *RRule) dayMatches(d Date) bool {
	if len(r.ByDay) == 0 {
		return true
	}
	wd := d.Weekday()
	return slices.ContainsFunc(r.ByDay, func(b DayNum) bool { return b.Day == wd })
}

// dayInMonthMatches applies BYDAY within a month of n days: "MO" is every
// Monday, "2MO" the second, "-1MO" the last.
func (r *RRule) dayInMonthMatches(d Date, n int) bool {
	wd := d.Weekday()
	nth := (d.Day-1)/7 + 1
	nthFromEnd := -((n-d.Day)/7 + 1)
	return slices.ContainsFunc(r.ByDay, func(b DayNum) bool {
		return b.Day == wd && (b.N == 0 || b.N == nth || b.N == nthFromEnd)
	})
}

func (r *RRule) monthMatches(m time.Month) bool {
	return len(r.ByMonth) == 0 || slices.Contains(r.ByMonth, int(m))
}

func (r *RRule) monthDayMatches(d Date) bool {
	if len(r.ByMonthDay) == 0 {
		return true
	}
	n := daysIn(d.Year, d.Month)
	return slices.ContainsFunc(r.ByMonthDay, func(md int) bool {
		return md == d.Day || (md < 0 && n+1+md == d.Day)
	})
}
