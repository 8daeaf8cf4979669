package calendar

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	ical "github.com/emersion/go-ical"
	"github.com/teambition/rrule-go"
)

// ErrICS is matched by iCalendar text that ParseICS refuses.
var ErrICS = errors.New("invalid iCalendar")

// Limits on one calendar, so that an inline calendar stays a reasonable
// part of a replicated policy and expanding it stays cheap.
const (
	// MaxICSBytes is the largest iCalendar text accepted.
	MaxICSBytes = 512 << 10
	// MaxEvents is the most VEVENTs one calendar may hold.
	MaxEvents = 5000
	// maxProblems is how many problems one ParseICS error lists.
	maxProblems = 20
	// maxDates is the most RDATE and EXDATE values one event may list.
	maxDates = 1000
	// maxEventLength bounds one event's (or one occurrence's) length.
	maxEventLength = 366 * 24 * time.Hour
	// firstYear and lastYear bound the year of an event's DTSTART.
	firstYear, lastYear = 1900, 2200
)

// LineError is one problem at one line of an iCalendar text (1-based,
// counting physical lines before unfolding).
type LineError struct {
	Line int
	Msg  string
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// ICSError lists the problems found in an iCalendar text, in line order.
// It matches ErrICS.
type ICSError []LineError

func (es ICSError) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return "iCalendar: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrICS) true.
func (es ICSError) Is(target error) bool { return target == ErrICS }

// Event is one VEVENT. An all-day event (DTSTART;VALUE=DATE) covers whole
// dates in the time zone it is evaluated in; a timed event starts at a
// wall-clock time in its zone (the schedule's zone for a floating time)
// and lasts a fixed length.
type Event struct {
	UID     string
	Summary string
	// Line is where the event's BEGIN:VEVENT is.
	Line   int
	AllDay bool

	start wallTime
	// days is the length of an all-day event, length that of a timed one.
	days   int
	length time.Duration
	// rule is the RRULE text, checked by ParseICS; expanding it needs the
	// zone, which for floating and all-day events is known only then.
	rule           string
	rdates, exdate []wallTime
	// recurrenceID is set when the event replaces one occurrence of the
	// recurring event with the same UID (RECURRENCE-ID); cancelled is
	// then true when that occurrence is dropped (STATUS:CANCELLED).
	recurrenceID *wallTime
	cancelled    bool
}

// Calendar is a parsed iCalendar text: its events, in file order.
// Overrides of single occurrences (RECURRENCE-ID) are events too, and
// replace the occurrence of their series when it is expanded.
type Calendar struct {
	Events []Event
}

// ParseICS reads the VEVENTs of an iCalendar (RFC 5545) text, as Google
// Calendar, Outlook, Exchange and most other calendars export it. It reads
// DTSTART, DTEND or DURATION, SUMMARY, UID, STATUS (CANCELLED events are
// dropped), RRULE (see checkRule for the parts refused), RDATE, EXDATE and
// RECURRENCE-ID, with VALUE=DATE for all-day events and TZID naming an
// IANA zone, a Windows zone name (Outlook) or a VTIMEZONE of the calendar.
// Other properties and components (VALARM, VTODO) are skipped. Problems
// are reported with their line numbers as an ICSError.
func ParseICS(text string) (*Calendar, error) {
	if len(text) > MaxICSBytes {
		return nil, ICSError{{Line: 1, Msg: fmt.Sprintf("calendar is %d bytes, at most %d are accepted", len(text), MaxICSBytes)}}
	}
	normalized, root, errs := scan(text)
	if len(errs) > 0 {
		return nil, errs
	}
	decoded, err := ical.NewDecoder(strings.NewReader(normalized)).Decode()
	if err != nil {
		// scan accepts only what go-ical decodes; this is a defect, not
		// bad input, but it is still reported rather than trusted.
		return nil, ICSError{{Line: root.line, Msg: fmt.Sprintf("cannot decode: %v", err)}}
	}
	p := &icsParser{zones: newZoneTable(decoded.Component, root)}
	events := 0
	for i, child := range decoded.Children {
		if child.Name != ical.CompEvent {
			continue
		}
		events++
		p.event(child, root.children[i])
	}
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b LineError) int { return a.Line - b.Line })
		return nil, p.errs
	}
	return &Calendar{Events: p.events}, nil
}

type icsParser struct {
	zones  *zoneTable
	errs   ICSError
	events []Event
}

func (p *icsParser) errorf(line int, format string, args ...any) {
	if len(p.errs) < maxProblems {
		p.errs = append(p.errs, LineError{Line: line, Msg: fmt.Sprintf(format, args...)})
	}
}

