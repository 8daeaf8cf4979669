// Package window chooses when a release should start.
//
// Hard constraints decide which start times are allowed at all: the
// policy's weekly windows, its blackouts, the events of its business
// calendar, and its on-call schedule (someone must be on call for the
// whole expected duration of the release). Soft scores rank the allowed
// starts: the traffic expected at that hour of the week (from a profile
// built with a robust median over past weeks, so that an outage is never
// read as a quiet hour), the success rate of past releases started at
// that hour, and how long the release would wait; the release's risk
// shifts the weights. docs/windows.md explains the model and its
// evaluation.
//
// The core, Suggest, is a pure function of its Input and an injected
// "now": no clock, no I/O. TrafficSource implementations (Prometheus,
// CSV) live beside it and are used by the caller to build the Profile.
package window

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/calendar"
	"github.com/sluicehq/sluice/config"
)

// ErrSchedule is matched when a schedule spec cannot be compiled (it
// would also fail config validation) or its calendars cannot be expanded.
var ErrSchedule = errors.New("invalid schedule")

// Constraint names a hard constraint, as used in Rejected and Verdict.
type Constraint string

// The hard constraints, in the order a start time is checked against them.
const (
	ConstraintWindow   Constraint = "window"
	ConstraintBlackout Constraint = "blackout"
	ConstraintHoliday  Constraint = "calendar"
	ConstraintOnCall   Constraint = "on-call"
)

// timeLayout renders times in reasons: "Tue 2026-03-31 10:00 CEST".
const timeLayout = "Mon 2006-01-02 15:04 MST"

// Schedule is a compiled ScheduleSpec. It is immutable and safe for
// concurrent use.
type Schedule struct {
	loc       *time.Location
	windows   []namedWeekly
	blackouts []blackout
	holidays  *calendar.Calendar
	onCall    *onCall
}

type namedWeekly struct {
	text string
	w    calendar.Weekly
}

type blackout struct {
	calendar.Interval
	reason string
}

// Compile checks and compiles a schedule. A nil spec is a schedule
// without constraints, in UTC.
func Compile(spec *config.ScheduleSpec) (*Schedule, error) {
	if spec == nil {
		return &Schedule{loc: time.UTC}, nil
	}
	loc, err := calendar.LoadLocation(spec.Timezone)
	if err != nil {
		return nil, fmt.Errorf("%w: timezone: %w", ErrSchedule, err)
	}
	s := &Schedule{loc: loc}
	if s.windows, err = compileWeekly(spec.Windows); err != nil {
		return nil, fmt.Errorf("%w: windows: %w", ErrSchedule, err)
	}
	for i, b := range spec.Blackouts {
		iv, err := parseSpan(b.From, b.To, loc)
		if err != nil {
			return nil, fmt.Errorf("%w: blackouts[%d]: %w", ErrSchedule, i, err)
		}
		s.blackouts = append(s.blackouts, blackout{Interval: iv, reason: b.Reason})
	}
	if spec.Calendar != nil {
		if s.holidays, err = calendar.ParseICS(spec.Calendar.ICS); err != nil {
			return nil, fmt.Errorf("%w: calendar: %w", ErrSchedule, err)
		}
	}
	if spec.OnCall != nil {
		if s.onCall, err = compileOnCall(spec.OnCall, loc); err != nil {
			return nil, fmt.Errorf("%w: onCall: %w", ErrSchedule, err)
		}
	}
	return s, nil
}

func compileWeekly(list []string) ([]namedWeekly, error) {
	var out []namedWeekly
	for _, text := range list {
		w, err := calendar.ParseWeekly(text)
		if err != nil {
			return nil, err
		}
		out = append(out, namedWeekly{text: text, w: w})
	}
	return out, nil
}

func parseSpan(from, to string, loc *time.Location) (calendar.Interval, error) {
	f, err := calendar.ParseTime(from, loc)
	if err != nil {
		return calendar.Interval{}, err
	}
	t, err := calendar.ParseTime(to, loc)
	if err != nil {
		return calendar.Interval{}, err
	}
	if !t.After(f) {
		return calendar.Interval{}, fmt.Errorf("to (%s) is not after from (%s)", to, from)
	}
	return calendar.Interval{Start: f, End: t}, nil
}

// Location is the schedule's time zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Verdict says whether a release may run over an interval, and if not,
// which constraint forbids it.
type Verdict struct {
	OK bool `json:"ok"`
	// Constraint is the first constraint that failed (empty when OK).
	Constraint Constraint `json:"constraint,omitempty"`
	// Reason says why, in plain words.
	Reason string `json:"reason"`
	// Window is the allowed window the release runs in, as written in the
	// policy ("any time" without windows).
	Window string `json:"window,omitempty"`
	// OnCall lists who is on call during the release, in order.
	OnCall []string `json:"onCall,omitempty"`
}

// Check says whether a release of duration d may start at start. A
// failure to expand the calendars (which validation makes unlikely) is a
// "no" that says so: the check fails closed.
func (s *Schedule) Check(start time.Time, d time.Duration) Verdict {
	iv := calendar.Interval{Start: start, End: start.Add(d)}
	ex, err := s.expand(iv.Start, iv.End)
	if err != nil {
		return Verdict{Constraint: ConstraintHoliday, Reason: err.Error()}
	}
	return ex.check(iv)
}

