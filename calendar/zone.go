package calendar

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	ical "github.com/emersion/go-ical"
)

// wallTime is a DTSTART, DTEND, RECURRENCE-ID, RDATE or EXDATE value: a
// date, or a wall-clock date-time in a zone (nil for a floating time,
// which is read in the schedule's zone).
type wallTime struct {
	date  Date
	clock time.Duration
	zone  *time.Location
	isDay bool
}

// zoneOr is the value's zone, or def for a floating time or a date.
func (w wallTime) zoneOr(def *time.Location) *time.Location {
	if w.zone != nil {
		return w.zone
	}
	return def
}

// in is the instant the value names, reading floating times and dates in
// def.
func (w wallTime) in(def *time.Location) time.Time { return w.date.At(w.clock, w.zoneOr(def)) }

// parseWallTime reads a date (YYYYMMDD) or a date-time (YYYYMMDDTHHMMSS,
// with Z for UTC or a TZID parameter).
func parseWallTime(params ical.Params, value string, zones *zoneTable) (wallTime, error) {
	val := strings.TrimSpace(value)
	vt := strings.ToUpper(params.Get(ical.ParamValue))
	if vt == "DATE" || (vt == "" && len(val) == 8) {
		t, err := time.Parse("20060102", val)
		if err != nil || len(val) != 8 {
			return wallTime{}, fmt.Errorf("%q is not a date YYYYMMDD", clipText(val))
		}
		return wallTime{date: DateOf(t), isDay: true}, nil
	}
	if vt != "" && vt != "DATE-TIME" {
		return wallTime{}, fmt.Errorf("VALUE=%s is not supported (DATE or DATE-TIME)", clipText(vt))
	}
	utc := strings.HasSuffix(val, "Z")
	body := strings.TrimSuffix(val, "Z")
	t, err := time.Parse("20060102T150405", body)
	if err != nil || len(body) != 15 {
		return wallTime{}, fmt.Errorf("%q is not a date-time YYYYMMDDTHHMMSS (optionally ending in Z), or a date YYYYMMDD", clipText(val))
	}
	clk := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second
	v := wallTime{date: DateOf(t), clock: clk}
	tzid := params.Get(ical.PropTimezoneID)
	switch {
	case tzid != "" && utc:
		return wallTime{}, fmt.Errorf("%q ends in Z (UTC) but also has TZID=%s", val, clipText(tzid))
	case tzid != "":
		if v.zone, err = zones.lookup(tzid, v.date.Year); err != nil {
			return wallTime{}, err
		}
	case utc:
		v.zone = time.UTC
	}
	return v, nil
}

// zoneTable resolves the TZIDs of one calendar. A TZID is read as an IANA
// name (Google Calendar, Apple), a Windows zone name (Outlook, Exchange:
// "W. Europe Standard Time"), or the X-LIC-LOCATION of the calendar's
// VTIMEZONE of that name. When the calendar defines the zone in a
// VTIMEZONE, the zone found must have the UTC offsets the VTIMEZONE
// gives, so a calendar is never read in a zone it does not mean.
type zoneTable struct {
	defs     map[string]vtimezone
	resolved map[string]*time.Location
}

// vtimezone is what a VTIMEZONE says: its name, where it is, and the UTC
// offsets of its latest STANDARD and DAYLIGHT parts.
type vtimezone struct {
	line     int
	location string
	offsets  []int // seconds east of UTC, sorted
}

func newZoneTable(cal *ical.Component, root *scannedComponent) *zoneTable {
	zt := &zoneTable{defs: map[string]vtimezone{}, resolved: map[string]*time.Location{}}
	for i, child := range cal.Children {
		if child.Name != ical.CompTimezone {
			continue
		}
		id := child.Props.Get(ical.PropTimezoneID)
		if id == nil {
			continue
		}
		vt := vtimezone{line: root.children[i].line}
		if loc := child.Props.Get("X-LIC-LOCATION"); loc != nil {
			vt.location = strings.TrimSpace(loc.Value)
		}
		vt.offsets = latestOffsets(child)
		zt.defs[strings.TrimPrefix(id.Value, "/")] = vt
	}
	return zt
}

