package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/analysis/window"
	"github.com/sluicehq/sluice/config"
)

// evalConfig is one evaluation run.
type evalConfig struct {
	Timezone string
	Windows  []string
	// First and Last bound the decision times; Last is moved earlier so
	// that every decision's horizon and release fit inside the data.
	First, Last time.Time
	Every       time.Duration
	Lookback    time.Duration
	Duration    time.Duration
	Slot        time.Duration
	Horizon     time.Duration
	MaxWait     time.Duration
	Risks       []float64
	// Shadow is the known outage and the recovery after it: its hours are
	// left out of the truth, and the outage check watches its hours of
	// the week.
	Shadow [2]time.Time
	// Example is the decision time shown in the outage example.
	Example time.Time
}

// method is one way of choosing a start time.
type method struct {
	name string
	// pick returns the chosen start and, for methods that use a profile,
	// the traffic the profile expected there (NaN otherwise).
	pick func(d *decision) (time.Time, float64, bool)
}

// decision is everything known at one decision time, plus the truth.
type decision struct {
	at        time.Time
	sched     *window.Schedule
	profile   window.Profile
	naive     window.Profile
	spec      *config.ScheduleSpec
	starts    []time.Time // every candidate start, as Suggest sees them
	truth     map[int64]truthHour
	cfg       *evalConfig
	feasible  []time.Time
	lookbackT [2]time.Time
}

type truthHour struct {
	value float64
	ok    bool
}

// result is the outcome of one method over all decisions.
type result struct {
	Name       string
	Ratios     []float64 // chosen true traffic / true minimum, per scored decision
	Unscorable int       // decisions whose chosen window has no trustworthy truth
	Infeasible int       // decisions where the method chose a start the constraints forbid
	// Fooled counts picks whose window the profile expected to see less
	// than half its real traffic: a gap or an outage read as a quiet hour.
	Fooled int
	// Stale counts decisions the optimizer made on a stale profile (the
	// metric absent right up to the decision): it trusts no traffic
	// then, so they are not scored as traffic choices.
	Stale       int
	UsesProfile bool
}

// report is the whole evaluation.
type report struct {
	Decisions       int
	OutageDecisions int // decisions whose lookback contains the outage
	Results         []result
	Example         *exampleDecision
}

// exampleDecision shows one decision whose lookback holds the outage.
type exampleDecision struct {
	At                    time.Time
	Hour                  int
	Robust, Naive         window.HourStat
	RobustPick, NaivePick time.Time
	// Expected is what each profile expected at its pick, True the real
	// traffic there.
	RobustExpected, NaiveExpected float64
	RobustTrue, NaiveTrue         float64
	Excluded                      map[string]int
}

