package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/state"
)

// A frame is one screen of a live watch: built from the state and the
// time alone, so that it can be tested as text. Every line is cut to the
// frame's width, so a redraw knows how many lines it has to replace.

// ANSI styles used on a colour terminal.
const (
	styleNone   = ""
	styleBold   = "\x1b[1m"
	styleDim    = "\x1b[2m"
	styleRed    = "\x1b[31m"
	styleGreen  = "\x1b[32m"
	styleYellow = "\x1b[33m"
	styleCyan   = "\x1b[36m"
	styleReset  = "\x1b[0m"
)

// decisionsShown is how many of the last decisions a frame lists.
const decisionsShown = 6

// frame builds the lines of one screen.
type frame struct {
	width int // visible characters per line; 0 means no limit
	color bool
	b     strings.Builder
	cur   int // visible characters on the current line
}

// add appends text in a style to the current line, cut at the width.
func (f *frame) add(text, style string) {
	if f.width > 0 {
		room := f.width - f.cur
		if room <= 0 {
			return
		}
		if utf8.RuneCountInString(text) > room {
			text = string([]rune(text)[:max(room-1, 0)]) + "…"
		}
	}
	f.cur += utf8.RuneCountInString(text)
	if f.color && style != styleNone {
		f.b.WriteString(style + text + styleReset)
		return
	}
	f.b.WriteString(text)
}

// line appends text and ends the line.
func (f *frame) line(text, style string) {
	f.add(text, style)
	f.end()
}

func (f *frame) end() {
	f.b.WriteByte('\n')
	f.cur = 0
}

// field writes "Label     value" with the value in a style.
func (f *frame) field(label, value, style string) {
	f.add(fmt.Sprintf("%-10s", label), styleDim)
	f.line(value, style)
}

func (f *frame) String() string { return f.b.String() }

func phaseStyle(p state.Phase) string {
	switch p {
	case state.PhasePromoted:
		return styleGreen + styleBold
	case state.PhaseRolledBack, state.PhaseAborted:
		return styleRed + styleBold
	case state.PhasePaused, state.PhaseAwaitingApproval, state.PhaseScheduled, state.PhaseRollingBack:
		return styleYellow + styleBold
	}
	return styleCyan + styleBold
}

func verdictStyle(p string) string {
	switch analysis.Phase(p) {
	case analysis.PhaseSuccessful:
		return styleGreen
	case analysis.PhaseFailed:
		return styleRed
	}
	return styleYellow
}

// releaseFrame is the live view of one release at now.
func releaseFrame(r *state.Release, now time.Time, width int, color bool) string {
	f := &frame{width: width, color: color}
	rs := &r.Status
	f.add(r.Name(), styleBold)
	f.line(fmt.Sprintf("  %s %s -> %s  (policy %s)", r.Service(), rs.From, r.Spec.Spec.To, rs.Policy), styleNone)
	phase := string(rs.Phase)
	if rs.Blocked != "" && !rs.Phase.Terminal() {
		phase += " (waiting: " + rs.Blocked + ")"
	}
	f.field("Phase", phase, phaseStyle(rs.Phase))
	f.field("Step", fmt.Sprintf("%s  %s %3d%%  %s", stepLabel(r), bar(rs.Weight, 20), rs.Weight, planLine(r)), styleNone)
	f.field("Traffic", fmt.Sprintf("%s %d%% | %s %d%%", rs.From, 100-rs.Weight, r.Spec.Spec.To, rs.Weight), styleNone)
	if bake, ok := bakeLine(rs, now); ok {
		f.field("Bake", bake, styleNone)
	}
	if who, ok := pausedBy(r, now); ok {
		f.field("Paused", who, styleYellow)
	}
	if h := rs.Hold; h != nil {
		f.field("Holding", fmt.Sprintf("%s (%s)", h.Message, h.Kind), styleYellow)
	}
	if v, ok := lastVerdict(rs.LastVerdict); ok {
		f.field("Verdict", v.Phase+": "+v.Reason, verdictStyle(v.Phase))
	}
	if rs.Reason != "" && rs.Phase.Terminal() {
		f.field("Ended", rs.Reason, phaseStyle(rs.Phase))
	}
	f.line("Last decisions", styleBold)
	ds := rs.Decisions[max(0, len(rs.Decisions)-decisionsShown):]
	for _, d := range ds {
		f.line(fmt.Sprintf("  %s  %-9s step %-5s %3d%%  %s", d.Time.Local().Format("15:04:05"), d.Action,
			stepOf(d.Step, len(rs.Plan)), d.Weight, d.Message), styleNone)
	}
	return f.String()
}

