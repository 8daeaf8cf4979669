package calendar

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrICS is matched by iCalendar text that ParseICS refuses.
var ErrICS = errors.New("invalid iCalendar")

// Limits on one calendar, so that an inline calendar stays a reasonable
// part of a replicated policy.
const (
	// MaxICSBytes is the largest iCalendar text accepted.
	MaxICSBytes = 512 << 10
	// MaxEvents is the most VEVENTs one calendar may hold.
	MaxEvents = 5000
	// maxProblems is how many problems one ParseICS error lists.
	maxProblems = 20
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

// Event is one VEVENT. All-day events (DTSTART;VALUE=DATE) cover whole
// dates in the time zone they are evaluated in; timed events start at a
// wall-clock time in Zone (nil for a floating time, which is read in the
// schedule's time zone) and last Length.
type Event struct {
	Summary string
	// Line is where the event's BEGIN:VEVENT is.
	Line   int
	AllDay bool
	// Start is DTSTART's date and, for timed events, Clock its time of day.
	Start Date
	Clock time.Duration
	// Zone is the time zone of a timed DTSTART: its TZID, UTC for a time
	// ending in Z, nil for a floating time.
	Zone *time.Location
	// Days is the length of an all-day event; Length that of a timed one.
	Days   int
	Length time.Duration
	// Rule is the RRULE, if any; ExDates are the EXDATE starts it skips.
	Rule    *RRule
	ExDates []exDate
}

type exDate struct {
	date  Date
	clock time.Duration
	zone  *time.Location
	isDay bool
}

// Calendar is a parsed iCalendar text: its events, in file order.
type Calendar struct {
	Events []Event
}

// Occurrence is one occurrence of an event.
type Occurrence struct {
	Interval
	Summary string
	// Line is where the event is defined.
	Line int
}

// contentLine is one unfolded "NAME;PARAM=V:VALUE" line.
type contentLine struct {
	line   int
	name   string
	params map[string]string
	value  string
}

// ParseICS reads the VEVENTs of an iCalendar (RFC 5545) text. It reads
// DTSTART, DTEND or DURATION, SUMMARY, STATUS (CANCELLED events are
// dropped), RRULE (see RRule) and EXDATE, with VALUE=DATE for all-day
// events and TZID naming an IANA time zone; other properties and
// components (VTIMEZONE, VALARM, VTODO) are skipped. Problems are
// reported with their line numbers as an ICSError.
func ParseICS(text string) (*Calendar, error) {
	if len(text) > MaxICSBytes {
		return nil, ICSError{{Line: 1, Msg: fmt.Sprintf("calendar is %d bytes, at most %d are accepted", len(text), MaxICSBytes)}}
	}
	p := &icsParser{}
	p.run(unfold(text))
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b LineError) int { return a.Line - b.Line })
		return nil, p.errs
	}
	return &Calendar{Events: p.events}, nil
}

// unfold joins continuation lines (starting with a space or tab) to the
// line before and drops empty lines, keeping each line's first physical
// line number.
func unfold(text string) []contentLine {
	var out []contentLine
	var cur strings.Builder
	curLine := 0
	flush := func() {
		if curLine > 0 {
			out = append(out, contentLine{line: curLine, value: cur.String()})
		}
		cur.Reset()
		curLine = 0
	}
	for i, raw := range strings.Split(text, "\n") {
		raw = strings.TrimSuffix(raw, "\r")
		if (strings.HasPrefix(raw, " ") || strings.HasPrefix(raw, "\t")) && curLine > 0 {
			cur.WriteString(raw[1:])
			continue
		}
		flush()
		if strings.TrimSpace(raw) == "" {
			continue
		}
		curLine = i + 1
		cur.WriteString(raw)
	}
	flush()
	return out
}

type icsParser struct {
	errs   ICSError
	events []Event
	// stack of open components with the line of their BEGIN.
	stack []openComponent
	ev    *eventBuilder
	found bool // a VCALENDAR was seen
}

type openComponent struct {
	name string
	line int
}

type eventBuilder struct {
	ev        Event
	hasStart  bool
	endLine   int
	end       *dateValue
	duration  *time.Duration
	cancelled bool
	rule      string
	ruleLine  int
	// broken is set when a property of the event was already reported,
	// so that its consequences are not reported again.
	broken bool
}

