package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/analysis/window"
	"github.com/sluicehq/sluice/calendar"
	"github.com/sluicehq/sluice/config"
)

// windowFlags are the flags of sluice window suggest.
type windowFlags struct {
	risk     float64
	duration time.Duration
	output   outputFormat
	// Offline planning: a policy file, a traffic CSV and a decision time
	// instead of a server.
	file, policy, traffic, at string
}

func newWindowCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "window", Short: "Release windows"}
	var f windowFlags
	suggest := &cobra.Command{
		Use:   "suggest [SERVICE]",
		Short: "Suggest when a release may start: the best start with its reasons and the top alternatives",
		Long: `Suggest when a release of SERVICE may start, from the server's policy and Prometheus.

With -f, the same optimizer runs offline, without a server: the schedule is
that of a ReleasePolicy in the file (the one covering SERVICE, the one named
by --policy, or the only one), the traffic profile is built from an hourly
CSV (--traffic; header hour_start or time, and requests or value, with an
optional flag column) over the policy's trafficLookback before --at, and
past outcomes are not known. For planning, and for checking a schedule
against last month's traffic.`,
		Example: `  sluice window suggest greeter --risk 0.8
  sluice window suggest -f policy.yaml --traffic last-month.csv --at "2026-11-02T09:00:00+01:00" --risk 0.9 --duration 2h`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			service := ""
			if len(args) == 1 {
				service = args[0]
			}
			if f.file == "" {
				if service == "" {
					return errors.New("name a SERVICE, or plan offline with -f POLICY.yaml --traffic FILE.csv")
				}
				return suggestOnline(cmd.Context(), c, service, &f)
			}
			return suggestOffline(cmd.Context(), c, service, &f)
		},
	}
	fl := suggest.Flags()
	fl.Float64Var(&f.risk, "risk", 0.5, "risk of the release (0-1; from sluice risk explain)")
	fl.DurationVar(&f.duration, "duration", time.Hour, "expected duration of the release")
	f.output = formatTable
	fl.VarP(&f.output, "output", "o", "output format: table, yaml or json")
	fl.StringVarP(&f.file, "file", "f", "", "offline: YAML file with the ReleasePolicy whose schedule to use")
	fl.StringVar(&f.policy, "policy", "", "offline: the ReleasePolicy in -f to use")
	fl.StringVar(&f.traffic, "traffic", "", "offline: CSV of hourly request counts (default: none, traffic not considered)")
	fl.StringVar(&f.at, "at", "", "offline: the decision time, RFC 3339 or wall-clock in the schedule's zone (default: now)")
	cmd.AddCommand(suggest)
	return cmd
}

// suggestion is what both modes print.
type suggestion struct {
	Suggestion window.Suggestion `json:"suggestion"`
	Error      string            `json:"error"`
}

func suggestOnline(ctx context.Context, c *cli, service string, f *windowFlags) error {
	var out suggestion
	path := fmt.Sprintf("/v1/windows/%s?risk=%g&duration=%s", url.PathEscape(service), f.risk, f.duration)
	if err := c.client().GetJSON(ctx, path, &out); err != nil {
		return err
	}
	return printSuggestion(c, "Service "+service, out, f.output)
}

func suggestOffline(ctx context.Context, c *cli, service string, f *windowFlags) error {
	pol, err := offlinePolicy(c, f.file, service, f.policy)
	if err != nil {
		return err
	}
	sc := pol.Spec.Schedule
	if sc == nil {
		return fmt.Errorf("%s: ReleasePolicy %q has no schedule: any time is allowed", f.file, pol.Metadata.Name)
	}
	sched, err := window.Compile(sc)
	if err != nil {
		return err
	}
	now := time.Now()
	if f.at != "" {
		if now, err = calendar.ParseTime(f.at, sched.Location()); err != nil {
			return fmt.Errorf("--at: %w", err)
		}
	}
	in := window.Input{Schedule: sc, Duration: f.duration, Risk: f.risk}
	if f.traffic != "" {
		file, err := os.Open(f.traffic)
		if err != nil {
			return err
		}
		defer file.Close()
		src, err := window.ReadCSV(file)
		if err != nil {
			return fmt.Errorf("%s: %w", f.traffic, err)
		}
		lookback := sc.TrafficLookback.D()
		if lookback == 0 {
			lookback = config.DefaultTrafficLookback
		}
		if in.Traffic, err = window.LoadProfile(ctx, src, now, lookback, sched.Location()); err != nil {
			return err
		}
	}
	var out suggestion
	out.Suggestion, err = window.Suggest(in, now)
	switch {
	case errors.Is(err, window.ErrNoWindow):
		out.Error = err.Error()
	case err != nil:
		return err
	}
	title := fmt.Sprintf("Policy %s at %s", pol.Metadata.Name, now.In(sched.Location()).Format("Mon 2006-01-02 15:04 MST"))
	return printSuggestion(c, title, out, f.output)
}

