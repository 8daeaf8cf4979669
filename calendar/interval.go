// Package calendar holds the pure building blocks of release schedules:
// weekly windows ("Mon-Thu 09:00-16:00"), iCalendar (.ics) events with
// their recurrences, time parsing in a named time zone, and sets of
// half-open time intervals.
//
// It is a leaf: config validates schedules with exactly the code that
// analysis/window later evaluates them with, and neither depends on the
// other. iCalendar text is decoded by go-ical and recurrences are expanded
// by rrule-go; this package adds what they lack for text that arrives in
// a replicated policy: positions (every problem is reported with its
// line), limits (size, events, nesting, expansion work), a line check that
// keeps go-ical from panicking on malformed input, time zones as real
// exports name them, and overrides of single occurrences. It does no I/O:
// a calendar is parsed from its text, and time zones come from the
// system's tz database or, where that is missing, from the copy embedded
// in the binary (time/tzdata).
package calendar

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	// The embedded tz database makes LoadLocation work on hosts without
	// /usr/share/zoneinfo (minimal containers), so every node of a cluster
	// accepts the same time zone names.
	_ "time/tzdata"
)

// ErrTimezone is matched by a time zone name that is empty, "Local" or not
// in the tz database.
var ErrTimezone = errors.New("invalid time zone")

// ErrTime is matched by a time that ParseTime cannot read.
var ErrTime = errors.New("invalid time")

// Interval is the half-open span of time [Start, End).
type Interval struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Duration is End - Start.
func (iv Interval) Duration() time.Duration { return iv.End.Sub(iv.Start) }

// Contains reports whether t is in [Start, End).
func (iv Interval) Contains(t time.Time) bool {
	return !t.Before(iv.Start) && t.Before(iv.End)
}

// Overlaps reports whether the two intervals share any instant.
func (iv Interval) Overlaps(o Interval) bool {
	return iv.Start.Before(o.End) && o.Start.Before(iv.End)
}

// Merge returns the union of ivs as sorted, disjoint intervals; intervals
// that touch (one ends where the next starts) are joined. Empty intervals
// are dropped. ivs is not modified.
func Merge(ivs []Interval) []Interval {
	sorted := make([]Interval, 0, len(ivs))
	for _, iv := range ivs {
		if iv.Start.Before(iv.End) {
			sorted = append(sorted, iv)
		}
	}
	slices.SortFunc(sorted, func(a, b Interval) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return a.End.Compare(b.End)
	})
	var out []Interval
	for _, iv := range sorted {
		if n := len(out); n > 0 && !iv.Start.After(out[n-1].End) {
			if iv.End.After(out[n-1].End) {
				out[n-1].End = iv.End
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}

// Covers reports whether iv lies entirely inside one interval of merged,
// which must be sorted and disjoint (as Merge returns). An empty iv is
// covered when its start is.
func Covers(merged []Interval, iv Interval) bool {
	i, _ := slices.BinarySearchFunc(merged, iv.Start, func(m Interval, t time.Time) int {
		if !m.End.After(t) {
			return -1
		}
		return 1
	})
	if i >= len(merged) {
		return false
	}
	m := merged[i]
	return !iv.Start.Before(m.Start) && !iv.End.After(m.End) && m.Contains(iv.Start)
}

// Gaps returns the parts of iv that no interval of merged covers, in
// order. merged must be sorted and disjoint.
func Gaps(merged []Interval, iv Interval) []Interval {
	var out []Interval
	cur := iv.Start
	for _, m := range merged {
		if !m.End.After(cur) {
			continue
		}
		if !m.Start.Before(iv.End) {
			break
		}
		if m.Start.After(cur) {
			out = append(out, Interval{Start: cur, End: m.Start})
		}
		if m.End.After(cur) {
			cur = m.End
		}
		if !cur.Before(iv.End) {
			return out
		}
	}
	if cur.Before(iv.End) {
		out = append(out, Interval{Start: cur, End: iv.End})
	}
	return out
}

// LoadLocation returns the time zone with the given IANA name, such as
// "Europe/Berlin" or "UTC". "Local" and the empty name are refused: they
// would mean different things on different machines.
func LoadLocation(name string) (*time.Location, error) {
	switch strings.TrimSpace(name) {
	case "":
		return nil, fmt.Errorf("%w: a time zone name is required, e.g. \"Europe/Berlin\" or \"UTC\"", ErrTimezone)
	case "Local":
		return nil, fmt.Errorf("%w: \"Local\" depends on the machine; name the zone, e.g. \"Europe/Berlin\"", ErrTimezone)
	}
	if name != strings.TrimSpace(name) {
		return nil, fmt.Errorf("%w %q: remove the spaces around the name", ErrTimezone, name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w %q: not in the tz database; use an IANA name such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\"", ErrTimezone, name)
	}
	return loc, nil
}

// localLayouts are the forms ParseTime reads as a wall-clock time in the
// given location.
var localLayouts = []string{
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02",
}

// ParseTime reads an absolute time in RFC 3339 form
// ("2026-12-20T00:00:00+01:00", "2026-12-20T00:00:00Z"), or a wall-clock
// time in loc ("2026-12-20T00:00", "2026-12-20 00:00", or a date,
// "2026-12-20", meaning its midnight). A wall-clock time that a daylight
// saving change skips is moved forward by the change, as time.Date does.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if loc != nil {
		for _, layout := range localLayouts {
			if t, err := time.ParseInLocation(layout, s, loc); err == nil {
				return t, nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("%w %q: want RFC 3339 such as \"2026-12-20T00:00:00+01:00\", "+
		"or a wall-clock time in the schedule's time zone such as \"2026-12-20 00:00\" or \"2026-12-20\"", ErrTime, s)
}