// bakeLine is the bake countdown of a progressing release.
func bakeLine(rs *state.ReleaseStatus, now time.Time) (string, bool) {
	switch {
	case rs.Phase != state.PhaseProgressing:
		return "", false
	case !rs.Acked:
		return fmt.Sprintf("waiting for every proxy group to ACK state index %d (since %s)", rs.StepIndex, ago(now, rs.StepStartedAt)), true
	}
	left := rs.BakeUntil.Sub(now).Round(time.Second)
	if left > 0 {
		return fmt.Sprintf("%s left (until %s)", left, rs.BakeUntil.Local().Format("15:04:05")), true
	}
	return "done; advances on the next successful analysis", true
}

func lastVerdict(raw json.RawMessage) (verdictView, bool) {
	var v verdictView
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil || v.Phase == "" {
		return v, false
	}
	return v, true
}

func trainPhaseStyle(p state.TrainPhase) string {
	switch p {
	case state.TrainPromoted:
		return styleGreen + styleBold
	case state.TrainRolledBack, state.TrainAborted, state.TrainRollingBack:
		return styleRed + styleBold
	case state.TrainPaused:
		return styleYellow + styleBold
	}
	return styleCyan + styleBold
}

// trainFrame is the live view of a train at now: one line per member and
// the train's and members' last decisions.
func trainFrame(t *api.TrainView, now time.Time, width int, color bool) string {
	f := &frame{width: width, color: color}
	ts := &t.Status
	f.add("Train "+t.Name(), styleBold)
	f.add("  ", styleNone)
	f.line(string(ts.Phase), trainPhaseStyle(ts.Phase))
	if ts.Reason != "" {
		f.field("Reason", ts.Reason, trainPhaseStyle(ts.Phase))
	}
	members := append([]state.TrainMemberStatus(nil), ts.Members...)
	sort.SliceStable(members, func(i, j int) bool { return members[i].Level < members[j].Level })
	nameW := 6
	for _, m := range members {
		nameW = max(nameW, utf8.RuneCountInString(m.Name))
	}
	for _, m := range members {
		f.add(fmt.Sprintf("  %-*s  ", nameW, m.Name), styleNone)
		r := t.Releases[m.Name]
		if r == nil {
			f.line("not started", styleDim)
			continue
		}
		phase := r.Status.Phase
		label := string(phase)
		if r.Status.Blocked != "" && !phase.Terminal() {
			label = "Waiting"
		}
		f.add(fmt.Sprintf("%-11s", label), phaseStyle(phase))
		f.add(fmt.Sprintf(" %-5s %s %3d%%", stepLabel(r), bar(r.Status.Weight, 10), r.Status.Weight), styleNone)
		if v, ok := lastVerdict(r.Status.LastVerdict); ok {
			f.add("  ", styleNone)
			f.add(v.Phase+": "+v.Reason, verdictStyle(v.Phase))
		} else if left, ok := bakeLine(&r.Status, now); ok {
			f.add("  "+left, styleNone)
		}
		f.end()
	}
	f.line("Last decisions", styleBold)
	lines := trainDecisionLines(t, nil)
	for _, l := range lines[max(0, len(lines)-decisionsShown):] {
		f.line("  "+l.text, styleNone)
	}
	return f.String()
}

type timedLine struct {
	at   time.Time
	text string
}

// trainDecisionLines is the train's and its members' decisions in time
// order, skipping the first from[member] of each ("" is the train's own;
// a nil map skips none).
func trainDecisionLines(t *api.TrainView, from map[string]int) []timedLine {
	var lines []timedLine
	for _, d := range t.Status.Decisions[min(from[""], len(t.Status.Decisions)):] {
		lines = append(lines, timedLine{d.Time, fmt.Sprintf("%s  train     %-9s %s", d.Time.Local().Format("15:04:05"), d.Action, d.Message)})
	}
	for member, r := range t.Releases {
		if r == nil {
			continue
		}
		for _, d := range r.Status.Decisions[min(from[member], len(r.Status.Decisions)):] {
			lines = append(lines, timedLine{d.Time, fmt.Sprintf("%s  %-9s %-9s step %-5s %3d%%  %s", d.Time.Local().Format("15:04:05"), member, d.Action,
				stepOf(d.Step, len(r.Status.Plan)), d.Weight, d.Message)})
		}
	}
	sort.SliceStable(lines, func(i, j int) bool {
		if !lines[i].at.Equal(lines[j].at) {
			return lines[i].at.Before(lines[j].at)
		}
		return lines[i].text < lines[j].text
	})
	return lines
}