// offlinePolicy picks the ReleasePolicy of a file: the one covering
// service, the one named, or the only one.
func offlinePolicy(c *cli, file, service, name string) (*config.ReleasePolicy, error) {
	fname, data, err := c.readInput(file)
	if err != nil {
		return nil, err
	}
	docs, err := config.Parse(fname, data)
	if err != nil {
		return nil, err
	}
	var pols []*config.ReleasePolicy
	for i := range docs {
		if p := docs[i].ReleasePolicy; p != nil {
			pols = append(pols, p)
		}
	}
	match := func(what string, ok func(*config.ReleasePolicy) bool) (*config.ReleasePolicy, error) {
		i := slices.IndexFunc(pols, ok)
		if i < 0 {
			return nil, fmt.Errorf("%s: no ReleasePolicy %s", fname, what)
		}
		return pols[i], nil
	}
	switch {
	case name != "":
		return match(fmt.Sprintf("named %q", name), func(p *config.ReleasePolicy) bool { return p.Metadata.Name == name })
	case service != "":
		return match(fmt.Sprintf("covers Service %q", service), func(p *config.ReleasePolicy) bool { return slices.Contains(p.Spec.Services, service) })
	case len(pols) == 1:
		return pols[0], nil
	case len(pols) == 0:
		return nil, fmt.Errorf("%s: no ReleasePolicy in the file", fname)
	}
	names := make([]string, len(pols))
	for i, p := range pols {
		names[i] = p.Metadata.Name
	}
	return nil, fmt.Errorf("%s has %d ReleasePolicies (%s): name one with --policy or a SERVICE", fname, len(pols), strings.Join(names, ", "))
}

func printSuggestion(c *cli, title string, out suggestion, output outputFormat) error {
	if !output.isTable() {
		return output.print(c.out, out, nil)
	}
	s := out.Suggestion
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		loc = time.UTC
	}
	fmt.Fprintf(c.out, "%s, a %s release at risk %.2f (%s):\n", title, s.Duration, s.Risk, s.Timezone)
	if out.Error != "" {
		fmt.Fprintf(c.out, "No allowed start: %s\n", out.Error)
	} else {
		printCandidate(c, "Best", s.Best, loc)
		for i, a := range s.Alternatives {
			printCandidate(c, fmt.Sprintf("Alt %d", i+1), a, loc)
		}
	}
	fmt.Fprintf(c.out, "%d candidate starts, %d feasible; rejected: %d outside windows, %d in blackouts, %d on calendar days, %d without on-call\n",
		s.Considered, s.Feasible, s.Rejected.Window, s.Rejected.Blackout, s.Rejected.Calendar, s.Rejected.OnCall)
	for _, n := range s.Notes {
		fmt.Fprintln(c.out, "Note: "+n)
	}
	return nil
}

func printCandidate(c *cli, label string, k window.Candidate, loc *time.Location) {
	fmt.Fprintf(c.out, "%-6s %s (%s, score %.3f)\n", label+":", k.Start.In(loc).Format("Mon 2006-01-02 15:04"), k.Window, k.Score)
	for _, r := range k.Reasons {
		fmt.Fprintln(c.out, "         - "+strings.TrimSpace(r))
	}
}
