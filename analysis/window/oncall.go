package window

import (
	"fmt"
	"slices"
	"time"

	"github.com/sluicehq/sluice/calendar"
	"github.com/sluicehq/sluice/config"
)

// onCall is a compiled on-call schedule: the union of fixed shifts,
// rotations and calendar events.
type onCall struct {
	fixed     []shift
	rotations []rotation
	ics       *calendar.Calendar
}

// shift is someone on call over an interval.
type shift struct {
	calendar.Interval
	who string
}

type rotation struct {
	people []string
	start  time.Time
	every  time.Duration
	hours  []calendar.Weekly
	until  time.Time // zero: no end
}

func compileOnCall(spec *config.OnCallSpec, loc *time.Location) (*onCall, error) {
	oc := &onCall{}
	for i, sh := range spec.Shifts {
		iv, err := parseSpan(sh.From, sh.To, loc)
		if err != nil {
			return nil, fmt.Errorf("shifts[%d]: %w", i, err)
		}
		oc.fixed = append(oc.fixed, shift{Interval: iv, who: sh.Who})
	}
	for i, r := range spec.Rotations {
		if len(r.People) == 0 {
			return nil, fmt.Errorf("rotations[%d]: no people", i)
		}
		start, err := calendar.ParseTime(r.Start, loc)
		if err != nil {
			return nil, fmt.Errorf("rotations[%d].start: %w", i, err)
		}
		rot := rotation{people: r.People, start: start, every: r.Every.D()}
		if rot.every == 0 {
			rot.every = config.DefaultRotationEvery
		}
		if rot.every < config.MinRotationEvery {
			return nil, fmt.Errorf("rotations[%d].every: %s is shorter than %s", i, rot.every, config.MinRotationEvery)
		}
		for _, h := range r.Hours {
			w, err := calendar.ParseWeekly(h)
			if err != nil {
				return nil, fmt.Errorf("rotations[%d].hours: %w", i, err)
			}
			rot.hours = append(rot.hours, w)
		}
		if r.Until != "" {
			if rot.until, err = calendar.ParseTime(r.Until, loc); err != nil {
				return nil, fmt.Errorf("rotations[%d].until: %w", i, err)
			}
		}
		oc.rotations = append(oc.rotations, rot)
	}
	if spec.ICS != "" {
		cal, err := calendar.ParseICS(spec.ICS)
		if err != nil {
			return nil, fmt.Errorf("ics: %w", err)
		}
		oc.ics = cal
	}
	return oc, nil
}

// shifts returns every shift that overlaps [from, to), ordered by start.
func (oc *onCall) shifts(from, to time.Time, loc *time.Location) ([]shift, error) {
	var out []shift
	for _, sh := range oc.fixed {
		if sh.End.After(from) && sh.Start.Before(to) {
			out = append(out, sh)
		}
	}
	for _, r := range oc.rotations {
		out = append(out, r.shifts(from, to, loc)...)
	}
	if oc.ics != nil {
		occ, err := oc.ics.Occurrences(from, to, loc)
		if err != nil {
			return nil, err
		}
		for _, o := range occ {
			out = append(out, shift{Interval: o.Interval, who: o.Summary})
		}
	}
	sortShifts(out)
	return out, nil
}

// shifts expands a rotation over [from, to): turn k starts k turns after
// start, with people[k mod len(people)] on call, limited to the rotation's
// hours when it has any. A turn of whole days hands over at the same
// wall-clock time every time, across daylight saving changes.
func (r rotation) shifts(from, to time.Time, loc *time.Location) []shift {
	var out []shift
	k := 0
	if from.After(r.start) {
		k = max(int(from.Sub(r.start)/r.every)-1, 0)
	}
	for ; ; k++ {
		turn := calendar.Interval{Start: r.turnStart(k, loc), End: r.turnStart(k+1, loc)}
		if !turn.Start.Before(to) || (!r.until.IsZero() && !turn.Start.Before(r.until)) {
			return out
		}
		if !turn.End.After(from) {
			continue
		}
		if !r.until.IsZero() && turn.End.After(r.until) {
			turn.End = r.until
		}
		who := r.people[k%len(r.people)]
		if len(r.hours) == 0 {
			out = append(out, shift{Interval: turn, who: who})
			continue
		}
		for _, h := range r.hours {
			for _, occ := range h.Occurrences(turn.Start, turn.End, loc) {
				if occ.Start.Before(turn.Start) {
					occ.Start = turn.Start
				}
				if occ.End.After(turn.End) {
					occ.End = turn.End
				}
				out = append(out, shift{Interval: occ, who: who})
			}
		}
	}
}

// turnStart is when turn k begins.
func (r rotation) turnStart(k int, loc *time.Location) time.Time {
	const day = 24 * time.Hour
	if r.every%day != 0 {
		return r.start.Add(time.Duration(k) * r.every)
	}
	ls := r.start.In(loc)
	return time.Date(ls.Year(), ls.Month(), ls.Day()+k*int(r.every/day), ls.Hour(), ls.Minute(), ls.Second(), ls.Nanosecond(), loc)
}

func sortShifts(s []shift) {
	slices.SortStableFunc(s, func(a, b shift) int { return a.Start.Compare(b.Start) })
}