// run evaluates every method on src.
func run(ctx context.Context, src window.TrafficSource, cfg evalConfig) (*report, error) {
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, err
	}
	spec := &config.ScheduleSpec{
		Timezone: cfg.Timezone,
		Windows:  cfg.Windows,
		// On call around the clock: the evaluation is about traffic.
		OnCall: &config.OnCallSpec{Rotations: []config.RotationSpec{{
			People: []string{"oncall"}, Start: cfg.First.Add(-365 * 24 * time.Hour).Format(time.RFC3339),
		}}},
		Slot: config.Duration(cfg.Slot),
	}
	sched, err := window.Compile(spec)
	if err != nil {
		return nil, err
	}
	methods := []method{
		{name: "start now (ignores windows)", pick: func(d *decision) (time.Time, float64, bool) { return d.starts[0], math.NaN(), true }},
		{name: "first allowed slot", pick: func(d *decision) (time.Time, float64, bool) {
			if len(d.feasible) == 0 {
				return time.Time{}, 0, false
			}
			return d.feasible[0], math.NaN(), true
		}},
		{name: "fixed Tue 10:00", pick: func(d *decision) (time.Time, float64, bool) {
			return nextWeekday(d.at, time.Tuesday, 10, loc), math.NaN(), true
		}},
		{name: "optimizer, naive profile (risk 0.9)", pick: func(d *decision) (time.Time, float64, bool) { return d.suggest(d.naive, 0.9) }},
	}
	for _, r := range cfg.Risks {
		methods = append(methods, method{name: fmt.Sprintf("optimizer (risk %.1f)", r), pick: func(d *decision) (time.Time, float64, bool) {
			return d.suggest(d.profile, r)
		}})
	}
	rep := &report{Results: make([]result, len(methods))}
	for i, m := range methods {
		rep.Results[i].Name = m.name
		rep.Results[i].UsesProfile = strings.HasPrefix(m.name, "optimizer")
	}
	for at := cfg.First; !at.After(cfg.Last); at = at.Add(cfg.Every) {
		d, err := newDecision(ctx, src, &cfg, spec, sched, at, loc)
		if err != nil {
			return nil, err
		}
		best, ok := d.trueMinimum()
		if !ok {
			continue
		}
		rep.Decisions++
		outage := d.lookbackT[0].Before(cfg.Shadow[1]) && cfg.Shadow[0].Before(d.lookbackT[1])
		if outage {
			rep.OutageDecisions++
		}
		for i, m := range methods {
			res := &rep.Results[i]
			if res.UsesProfile && d.profile.Stale() {
				res.Stale++
				continue
			}
			start, expected, ok := m.pick(d)
			if !ok {
				res.Unscorable++
				continue
			}
			if !sched.Check(start, cfg.Duration).OK {
				res.Infeasible++
			}
			v, ok := d.trueTraffic(start)
			if !ok {
				res.Unscorable++
				continue
			}
			if expected < 0.5*v {
				res.Fooled++
			}
			res.Ratios = append(res.Ratios, v/best)
		}
		if outage && rep.Example == nil && !at.Before(cfg.Example) {
			rep.Example = d.example(loc)
		}
	}
	return rep, nil
}

func newDecision(ctx context.Context, src window.TrafficSource, cfg *evalConfig, spec *config.ScheduleSpec,
	sched *window.Schedule, at time.Time, loc *time.Location) (*decision, error) {
	d := &decision{at: at, sched: sched, spec: spec, cfg: cfg, truth: map[int64]truthHour{}}
	d.lookbackT = [2]time.Time{at.Add(-cfg.Lookback), at}
	var err error
	// The profile sees only hours that ended before the decision.
	if d.profile, err = window.LoadProfile(ctx, src, at, cfg.Lookback, loc); err != nil {
		return nil, err
	}
	past, err := src.HourlyTraffic(ctx, at.Add(-cfg.Lookback), at)
	if err != nil {
		return nil, err
	}
	d.naive = naiveProfile(past, loc)
	// The truth: the hours after the decision, for scoring only.
	future, err := src.HourlyTraffic(ctx, at, at.Add(cfg.Horizon+cfg.Duration+2*time.Hour))
	if err != nil {
		return nil, err
	}
	for _, s := range future {
		// The outage and its unflagged recovery are not demand: they are
		// left out of the truth as well as of the profile.
		inOutage := !s.Start.Before(cfg.Shadow[0]) && s.Start.Before(cfg.Shadow[1])
		d.truth[s.Start.Unix()] = truthHour{value: s.Value, ok: !s.Missing && !inOutage}
	}
	first := at.Truncate(cfg.Slot)
	if first.Before(at) {
		first = first.Add(cfg.Slot)
	}
	for t := first; !t.After(at.Add(cfg.Horizon)); t = t.Add(cfg.Slot) {
		d.starts = append(d.starts, t)
		if sched.Check(t, cfg.Duration).OK {
			d.feasible = append(d.feasible, t)
		}
	}
	return d, nil
}

// suggest runs the optimizer with a profile and returns its best start
// and the traffic the profile expects there.
func (d *decision) suggest(p window.Profile, risk float64) (time.Time, float64, bool) {
	sug, err := window.Suggest(window.Input{
		Schedule: d.spec, Duration: d.cfg.Duration, Traffic: p, Risk: risk,
		Slot: d.cfg.Slot, Horizon: d.cfg.Horizon, MaxWait: d.cfg.MaxWait, Alternatives: -1,
	}, d.at)
	if err != nil {
		return time.Time{}, 0, false
	}
	return sug.Best.Start, sug.Best.Traffic, true
}