// latestOffsets returns the TZOFFSETTO of the STANDARD and the DAYLIGHT
// part with the latest DTSTART, or nil if they cannot be read.
func latestOffsets(tz *ical.Component) []int {
	latest := map[string]string{}
	offset := map[string]int{}
	for _, part := range tz.Children {
		if part.Name != ical.CompTimezoneStandard && part.Name != ical.CompTimezoneDaylight {
			continue
		}
		start, to := part.Props.Get(ical.PropDateTimeStart), part.Props.Get(ical.PropTimezoneOffsetTo)
		if start == nil || to == nil {
			return nil
		}
		off, ok := parseUTCOffset(to.Value)
		if !ok {
			return nil
		}
		if start.Value >= latest[part.Name] {
			latest[part.Name], offset[part.Name] = start.Value, off
		}
	}
	var out []int
	for _, off := range offset {
		if !slices.Contains(out, off) {
			out = append(out, off)
		}
	}
	slices.Sort(out)
	return out
}

// parseUTCOffset reads +HHMM or +HHMMSS.
func parseUTCOffset(s string) (int, bool) {
	if len(s) != 5 && len(s) != 7 || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	n, err := strconv.Atoi(s[1:])
	if err != nil {
		return 0, false
	}
	if len(s) == 5 {
		n *= 100
	}
	secs := n/10000*3600 + n/100%100*60 + n%100
	if s[0] == '-' {
		secs = -secs
	}
	return secs, true
}

// lookup resolves tzid for a value in year.
func (zt *zoneTable) lookup(tzid string, year int) (*time.Location, error) {
	tzid = strings.TrimPrefix(tzid, "/")
	if loc, ok := zt.resolved[tzid]; ok {
		return loc, nil
	}
	def, defined := zt.defs[tzid]
	loc := resolveZoneName(tzid)
	if loc == nil && defined && def.location != "" {
		loc = resolveZoneName(def.location)
	}
	if loc == nil {
		return nil, fmt.Errorf("unknown time zone TZID=%s: use an IANA name such as Europe/Berlin or a Windows zone name such as W. Europe Standard Time", clipText(tzid))
	}
	if defined && def.offsets != nil {
		if have := zoneOffsets(loc, year); !slices.Equal(have, def.offsets) {
			return nil, fmt.Errorf("TZID=%s: its VTIMEZONE (line %d) gives UTC offsets %s, but %s has %s in %d",
				clipText(tzid), def.line, formatOffsets(def.offsets), loc, formatOffsets(have), year)
		}
	}
	zt.resolved[tzid] = loc
	return loc, nil
}

// resolveZoneName reads an IANA or a Windows zone name.
func resolveZoneName(name string) *time.Location {
	if name == "" || name == "Local" {
		return nil
	}
	if loc, err := time.LoadLocation(name); err == nil {
		return loc
	}
	if iana, ok := windowsZone(name); ok {
		if loc, err := time.LoadLocation(iana); err == nil {
			return loc
		}
	}
	return nil
}

// zoneOffsets returns the distinct UTC offsets loc has in year, sorted.
func zoneOffsets(loc *time.Location, year int) []int {
	var out []int
	for m := time.January; m <= time.December; m++ {
		_, off := time.Date(year, m, 15, 12, 0, 0, 0, time.UTC).In(loc).Zone()
		if !slices.Contains(out, off) {
			out = append(out, off)
		}
	}
	slices.Sort(out)
	return out
}

func formatOffsets(offs []int) string {
	parts := make([]string, len(offs))
	for i, off := range offs {
		sign := "+"
		if off < 0 {
			sign, off = "-", -off
		}
		parts[i] = fmt.Sprintf("%s%02d:%02d", sign, off/3600, off/60%60)
	}
	return strings.Join(parts, "/")
}