// eventReader reads the properties of one VEVENT, reporting problems at
// their lines.
type eventReader struct {
	p      *icsParser
	comp   *ical.Component
	lines  *scannedComponent
	broken bool
}

func (r *eventReader) errorf(name string, i int, format string, args ...any) {
	r.broken = true
	r.p.errorf(r.lines.propLine(name, i), format, args...)
}

// single returns the only property called name, or nil; a second one is
// reported.
func (r *eventReader) single(name string) *ical.Prop {
	props := r.comp.Props[name]
	if len(props) > 1 {
		r.errorf(name, 1, "%s given twice", name)
	}
	if len(props) == 0 {
		return nil
	}
	return &props[0]
}

// text returns the unescaped text of a property; line breaks become
// spaces.
func (r *eventReader) text(name string) string {
	prop := r.single(name)
	if prop == nil {
		return ""
	}
	s, err := prop.Text()
	if err != nil {
		r.errorf(name, 0, "%s: %v", name, err)
	}
	return strings.TrimSpace(strings.Join(strings.Fields(s), " "))
}

// when reads a DTSTART-like property.
func (r *eventReader) when(name string, i int, prop *ical.Prop) (wallTime, bool) {
	v, err := parseWallTime(prop.Params, prop.Value, r.p.zones)
	if err != nil {
		r.errorf(name, i, "%s: %v", name, err)
		return wallTime{}, false
	}
	return v, true
}

// list reads every value of RDATE or EXDATE.
func (r *eventReader) list(name string) []wallTime {
	var out []wallTime
	for i, prop := range r.comp.Props[name] {
		if prop.Params.Get(ical.ParamValue) == "PERIOD" {
			r.errorf(name, i, "%s;VALUE=PERIOD is not supported: list start dates or times", name)
			return nil
		}
		for part := range strings.SplitSeq(prop.Value, ",") {
			if len(out) >= maxDates {
				r.errorf(name, i, "more than %d %s values in one event", maxDates, name)
				return nil
			}
			v, ok := r.when(name, i, &ical.Prop{Name: name, Params: prop.Params, Value: part})
			if !ok {
				return nil
			}
			out = append(out, v)
		}
	}
	return out
}

func (p *icsParser) event(comp *ical.Component, lines *scannedComponent) {
	r := &eventReader{p: p, comp: comp, lines: lines}
	ev := Event{Line: lines.line}
	ev.UID = r.text(ical.PropUID)
	ev.Summary = r.text(ical.PropSummary)
	if status := r.single(ical.PropStatus); status != nil {
		ev.cancelled = strings.EqualFold(status.Value, string(ical.EventCancelled))
	}
	start := r.single(ical.PropDateTimeStart)
	if start == nil {
		if !r.broken {
			p.errorf(lines.line, "event has no DTSTART")
		}
		return
	}
	var ok bool
	if ev.start, ok = r.when(ical.PropDateTimeStart, 0, start); !ok {
		return
	}
	ev.AllDay = ev.start.isDay
	if y := ev.start.date.Year; y < firstYear || y > lastYear {
		r.errorf(ical.PropDateTimeStart, 0, "DTSTART year %d is outside %d-%d", y, firstYear, lastYear)
		return
	}
	if id := r.single(ical.PropRecurrenceID); id != nil {
		if strings.EqualFold(id.Params.Get("RANGE"), "THISANDFUTURE") {
			r.errorf(ical.PropRecurrenceID, 0, "RECURRENCE-ID;RANGE=THISANDFUTURE is not supported: split the series into two events")
			return
		}
		v, ok := r.when(ical.PropRecurrenceID, 0, id)
		if !ok {
			return
		}
		ev.recurrenceID = &v
	}
	r.length(&ev)
	if rule := r.single(ical.PropRecurrenceRule); rule != nil {
		if err := checkRule(rule.Value, ev.start); err != nil {
			r.errorf(ical.PropRecurrenceRule, 0, "RRULE: %v", err)
		}
		ev.rule = rule.Value
	}
	if len(comp.Props[ical.PropRecurrenceRule]) > 1 {
		return // reported by single
	}
	ev.rdates = r.list(ical.PropRecurrenceDates)
	ev.exdate = r.list(ical.PropExceptionDates)
	if r.broken {
		return
	}
	if ev.cancelled && ev.recurrenceID == nil {
		return // a cancelled event or series blocks nothing
	}
	p.events = append(p.events, ev)
}

