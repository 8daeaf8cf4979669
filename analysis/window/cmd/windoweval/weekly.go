package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sluicehq/sluice/analysis/window"
)

// windowSet is one set of allowed hours the per-week table is run for.
type windowSet struct {
	Name    string
	Windows []string
}

// weeklySets are the window sets of the per-week table: any hour, a
// narrow business window and a wide one.
func weeklySets() []windowSet {
	return []windowSet{
		{Name: "any hour"},
		{Name: "Mon-Thu 09-16", Windows: []string{"Mon-Thu 09:00-16:00"}},
		{Name: "Mon-Fri 07-22", Windows: []string{"Mon-Fri 07:00-22:00"}},
	}
}

// weekRow is one line of the per-week table.
type weekRow struct {
	Week       time.Time
	Set        string
	Risk       float64
	Decisions  int
	Mean, Max  float64
	NoData     int // picks whose window had no trustworthy traffic (outage, no data)
	Violations int // picks the constraints forbid
	Stale      int // decisions on a stale profile
}

// runWeekly evaluates the optimizer for each full week of decisions after
// the lookback (every week whose decisions, horizons and releases fit in
// the data), for each window set and risk.
func runWeekly(ctx context.Context, src window.TrafficSource, base evalConfig, dataStart, dataEnd time.Time) ([]weekRow, error) {
	loc, err := time.LoadLocation(base.Timezone)
	if err != nil {
		return nil, err
	}
	week := mondayOnOrAfter(dataStart.Add(base.Lookback), loc)
	var rows []weekRow
	for ; ; week = week.AddDate(0, 0, 7) {
		last := week.AddDate(0, 0, 7).Add(-base.Every)
		if last.Add(base.Horizon + base.Duration + time.Hour).After(dataEnd) {
			break
		}
		for _, set := range weeklySets() {
			cfg := base
			cfg.Windows, cfg.First, cfg.Last = set.Windows, week, last
			rep, err := run(ctx, src, cfg)
			if err != nil {
				return nil, err
			}
			for _, r := range rep.Results {
				risk, ok := optimizerRisk(r.Name)
				if !ok {
					continue
				}
				row := weekRow{Week: week, Set: set.Name, Risk: risk, Decisions: len(r.Ratios), NoData: r.Unscorable,
					Violations: r.Infeasible, Stale: r.Stale}
				row.Mean, _, _, _ = stats(r.Ratios)
				for _, v := range r.Ratios {
					row.Max = max(row.Max, v)
				}
				rows = append(rows, row)
			}
		}
	}
	return rows, nil
}

// optimizerRisk reads the risk of an "optimizer (risk R)" method.
func optimizerRisk(name string) (float64, bool) {
	var r float64
	if _, err := fmt.Sscanf(name, "optimizer (risk %f)", &r); err != nil {
		return 0, false
	}
	return r, true
}

func mondayOnOrAfter(t time.Time, loc *time.Location) time.Time {
	lt := t.In(loc)
	d := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
	if d.Before(lt) {
		d = d.AddDate(0, 0, 1)
	}
	for d.Weekday() != time.Monday {
		d = d.AddDate(0, 0, 1)
	}
	return d
}

func printWeekly(w io.Writer, rows []weekRow, cfg *evalConfig, path string) {
	fmt.Fprintf(w, "Data: %s\n", path)
	fmt.Fprintf(w, "Per week: decisions every %s, a %s release, slot %s, horizon %s, profile lookback %s, maxWait %s, on call always (%s)\n\n",
		cfg.Every, cfg.Duration, cfg.Slot, cfg.Horizon, cfg.Lookback, maxWaitLabel(cfg.MaxWait), cfg.Timezone)
	fmt.Fprintln(w, "| week of | allowed | risk | decisions | mean ratio | max ratio | no-data picks | violations | stale |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %.1f | %d | %.3f | %.3f | %d | %d | %d |\n",
			r.Week.Format("2006-01-02"), r.Set, r.Risk, r.Decisions, r.Mean, r.Max, r.NoData, r.Violations, r.Stale)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, strings.Join([]string{
		"ratio = real mean traffic of the chosen window / real traffic of the quietest allowed window in the horizon (1.000 is optimal);",
		"no-data picks = chosen windows with an outage or no-data hour; stale = decisions whose metric was absent right up to the decision (not trusted, not scored).",
	}, "\n"))
}

func maxWaitLabel(d time.Duration) string {
	if d == 0 {
		return "the horizon"
	}
	return d.String()
}