// trueTraffic is the real mean hourly traffic over a release starting at
// start; false when an hour of it has no trustworthy value.
func (d *decision) trueTraffic(start time.Time) (float64, bool) {
	end := start.Add(d.cfg.Duration)
	var sum float64
	for t := start; t.Before(end); {
		hour := t.Truncate(time.Hour)
		next := hour.Add(time.Hour)
		if next.After(end) {
			next = end
		}
		th, ok := d.truth[hour.Unix()]
		if !ok || !th.ok {
			return 0, false
		}
		sum += th.value * next.Sub(t).Seconds()
		t = next
	}
	return sum / end.Sub(start).Seconds(), true
}

// trueMinimum is the lowest real traffic of any allowed start.
func (d *decision) trueMinimum() (float64, bool) {
	best, found := math.Inf(1), false
	for _, t := range d.feasible {
		if v, ok := d.trueTraffic(t); ok && v < best {
			best, found = v, true
		}
	}
	return best, found && best > 0
}

func (d *decision) example(loc *time.Location) *exampleDecision {
	// The quietest hour of the naive profile inside the windows: where it
	// believes the traffic is lowest.
	hour, low := -1, math.Inf(1)
	for _, t := range d.feasible {
		h := window.HourOfWeek(t, loc)
		if v := d.naive.Hours[h].Value; v < low {
			hour, low = h, v
		}
	}
	ex := &exampleDecision{At: d.at, Hour: hour, Excluded: d.profile.Excluded}
	if hour >= 0 {
		ex.Robust, ex.Naive = d.profile.Hours[hour], d.naive.Hours[hour]
	}
	ex.RobustPick, ex.RobustExpected, _ = d.suggest(d.profile, 0.9)
	ex.NaivePick, ex.NaiveExpected, _ = d.suggest(d.naive, 0.9)
	ex.RobustTrue, _ = d.trueTraffic(ex.RobustPick)
	ex.NaiveTrue, _ = d.trueTraffic(ex.NaivePick)
	return ex
}

// naiveProfile is the ablation: every hour counts, a gap or an outage as
// zero traffic, and each hour of the week is the mean of its weeks.
func naiveProfile(samples []window.Sample, loc *time.Location) window.Profile {
	p := window.Profile{Timezone: loc.String()}
	var sum [window.HoursPerWeek]float64
	var n [window.HoursPerWeek]int
	for _, s := range samples {
		h := window.HourOfWeek(s.Start, loc)
		sum[h] += s.Value // a missing hour holds 0, a flagged one its count
		n[h]++
		p.Used++
	}
	for h := range p.Hours {
		if n[h] > 0 {
			p.Hours[h] = window.HourStat{Value: sum[h] / float64(n[h]), Weeks: n[h]}
		}
	}
	return p
}

// nextWeekday is the first day-of-week at hour:00 in loc at or after t.
func nextWeekday(t time.Time, day time.Weekday, hour int, loc *time.Location) time.Time {
	lt := t.In(loc)
	for i := 0; i < 8; i++ {
		c := time.Date(lt.Year(), lt.Month(), lt.Day()+i, hour, 0, 0, 0, loc)
		if c.Weekday() == day && !c.Before(t) {
			return c
		}
	}
	return time.Time{}
}

// stats summarises ratios: mean, median, 90th percentile and the share
// within 10% of the minimum.
func stats(r []float64) (mean, median, p90, within10 float64) {
	if len(r) == 0 {
		return math.NaN(), math.NaN(), math.NaN(), math.NaN()
	}
	s := slices.Clone(r)
	slices.Sort(s)
	for _, v := range s {
		mean += v
		if v <= 1.10 {
			within10++
		}
	}
	mean /= float64(len(s))
	median = s[len(s)/2]
	if len(s)%2 == 0 {
		median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	p90 = s[int(math.Ceil(0.9*float64(len(s))))-1]
	return mean, median, p90, within10 / float64(len(s))
}