// length sets the event's days or length from DTEND or DURATION.
func (r *eventReader) length(ev *Event) {
	end, dur := r.single(ical.PropDateTimeEnd), r.single(ical.PropDuration)
	endLine := func() (string, int) {
		if end != nil {
			return ical.PropDateTimeEnd, 0
		}
		return ical.PropDuration, 0
	}
	switch {
	case end != nil && dur != nil:
		r.errorf(ical.PropDuration, 0, "event has both DTEND and DURATION (use one)")
		return
	case end != nil:
		e, ok := r.when(ical.PropDateTimeEnd, 0, end)
		if !ok {
			return
		}
		if e.isDay != ev.AllDay {
			r.errorf(ical.PropDateTimeEnd, 0, "DTEND is a %s but DTSTART is a %s", valueType(e.isDay), valueType(ev.AllDay))
			return
		}
		if ev.AllDay {
			ev.days = e.date.DaysSince(ev.start.date)
		} else {
			ev.length = e.in(ev.start.zoneOr(time.UTC)).Sub(ev.start.in(time.UTC))
		}
	case dur != nil:
		d, err := parseDuration(dur)
		if err != nil {
			r.errorf(ical.PropDuration, 0, "DURATION: %v", err)
			return
		}
		if !ev.AllDay {
			ev.length = d
			break
		}
		if d%(24*time.Hour) != 0 {
			r.errorf(ical.PropDuration, 0, "DURATION of an all-day event must be whole days (e.g. P1D), got %s", d)
			return
		}
		ev.days = int(d / (24 * time.Hour))
	case ev.AllDay:
		ev.days = 1
	default:
		r.errorf(ical.PropDateTimeStart, 0, "timed event has neither DTEND nor DURATION, so it would last no time")
		return
	}
	name, i := endLine()
	switch {
	case (ev.AllDay && ev.days <= 0) || (!ev.AllDay && ev.length <= 0):
		r.errorf(name, i, "event ends at or before its start")
	case time.Duration(ev.days)*24*time.Hour > maxEventLength || ev.length > maxEventLength:
		r.errorf(name, i, "event is longer than a year: use a blackout for long periods")
	}
}

// parseDuration reads a DURATION value with go-ical. Every number in it
// has at most four digits, so that no sum of parts overflows.
func parseDuration(prop *ical.Prop) (time.Duration, error) {
	digits := 0
	for _, c := range prop.Value {
		if c >= '0' && c <= '9' {
			if digits++; digits > 4 {
				return 0, fmt.Errorf("%q has a number above 9999; write larger units (PT90M, P2D)", clipText(prop.Value))
			}
			continue
		}
		digits = 0
	}
	d, err := prop.Duration()
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as PT1H30M, P1D or P1W", clipText(prop.Value))
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", prop.Value)
	}
	return d, nil
}

// checkRule reads an RRULE with rrule-go and refuses what a business
// calendar does not need and what would make an expansion costly:
// frequencies below a day, BYHOUR, BYMINUTE, BYSECOND, COUNT with UNTIL,
// COUNT above 10,000 and INTERVAL above 1,000.
func checkRule(value string, start wallTime) error {
	opt, err := parseRule(value, start.zoneOr(time.UTC))
	if err != nil {
		return err
	}
	switch {
	case opt.Freq > rrule.DAILY:
		return fmt.Errorf("FREQ=%s is not supported (use DAILY, WEEKLY, MONTHLY or YEARLY)", opt.Freq)
	case len(opt.Byhour)+len(opt.Byminute)+len(opt.Bysecond) > 0:
		return errors.New("BYHOUR, BYMINUTE and BYSECOND are not supported: one event repeats at one time of day")
	case opt.Count > 0 && !opt.Until.IsZero():
		return errors.New("has both COUNT and UNTIL (RFC 5545 allows one)")
	case opt.Count > maxCount:
		return fmt.Errorf("COUNT=%d is above %d", opt.Count, maxCount)
	case opt.Count < 0 || opt.Interval < 0 || opt.Interval > maxInterval:
		return fmt.Errorf("COUNT and INTERVAL must be positive, INTERVAL at most %d", maxInterval)
	}
	opt.Dtstart = start.in(time.UTC)
	if _, err := rrule.NewRRule(*opt); err != nil {
		return err
	}
	return nil
}

// parseRule reads an RRULE value; floating and date UNTIL values are read
// in loc.
func parseRule(value string, loc *time.Location) (*rrule.ROption, error) {
	if strings.ContainsAny(value, "\n\r") {
		return nil, errors.New("line breaks in the rule")
	}
	opt, err := rrule.StrToROptionInLocation(strings.ToUpper(value), loc)
	if err != nil {
		return nil, fmt.Errorf("%q: %v", clipText(value), err)
	}
	return opt, nil
}

func valueType(isDay bool) string {
	if isDay {
		return "date"
	}
	return "date-time"
}
