// Command windoweval evaluates the release-window optimizer on an hourly
// traffic history (a CSV such as the NASA-HTTP 1995 trace): at many
// decision times it builds the traffic profile from the weeks before
// (nothing after the decision), asks the optimizer for a start time, and
// compares the real traffic of the chosen window with the quietest allowed
// window in hindsight, against naive baselines. docs/windows.md shows the
// results and the command.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/analysis/window"
)

// defaultCSV is where the NASA-HTTP hourly counts are kept, outside the
// repository.
const defaultCSV = "/work/shared/data/traffic/nasa-http-1995/nasa_http_1995_hourly.csv"

func main() {
	if err := mainErr(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "windoweval:", err)
		os.Exit(1)
	}
}

func mainErr(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("windoweval", flag.ContinueOnError)
	csvPath := fs.String("csv", defaultCSV, "hourly traffic CSV (hour_start_local,requests,seconds_covered,flag)")
	tz := fs.String("tz", "America/New_York", "time zone of the schedule and the profile")
	windows := fs.String("windows", "Mon-Fri 08:00-20:00", "release windows, separated by ';'")
	first := fs.String("from", "1995-08-01T00:00:00-04:00", "first decision time")
	last := fs.String("until", "1995-08-31T23:00:00-04:00", "last decision time (moved earlier so the horizon fits the data)")
	every := fs.Duration("every", 6*time.Hour, "time between decisions")
	lookback := fs.Duration("lookback", 21*24*time.Hour, "traffic history the profile is built from")
	duration := fs.Duration("duration", 2*time.Hour, "expected duration of the release")
	slot := fs.Duration("slot", 30*time.Minute, "spacing of candidate starts")
	horizon := fs.Duration("horizon", window.DefaultHorizon, "how far ahead starts are considered")
	risks := fs.String("risks", "0.2,0.5,0.9", "release risks to evaluate the optimizer at (per week: 0.7,0.9,1.0)")
	maxWait := fs.Duration("max-wait", 0, "schedule maxWait: how long a risk-1 release may wait for quieter traffic (0: the horizon)")
	weekly := fs.Bool("weekly", false, "print one row per full week after the lookback, for any hour, Mon-Thu 09-16 and Mon-Fri 07-22")
	shadowFrom := fs.String("outage-from", "1995-08-01T14:00:00-04:00", "start of the known outage (Hurricane Erin)")
	shadowTo := fs.String("outage-to", "1995-08-03T11:00:00-04:00", "end of the outage and its recovery")
	example := fs.String("example", "1995-08-07T00:00:00-04:00", "first decision time the outage example may show")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := evalConfig{
		Timezone: *tz, Every: *every, Lookback: *lookback, Duration: *duration, Slot: *slot, Horizon: *horizon,
		MaxWait: *maxWait,
	}
	if *weekly && !flagSet(fs, "risks") {
		*risks = "0.7,0.9,1.0"
	}
	for w := range strings.SplitSeq(*windows, ";") {
		if w = strings.TrimSpace(w); w != "" {
			cfg.Windows = append(cfg.Windows, w)
		}
	}
	var err error
	for _, p := range []struct {
		s string
		t *time.Time
	}{{*first, &cfg.First}, {*last, &cfg.Last}, {*shadowFrom, &cfg.Shadow[0]}, {*shadowTo, &cfg.Shadow[1]}, {*example, &cfg.Example}} {
		if *p.t, err = time.Parse(time.RFC3339, p.s); err != nil {
			return fmt.Errorf("time %q: %w", p.s, err)
		}
	}
	for r := range strings.SplitSeq(*risks, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
		if err != nil {
			return fmt.Errorf("risk %q: %w", r, err)
		}
		cfg.Risks = append(cfg.Risks, v)
	}
	f, err := os.Open(*csvPath)
	if err != nil {
		return err
	}
	defer f.Close()
	src, err := window.ReadCSV(f)
	if err != nil {
		return err
	}
	samples := src.Samples()
	if len(samples) == 0 {
		return fmt.Errorf("%s has no rows", *csvPath)
	}
	dataEnd := samples[len(samples)-1].Start
	if *weekly {
		rows, err := runWeekly(context.Background(), src, cfg, samples[0].Start, dataEnd)
		if err != nil {
			return err
		}
		printWeekly(out, rows, &cfg, *csvPath)
		return nil
	}
	if latest := dataEnd.Add(-cfg.Horizon - cfg.Duration - time.Hour); cfg.Last.After(latest) {
		cfg.Last = latest.Truncate(cfg.Every)
	}
	rep, err := run(context.Background(), src, cfg)
	if err != nil {
		return err
	}
	printReport(out, rep, &cfg, *csvPath)
	return nil
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func printReport(w io.Writer, rep *report, cfg *evalConfig, path string) {
	fmt.Fprintf(w, "Data: %s\n", path)
	fmt.Fprintf(w, "Decisions: every %s from %s to %s (%d scored; %d with the outage in their lookback)\n",
		cfg.Every, cfg.First.Format(time.RFC3339), cfg.Last.Format(time.RFC3339), rep.Decisions, rep.OutageDecisions)
	fmt.Fprintf(w, "Release: %s, windows %q (%s), slot %s, horizon %s, profile lookback %s, on call always\n\n",
		cfg.Duration, strings.Join(cfg.Windows, "; "), cfg.Timezone, cfg.Slot, cfg.Horizon, cfg.Lookback)
	fmt.Fprintln(w, "| method | scored | mean ratio | median ratio | p90 ratio | within 10% of min | outside windows | fooled by gaps |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rep.Results {
		mean, median, p90, within := stats(r.Ratios)
		fooled := "n/a"
		if r.UsesProfile {
			fooled = strconv.Itoa(r.Fooled)
		}
		fmt.Fprintf(w, "| %s | %d | %.3f | %.3f | %.3f | %.0f%% | %d | %s |\n",
			r.Name, len(r.Ratios), mean, median, p90, 100*within, r.Infeasible, fooled)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "ratio = real mean traffic of the chosen window / real traffic of the quietest allowed window in the horizon (1.000 is optimal);")
	fmt.Fprintln(w, "fooled by gaps = picks where the profile expected less than half the real traffic (a gap or outage read as a quiet hour).")
	if ex := rep.Example; ex != nil && ex.Hour >= 0 {
		robust := fmt.Sprintf("median of %d weeks", ex.Robust.Weeks)
		if ex.Robust.Estimated {
			robust = "no usable week: estimated from the same hour on other weekdays"
		}
		fmt.Fprintf(w, "\nOutage example, decision %s (excluded from the robust profile: %s):\n",
			ex.At.Format(time.RFC3339), formatCounts(ex.Excluded))
		fmt.Fprintf(w, "- the naive profile's quietest allowed hour is %s: naive %.0f requests/hour (mean of %d weeks, gaps and outage read as 0), robust %.0f (%s);\n",
			hourLabel(ex.Hour), ex.Naive.Value, ex.Naive.Weeks, ex.Robust.Value, robust)
		fmt.Fprintf(w, "- naive optimizer picks %s expecting %.0f, real %.0f; robust optimizer picks %s expecting %.0f, real %.0f.\n",
			ex.NaivePick.Format("Mon 2006-01-02 15:04"), ex.NaiveExpected, ex.NaiveTrue,
			ex.RobustPick.Format("Mon 2006-01-02 15:04"), ex.RobustExpected, ex.RobustTrue)
	}
}

func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

func hourLabel(h int) string {
	days := [7]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	return fmt.Sprintf("%s %02d:00", days[h/24], h%24)
}
