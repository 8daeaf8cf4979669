package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// The CLI's JSON and YAML are the API's objects with one change: a step
// is counted from 1, as every table counts it (null before the first
// step), where the API gives the plan index.

// stepNumber is a plan index counted from 1; nil before the first step.
func stepNumber(index int) *int {
	if index < 0 {
		return nil
	}
	n := index + 1
	return &n
}

// decisionView is a recorded decision with its step counted from 1.
type decisionView struct {
	state.Decision
	Step *int `json:"step"`
}

// historyView numbers every decision's step as the tables do.
func historyView(ds []state.Decision) []decisionView {
	out := make([]decisionView, len(ds))
	for i, d := range ds {
		out[i] = decisionView{Decision: d, Step: stepNumber(d.Step)}
	}
	return out
}

type approvalView struct {
	state.Approval
	Step *int `json:"step"`
}

type exposureView struct {
	state.Exposure
	Step *int `json:"step"`
}

type releaseStatusView struct {
	state.ReleaseStatus
	Step      *int           `json:"step"`
	Exposure  *exposureView  `json:"exposure,omitempty"`
	Approvals []approvalView `json:"approvals,omitempty"`
	Decisions []decisionView `json:"decisions"`
}

// releaseView is a release as `release status -o json|yaml` prints it.
type releaseView struct {
	Spec   config.Release    `json:"spec"`
	Status releaseStatusView `json:"status"`
}

func viewRelease(r *state.Release) releaseView {
	rs := r.Status
	v := releaseView{Spec: r.Spec, Status: releaseStatusView{ReleaseStatus: rs, Step: stepNumber(rs.Step), Decisions: historyView(rs.Decisions)}}
	if e := rs.Exposure; e != nil {
		v.Status.Exposure = &exposureView{Exposure: *e, Step: stepNumber(e.Step)}
	}
	for _, a := range rs.Approvals {
		v.Status.Approvals = append(v.Status.Approvals, approvalView{Approval: a, Step: stepNumber(a.Step)})
	}
	return v
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
		if d.Webhooks != nil {
			for _, call := range d.Webhooks.Calls {
				fmt.Fprintf(tw, "\t\t\t\t\t\t\t  %s\n", webhookCallText(call))
			}
		}
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