// expanded holds a schedule's constraints over one range of time.
type expanded struct {
	s        *Schedule
	anyTime  bool
	allowed  []calendar.Interval // merged
	windowOf []windowOcc
	blocks   []block
	coverage []calendar.Interval // merged; nil with onCall unset
	shifts   []shift
}

type windowOcc struct {
	calendar.Interval
	text string
}

type block struct {
	calendar.Interval
	kind   Constraint
	reason string
}

// expand evaluates every constraint over [from, to), with a day of margin
// on both sides so that intervals crossing the edges are whole.
func (s *Schedule) expand(from, to time.Time) (*expanded, error) {
	from, to = from.Add(-24*time.Hour), to.Add(24*time.Hour)
	ex := &expanded{s: s, anyTime: len(s.windows) == 0}
	var occ []calendar.Interval
	for _, w := range s.windows {
		for _, iv := range w.w.Occurrences(from, to, s.loc) {
			occ = append(occ, iv)
			ex.windowOf = append(ex.windowOf, windowOcc{Interval: iv, text: w.text})
		}
	}
	ex.allowed = calendar.Merge(occ)
	for _, b := range s.blackouts {
		if b.End.After(from) && b.Start.Before(to) {
			ex.blocks = append(ex.blocks, block{Interval: b.Interval, kind: ConstraintBlackout, reason: b.reason})
		}
	}
	if s.holidays != nil {
		hs, err := s.holidays.Occurrences(from, to, s.loc)
		if err != nil {
			return nil, fmt.Errorf("%w: calendar: %w", ErrSchedule, err)
		}
		for _, h := range hs {
			ex.blocks = append(ex.blocks, block{Interval: h.Interval, kind: ConstraintHoliday, reason: h.Summary})
		}
	}
	if s.onCall != nil {
		shifts, err := s.onCall.shifts(from, to, s.loc)
		if err != nil {
			return nil, fmt.Errorf("%w: onCall: %w", ErrSchedule, err)
		}
		ex.shifts = shifts
		ivs := make([]calendar.Interval, len(shifts))
		for i, sh := range shifts {
			ivs[i] = sh.Interval
		}
		ex.coverage = calendar.Merge(ivs)
		if ex.coverage == nil {
			ex.coverage = []calendar.Interval{}
		}
	}
	return ex, nil
}

// check applies the constraints in order: window, blackout, calendar,
// on-call.
func (ex *expanded) check(iv calendar.Interval) Verdict {
	loc := ex.s.loc
	v := Verdict{Window: "any time"}
	if !ex.anyTime {
		if !calendar.Covers(ex.allowed, iv) {
			return Verdict{Constraint: ConstraintWindow, Reason: ex.windowReason(iv)}
		}
		v.Window = ex.windowText(iv.Start)
	}
	for _, b := range ex.blocks {
		if b.Overlaps(iv) {
			what := "blackout"
			if b.kind == ConstraintHoliday {
				what = "calendar event"
			}
			return Verdict{Constraint: b.kind, Reason: fmt.Sprintf("overlaps the %s %q (%s to %s)",
				what, b.reason, b.Start.In(loc).Format(timeLayout), b.End.In(loc).Format(timeLayout))}
		}
	}
	if ex.coverage != nil {
		if gaps := calendar.Gaps(ex.coverage, iv); len(gaps) > 0 {
			g := gaps[0]
			return Verdict{Constraint: ConstraintOnCall, Reason: fmt.Sprintf("no one is on call from %s to %s",
				g.Start.In(loc).Format(timeLayout), g.End.In(loc).Format(timeLayout))}
		}
		v.OnCall = ex.onCallDuring(iv)
	}
	v.OK = true
	v.Reason = ex.okReason(v)
	return v
}

func (ex *expanded) windowText(t time.Time) string {
	var names []string
	for _, w := range ex.windowOf {
		if w.Contains(t) && !containsString(names, w.text) {
			names = append(names, w.text)
		}
	}
	return strings.Join(names, ", ")
}

func (ex *expanded) windowReason(iv calendar.Interval) string {
	loc := ex.s.loc
	names := make([]string, len(ex.s.windows))
	for i, w := range ex.s.windows {
		names[i] = fmt.Sprintf("%q", w.text)
	}
	list := strings.Join(names, ", ")
	if calendar.Covers(ex.allowed, calendar.Interval{Start: iv.Start, End: iv.Start}) {
		return fmt.Sprintf("would run until %s, past the end of the allowed window (%s; %s)",
			iv.End.In(loc).Format(timeLayout), list, loc)
	}
	return fmt.Sprintf("%s is outside the allowed windows (%s; %s)", iv.Start.In(loc).Format(timeLayout), list, loc)
}

func (ex *expanded) onCallDuring(iv calendar.Interval) []string {
	var who []string
	for _, sh := range ex.shifts {
		if sh.Overlaps(iv) && !containsString(who, sh.who) {
			who = append(who, sh.who)
		}
	}
	return who
}

func (ex *expanded) okReason(v Verdict) string {
	var b strings.Builder
	if ex.anyTime {
		b.WriteString("no release windows are set")
	} else {
		fmt.Fprintf(&b, "inside the window %q", v.Window)
	}
	b.WriteString(", no blackout or calendar event")
	switch {
	case ex.coverage == nil:
		b.WriteString(", on-call not checked (no on-call schedule)")
	default:
		fmt.Fprintf(&b, ", on call: %s", strings.Join(v.OnCall, ", "))
	}
	return b.String()
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