func (p *icsParser) errorf(line int, format string, args ...any) {
	if p.ev != nil {
		p.ev.broken = true
	}
	if len(p.errs) < maxProblems {
		p.errs = append(p.errs, LineError{Line: line, Msg: fmt.Sprintf(format, args...)})
	}
}

func (p *icsParser) run(lines []contentLine) {
	for _, cl := range lines {
		if !splitContentLine(&cl) {
			p.errorf(cl.line, "expected NAME:VALUE, got %q", clipText(cl.value))
			continue
		}
		switch cl.name {
		case "BEGIN":
			p.begin(cl)
		case "END":
			p.end(cl)
		default:
			p.property(cl)
		}
	}
	for i := len(p.stack) - 1; i >= 0; i-- {
		p.errorf(p.stack[i].line, "BEGIN:%s has no matching END:%s", p.stack[i].name, p.stack[i].name)
	}
	if !p.found && len(p.errs) == 0 {
		line := 1
		if len(lines) > 0 {
			line = lines[0].line
		}
		p.errorf(line, "not an iCalendar text: expected BEGIN:VCALENDAR")
	}
}

func (p *icsParser) begin(cl contentLine) {
	name := strings.ToUpper(cl.value)
	switch {
	case len(p.stack) == 0 && name != "VCALENDAR":
		p.errorf(cl.line, "BEGIN:%s outside BEGIN:VCALENDAR", name)
	case name == "VCALENDAR" && len(p.stack) > 0:
		p.errorf(cl.line, "BEGIN:VCALENDAR inside %s (line %d)", p.stack[len(p.stack)-1].name, p.stack[len(p.stack)-1].line)
	case name == "VEVENT" && (len(p.stack) != 1 || p.stack[0].name != "VCALENDAR"):
		p.errorf(cl.line, "BEGIN:VEVENT must be directly inside VCALENDAR")
	case name == "VEVENT":
		p.newEvent(cl)
	}
	if name == "VCALENDAR" {
		p.found = true
	}
	p.stack = append(p.stack, openComponent{name: name, line: cl.line})
}

func (p *icsParser) newEvent(cl contentLine) {
	if len(p.events) >= MaxEvents {
		p.errorf(cl.line, "more than %d events", MaxEvents)
		return
	}
	p.ev = &eventBuilder{ev: Event{Line: cl.line}}
}

func (p *icsParser) end(cl contentLine) {
	name := strings.ToUpper(cl.value)
	if len(p.stack) == 0 {
		p.errorf(cl.line, "END:%s without BEGIN:%s", name, name)
		return
	}
	top := p.stack[len(p.stack)-1]
	if top.name != name {
		p.errorf(cl.line, "END:%s does not match BEGIN:%s at line %d", name, top.name, top.line)
		return
	}
	p.stack = p.stack[:len(p.stack)-1]
	if name == "VEVENT" && p.ev != nil {
		b := p.ev
		p.ev = nil
		if !b.broken {
			p.finishEvent(b)
		}
	}
}

// inEvent reports whether properties now belong to the open VEVENT itself
// (not to a VALARM inside it).
func (p *icsParser) inEvent() bool {
	return p.ev != nil && len(p.stack) > 0 && p.stack[len(p.stack)-1].name == "VEVENT"
}

func (p *icsParser) property(cl contentLine) {
	if len(p.stack) == 0 {
		p.errorf(cl.line, "%s outside BEGIN:VCALENDAR", cl.name)
		return
	}
	if !p.inEvent() {
		return
	}
	b := p.ev
	switch cl.name {
	case "DTSTART":
		if b.hasStart {
			p.errorf(cl.line, "DTSTART given twice")
			return
		}
		v, err := parseDateValue(cl)
		if err != nil {
			p.errorf(cl.line, "DTSTART: %v", err)
			b.hasStart = true // do not also report it as missing
			return
		}
		b.hasStart = true
		b.ev.AllDay, b.ev.Start, b.ev.Clock, b.ev.Zone = v.isDay, v.date, v.clock, v.zone
	case "DTEND":
		if b.end != nil {
			p.errorf(cl.line, "DTEND given twice")
			return
		}
		v, err := parseDateValue(cl)
		if err != nil {
			p.errorf(cl.line, "DTEND: %v", err)
			return
		}
		b.end, b.endLine = &v, cl.line
	case "DURATION":
		d, err := parseICSDuration(cl.value)
		if err != nil {
			p.errorf(cl.line, "DURATION: %v", err)
			return
		}
		b.duration, b.endLine = &d, cl.line
	case "SUMMARY":
		b.ev.Summary = unescapeText(cl.value)
	case "STATUS":
		b.cancelled = strings.EqualFold(cl.value, "CANCELLED")
	case "RRULE":
		if b.ruleLine != 0 {
			p.errorf(cl.line, "more than one RRULE in an event is not supported")
			return
		}
		// Read once DTSTART is known: properties come in any order.
		b.rule, b.ruleLine = cl.value, cl.line
	case "EXDATE":
		for part := range strings.SplitSeq(cl.value, ",") {
			one := cl
			one.value = part
			v, err := parseDateValue(one)
			if err != nil {
				p.errorf(cl.line, "EXDATE: %v", err)
				return
			}
			b.ev.ExDates = append(b.ev.ExDates, exDate(v))
		}
	case "RDATE":
		p.errorf(cl.line, "RDATE is not supported: add the extra dates as events of their own")
	}
}

