package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/state"
)

// decisionView is a recorded decision as `release history -o json|yaml`
// prints it: the API's decision with its step counted from 1, as the
// tables count it (null before the first step).
type decisionView struct {
	state.Decision
	Step *int `json:"step"`
}

// historyView numbers every decision's step as the tables do.
func historyView(ds []state.Decision) []decisionView {
	out := make([]decisionView, len(ds))
	for i, d := range ds {
		out[i] = decisionView{Decision: d}
		if d.Step >= 0 {
			n := d.Step + 1
			out[i].Step = &n
		}
	}
	return out
}

// printHistory is the table of `release history`.
func printHistory(w io.Writer, ds []state.Decision) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tTIME\tACTOR\tACTION\tPHASE\tSTEP\tWEIGHT\tMESSAGE")
	for _, d := range ds {
		step := "-"
		if d.Step >= 0 {
			step = fmt.Sprint(d.Step + 1)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d%%\t%s\n", d.Seq, d.Time.Local().Format("15:04:05.000"), d.Actor, d.Action, d.Phase, step, d.Weight, d.Message)
	}
	return tw.Flush()
}

// pausedBy describes who paused a paused release, when and why: its last
// pause decision, whose message names the person and their reason. ok is
// false unless the release is paused.
func pausedBy(r *state.Release, now time.Time) (string, bool) {
	if r.Status.Phase != state.PhasePaused {
		return "", false
	}
	for i := len(r.Status.Decisions) - 1; i >= 0; i-- {
		d := r.Status.Decisions[i]
		if d.Action != state.DecisionPause {
			continue
		}
		what := d.Message
		if what == "" {
			what = "by " + d.Actor
		}
		return fmt.Sprintf("%s (%s); resume with: sluice release resume %s", what, ago(now, d.Time), r.Name()), true
	}
	return "", false
}
