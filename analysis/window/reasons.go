package window

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// reasons explains one chosen start in plain words.
func reasons(sug *Suggestion, in *Input, c, earliest *Candidate, minShare float64, succ *successModel, best bool) []string {
	loc := sug.sched.loc
	var out []string
	out = append(out, fmt.Sprintf("starts %s (in %s) and is expected to end %s, inside %s",
		c.Start.In(loc).Format(timeLayout), roundDuration(c.Wait), c.End.In(loc).Format(timeLayout), windowPhrase(c.Window)))
	if len(c.OnCall) > 0 {
		out = append(out, "on call for the whole release: "+strings.Join(c.OnCall, ", then "))
	}
	switch {
	case in.Traffic.Empty():
		// The fallback is said once per candidate: it is why traffic did
		// not matter.
		out = append(out, "traffic not considered: "+trafficFallback(&in.Traffic)+"; every hour is treated as equally busy")
	default:
		s := fmt.Sprintf("expected traffic %s, %s of the weekly peak", formatNum(c.Traffic), percent(c.TrafficShare))
		if best && c.TrafficShare <= minShare+1e-9 {
			s += " (the quietest allowed start in the horizon)"
		} else {
			s += fmt.Sprintf(" (the quietest allowed start would see %s)", percent(minShare))
		}
		if c.TrafficEstimated {
			s += "; some of these hours had no data and are estimated from the same hour on other days"
		}
		out = append(out, s)
	}
	h := HourOfWeek(c.Start, loc)
	switch {
	case succ.all.n == 0:
		out = append(out, "no past release outcomes: every hour counts the same for past success")
	case c.PastReleases == 0:
		out = append(out, fmt.Sprintf("no past releases started %s; smoothed success %s from nearby hours (overall %s over %s)",
			hourName(h), percent(c.SuccessRate), percent(succ.total), releases(succ.all.n)))
	default:
		out = append(out, fmt.Sprintf("past releases started %s: %d of %d succeeded; smoothed success %s (overall %s over %s)",
			hourName(h), c.PastSuccesses, c.PastReleases, percent(c.SuccessRate), percent(succ.total), releases(succ.all.n)))
	}
	if best && earliest.Start != c.Start && !in.Traffic.Empty() {
		out = append(out, fmt.Sprintf("waits %s past the earliest allowed start (%s, %s of peak) for %s lower traffic",
			roundDuration(c.Start.Sub(earliest.Start)), earliest.Start.In(loc).Format(timeLayout),
			percent(earliest.TrafficShare), percent(earliest.TrafficShare-c.TrafficShare)))
	}
	w := sug.Weights
	out = append(out, fmt.Sprintf("score %.3f (lower is better) at risk %.2f: may wait up to %s past the earliest allowed start for quieter traffic; "+
		"twice the traffic of the quietest start within that costs %.2f, past failure weighs %.2f, waiting the whole budget %.2f",
		c.Score, sug.Risk, roundDuration(w.WaitBudget), w.Traffic, w.Failure, w.Wait))
	return out
}

// notes are the facts that hold for every candidate.
func notes(in *Input, ex *expanded, succ *successModel) []string {
	var out []string
	if in.Schedule == nil {
		out = append(out, "the policy has no schedule: any time is allowed, in UTC")
	}
	if ex.coverage == nil && in.Schedule != nil {
		out = append(out, "the policy has no on-call schedule: staffing was not checked")
	}
	if in.Traffic.Empty() {
		out = append(out, "flat traffic assumed: "+trafficFallback(&in.Traffic))
	} else {
		estimated := 0
		for _, h := range in.Traffic.Hours {
			if h.Estimated {
				estimated++
			}
		}
		if estimated > 0 {
			out = append(out, fmt.Sprintf("%d of %d hours of the week had no traffic data and are estimated from other days", estimated, HoursPerWeek))
		}
		if n := excludedTotal(&in.Traffic); n > 0 {
			out = append(out, fmt.Sprintf("%d hourly samples were left out of the traffic profile (%s): gaps and outages are not read as quiet hours",
				n, excludedList(&in.Traffic)))
		}
	}
	if succ.all.n == 0 {
		out = append(out, "no past release outcomes: past success does not change the ranking")
	}
	return out
}

func trafficFallback(p *Profile) string {
	if p.Note != "" {
		return p.Note
	}
	return "no traffic profile was given"
}

func excludedTotal(p *Profile) int {
	n := 0
	for _, c := range p.Excluded {
		n += c
	}
	return n
}

// excludedList renders the excluded counts by flag, in name order.
func excludedList(p *Profile) string {
	flags := make([]string, 0, len(p.Excluded))
	for f := range p.Excluded {
		flags = append(flags, f)
	}
	slices.Sort(flags)
	parts := make([]string, len(flags))
	for i, f := range flags {
		parts[i] = fmt.Sprintf("%d %s", p.Excluded[f], f)
	}
	return strings.Join(parts, ", ")
}

// summary renders the rejection counts for an error message.
func (r Rejected) summary(considered int) string {
	parts := []string{fmt.Sprintf("%d starts considered", considered)}
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(r.Window, "outside the windows")
	add(r.Blackout, "in a blackout")
	add(r.Calendar, "on a calendar event")
	add(r.OnCall, "without on-call cover")
	for _, rc := range r.ByReason {
		parts = append(parts, fmt.Sprintf("%q removed %d", rc.Reason, rc.Count))
	}
	return strings.Join(parts, ", ")
}

func releases(n int) string {
	if n == 1 {
		return "1 release"
	}
	return fmt.Sprintf("%d releases", n)
}

func windowPhrase(w string) string {
	if w == "any time" {
		return "no release window (any time is allowed)"
	}
	return fmt.Sprintf("the window %q", w)
}

var weekdayNames = [7]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

// hourName renders an hour of the week: "on Tue 10:00-11:00".
func hourName(h int) string {
	return fmt.Sprintf("on %s %02d:00-%02d:00", weekdayNames[h/24], h%24, h%24+1)
}

func percent(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }

// formatNum renders a traffic figure compactly: 0.53, 12, 1.2k, 3.4M.
func formatNum(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.2g", v)
	}
}

// roundDuration renders a wait in minutes: "1d2h30m", "45m", "0m".
func roundDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	if d <= 0 {
		return "0m"
	}
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h := d / time.Hour
	m := (d - h*time.Hour) / time.Minute
	var b strings.Builder
	if days > 0 {
		fmt.Fprintf(&b, "%dd", days)
	}
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 || b.Len() == 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	return b.String()
}