func (p *icsParser) finishEvent(b *eventBuilder) {
	ev := &b.ev
	if !b.hasStart {
		p.errorf(ev.Line, "event has no DTSTART")
		return
	}
	if b.ruleLine != 0 {
		r, err := parseRRule(b.rule, ev.AllDay)
		if err != nil {
			p.errorf(b.ruleLine, "%v", err)
			return
		}
		ev.Rule = r
	}
	if b.end != nil && b.duration != nil {
		p.errorf(b.endLine, "event has both DTEND and DURATION (use one)")
		return
	}
	switch {
	case b.end != nil && b.end.isDay != ev.AllDay:
		p.errorf(b.endLine, "DTEND is a %s but DTSTART is a %s", valueType(b.end.isDay), valueType(ev.AllDay))
		return
	case b.end != nil && ev.AllDay:
		ev.Days = b.end.date.DaysSince(ev.Start)
	case b.end != nil:
		start := ev.Start.At(ev.Clock, zoneOr(ev.Zone, time.UTC))
		end := b.end.date.At(b.end.clock, zoneOr(b.end.zone, zoneOr(ev.Zone, time.UTC)))
		ev.Length = end.Sub(start)
	case b.duration != nil && ev.AllDay:
		if *b.duration%(24*time.Hour) != 0 {
			p.errorf(b.endLine, "DURATION of an all-day event must be whole days (e.g. P1D), got %s", *b.duration)
			return
		}
		ev.Days = int(*b.duration / (24 * time.Hour))
	case b.duration != nil:
		ev.Length = *b.duration
	case ev.AllDay:
		ev.Days = 1
	default:
		p.errorf(ev.Line, "timed event has neither DTEND nor DURATION, so it would last no time")
		return
	}
	if (ev.AllDay && ev.Days <= 0) || (!ev.AllDay && ev.Length <= 0) {
		p.errorf(b.endLine, "event ends at or before its start")
		return
	}
	if b.cancelled {
		return
	}
	p.events = append(p.events, *ev)
}

func valueType(isDay bool) string {
	if isDay {
		return "date"
	}
	return "date-time"
}

func zoneOr(z, def *time.Location) *time.Location {
	if z != nil {
		return z
	}
	return def
}

// splitContentLine splits "NAME;P=V;Q=\"a:b\":VALUE" into its parts.
func splitContentLine(cl *contentLine) bool {
	raw := cl.value
	inQuote := false
	colon := -1
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			inQuote = !inQuote
		case ':':
			if !inQuote {
				colon = i
			}
		}
		if colon >= 0 {
			break
		}
	}
	if colon <= 0 {
		return false
	}
	head := raw[:colon]
	cl.value = raw[colon+1:]
	parts := splitParams(head)
	cl.name = strings.ToUpper(strings.TrimSpace(parts[0]))
	if cl.name == "" {
		return false
	}
	cl.params = map[string]string{}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		cl.params[strings.ToUpper(strings.TrimSpace(k))] = strings.Trim(v, `"`)
	}
	return true
}

