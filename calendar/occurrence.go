package calendar

import (
	"fmt"
	"slices"
	"time"
)

// Occurrences returns the occurrences of e that overlap [from, to), in
// order. loc is the time zone of an all-day event or a floating time.
// Recurring events repeat at the same wall-clock time in their zone, so an
// event at 09:00 Europe/Berlin stays at 09:00 across daylight saving
// changes.
func (e *Event) Occurrences(from, to time.Time, loc *time.Location) ([]Occurrence, error) {
	zone := zoneOr(e.Zone, loc)
	if e.AllDay {
		zone = loc
	}
	span := func(d Date) Interval {
		if e.AllDay {
			return Interval{Start: d.At(0, zone), End: d.AddDays(e.Days).At(0, zone)}
		}
		s := d.At(e.Clock, zone)
		return Interval{Start: s, End: s.Add(e.Length)}
	}
	var out []Occurrence
	add := func(iv Interval) {
		if iv.End.After(from) && iv.Start.Before(to) {
			out = append(out, Occurrence{Interval: iv, Summary: e.Summary, Line: e.Line})
		}
	}
	if e.Rule == nil {
		add(span(e.Start))
		return out, nil
	}
	r := e.Rule
	// Occurrences starting this many days before from may still run.
	back := e.Days + int(e.Length/(24*time.Hour)) + 2
	hint := DateOf(from.In(zone)).AddDays(-back)
	n := 0
	err := r.expand(e.Start, hint, func(d Date) bool {
		n++
		if r.Count > 0 && n > r.Count {
			return false
		}
		iv := span(d)
		if u := r.Until; u != nil {
			switch {
			case u.IsDate && d.Compare(u.Date) > 0:
				return false
			case u.Floating && (d.Compare(u.Date) > 0 || (d == u.Date && e.Clock > u.Clock)):
				return false
			case !u.IsDate && !u.Floating && iv.Start.After(u.Time):
				return false
			}
		}
		if !iv.Start.Before(to) {
			return false
		}
		if !e.excluded(d, iv.Start, zone) {
			add(iv)
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("event at line %d: %w", e.Line, err)
	}
	return out, nil
}

// excluded reports whether an EXDATE removes the occurrence on d starting
// at start.
func (e *Event) excluded(d Date, start time.Time, zone *time.Location) bool {
	return slices.ContainsFunc(e.ExDates, func(x exDate) bool {
		if x.isDay {
			return x.date == d
		}
		return x.date.At(x.clock, zoneOr(x.zone, zone)).Equal(start)
	})
}

func sortOccurrences(occ []Occurrence) {
	slices.SortStableFunc(occ, func(a, b Occurrence) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return a.Line - b.Line
	})
}