// splitParams splits at semicolons outside double quotes.
func splitParams(s string) []string {
	var out []string
	inQuote := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			inQuote = !inQuote
		case ';':
			if !inQuote {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// dateValue is a DTSTART, DTEND or EXDATE value.
type dateValue struct {
	date  Date
	clock time.Duration
	zone  *time.Location
	isDay bool
}

func parseDateValue(cl contentLine) (dateValue, error) {
	val := strings.TrimSpace(cl.value)
	vt := strings.ToUpper(cl.params["VALUE"])
	if vt == "DATE" || (vt == "" && len(val) == 8) {
		d, err := parseDate(val)
		if err != nil {
			return dateValue{}, err
		}
		return dateValue{date: d, isDay: true}, nil
	}
	if vt != "" && vt != "DATE-TIME" {
		return dateValue{}, fmt.Errorf("VALUE=%s is not supported (DATE or DATE-TIME)", vt)
	}
	d, clk, utc, err := parseDateTime(val)
	if err != nil {
		return dateValue{}, err
	}
	v := dateValue{date: d, clock: clk}
	tzid := strings.TrimPrefix(cl.params["TZID"], "/")
	switch {
	case tzid != "" && utc:
		return dateValue{}, fmt.Errorf("%q ends in Z (UTC) but also has TZID=%s", val, tzid)
	case tzid != "":
		loc, err := time.LoadLocation(tzid)
		if err != nil || tzid == "Local" {
			return dateValue{}, fmt.Errorf("unknown time zone TZID=%s: use an IANA name such as Europe/Berlin", tzid)
		}
		v.zone = loc
	case utc:
		v.zone = time.UTC
	}
	return v, nil
}

// parseDate reads YYYYMMDD.
func parseDate(s string) (Date, error) {
	t, err := time.Parse("20060102", s)
	if err != nil || len(s) != 8 {
		return Date{}, fmt.Errorf("%q is not a date YYYYMMDD", s)
	}
	return DateOf(t), nil
}

// parseDateTime reads YYYYMMDDTHHMMSS with an optional Z.
func parseDateTime(s string) (Date, time.Duration, bool, error) {
	utc := strings.HasSuffix(s, "Z")
	body := strings.TrimSuffix(s, "Z")
	t, err := time.Parse("20060102T150405", body)
	if err != nil || len(body) != 15 {
		return Date{}, 0, false, fmt.Errorf("%q is not a date-time YYYYMMDDTHHMMSS (optionally ending in Z), or a date YYYYMMDD", s)
	}
	clk := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second
	return DateOf(t), clk, utc, nil
}

// parseICSDuration reads an RFC 5545 duration: P1W, P1D, PT1H30M, P1DT2H.
// Negative durations are refused.
func parseICSDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration such as PT1H30M, P1D or P1W", s)
	rest, ok := strings.CutPrefix(strings.TrimPrefix(strings.ToUpper(s), "+"), "P")
	if !ok || rest == "" {
		if strings.HasPrefix(s, "-") {
			return 0, fmt.Errorf("%q is negative", s)
		}
		return 0, bad
	}
	var total time.Duration
	inTime := false
	num := ""
	units := 0
	for _, c := range rest {
		switch {
		case c >= '0' && c <= '9':
			num += string(c)
			continue
		case c == 'T' && num == "" && !inTime:
			inTime = true
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil || n > 100000 {
			return 0, bad
		}
		num = ""
		units++
		switch {
		case c == 'W' && !inTime:
			total += time.Duration(n) * 7 * 24 * time.Hour
		case c == 'D' && !inTime:
			total += time.Duration(n) * 24 * time.Hour
		case c == 'H' && inTime:
			total += time.Duration(n) * time.Hour
		case c == 'M' && inTime:
			total += time.Duration(n) * time.Minute
		case c == 'S' && inTime:
			total += time.Duration(n) * time.Second
		default:
			return 0, bad
		}
	}
	if num != "" || units == 0 {
		return 0, bad
	}
	return total, nil
}

// unescapeText undoes RFC 5545 TEXT escaping; line breaks become spaces.
func unescapeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n', 'N':
				b.WriteByte(' ')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return strings.TrimSpace(b.String())
}

func clipText(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Occurrences returns every occurrence of the calendar's events that
// overlaps [from, to), ordered by start, then line. loc is the time zone
// for all-day events and floating times.
func (c *Calendar) Occurrences(from, to time.Time, loc *time.Location) ([]Occurrence, error) {
	var out []Occurrence
	for i := range c.Events {
		occ, err := c.Events[i].Occurrences(from, to, loc)
		if err != nil {
			return nil, err
		}
		out = append(out, occ...)
	}
	sortOccurrences(out)
	return out, nil
}
