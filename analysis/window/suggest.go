package window

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/sluicehq/sluice/calendar"
	"github.com/sluicehq/sluice/config"
)

// ErrInput is matched when Suggest's input is unusable (a risk outside
// 0..1, a non-positive duration, a profile in another time zone).
var ErrInput = errors.New("invalid window input")

// ErrNoWindow is matched when no start time in the horizon satisfies every
// hard constraint. The Suggestion returned with it still says how many
// candidates each constraint removed.
var ErrNoWindow = errors.New("no allowed start time")

// Defaults and limits of Suggest.
const (
	// DefaultHorizon is how far ahead start times are considered.
	DefaultHorizon = 7 * 24 * time.Hour
	// MaxHorizon bounds Input.Horizon.
	MaxHorizon = 31 * 24 * time.Hour
	// DefaultAlternatives is how many alternatives are returned.
	DefaultAlternatives = 5
	// MinSlot is the finest slot Suggest accepts.
	MinSlot = time.Minute
	// DefaultStepAllowance is what ExpectedDuration adds per step for
	// pushing routes and the first analysis, on top of the bake.
	DefaultStepAllowance = 2 * time.Minute
)

// ExpectedDuration is how long a release plan is expected to take: the
// sum of its steps' bakes plus allowance per step.
func ExpectedDuration(bakes []time.Duration, allowance time.Duration) time.Duration {
	total := time.Duration(0)
	for _, b := range bakes {
		total += b + allowance
	}
	return total
}

// Input is everything Suggest needs. It holds no clock and no connection.
type Input struct {
	// Schedule is the policy's schedule; nil means no constraints (UTC).
	Schedule *config.ScheduleSpec
	// Duration is the release's expected duration (see ExpectedDuration);
	// the whole of it must satisfy the hard constraints.
	Duration time.Duration
	// Traffic is the hour-of-week profile in the schedule's time zone;
	// empty means "unknown" and traffic then does not count.
	Traffic Profile
	// Outcomes of past releases; those starting at or after now are
	// ignored.
	Outcomes []Outcome
	// Risk of the release, 0..1, from the risk model.
	Risk float64
	// Slot is the spacing of candidate starts (default: the schedule's
	// slot, else config.DefaultSlot).
	Slot time.Duration
	// Horizon is how far ahead starts are considered (DefaultHorizon).
	Horizon time.Duration
	// Alternatives is how many alternatives to return
	// (DefaultAlternatives; negative for none).
	Alternatives int
	// MaxWait is how long a release of risk 1 may wait past its earliest
	// allowed start for quieter traffic (default: the schedule's maxWait,
	// else the horizon).
	MaxWait time.Duration
}

// Weights of the score terms (see WeightsFor).
type Weights struct {
	// Traffic is the cost of twice the traffic of the quietest start the
	// release may wait for.
	Traffic float64 `json:"traffic"`
	// Failure weighs the hour's past failure share (0.5 is average).
	Failure float64 `json:"failure"`
	// Wait is the cost of waiting the whole WaitBudget past the earliest
	// allowed start: it breaks near-ties in favour of the earlier start.
	Wait float64 `json:"wait"`
	// WaitBudget is how long past the earliest allowed start the release
	// may wait for quieter traffic: risk times the schedule's maxWait.
	WaitBudget time.Duration `json:"waitBudget"`
}

// waitTieBreak is Weights.Wait: waiting the whole budget is worth about
// 7% of traffic (2^0.1), so between two starts of nearly the same traffic
// the earlier wins.
const waitTieBreak = 0.1

// WeightsFor returns the score weights for a release of the given risk
// when it may wait up to maxWait: the riskier the release, the longer it
// waits for the quietest start (its blast radius), and the more the past
// failure rate of the hour counts; a release of risk 0 starts at the
// earliest allowed start.
//
//	traffic = 1 per doubling    failure = 0.1 + 0.4 risk    wait = 0.1    waitBudget = risk × maxWait
func WeightsFor(risk float64, maxWait time.Duration) Weights {
	return Weights{Traffic: 1, Failure: 0.1 + 0.4*risk, Wait: waitTieBreak,
		WaitBudget: time.Duration(risk * float64(maxWait)).Round(time.Minute)}
}

// Candidate is one allowed start time with its score.
type Candidate struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Score is the weighted sum of the terms below; lower is better.
	Score float64 `json:"score"`
	// Window is the allowed window the release runs in; OnCall who is on
	// call during it.
	Window string   `json:"window"`
	OnCall []string `json:"onCall,omitempty"`
	// Traffic is the expected traffic (the profile's unit) averaged over
	// the release; TrafficShare is that over the profile's weekly peak
	// (1 when the profile is empty). TrafficEstimated says some hours
	// had no data and were estimated from other days.
	Traffic          float64 `json:"traffic"`
	TrafficShare     float64 `json:"trafficShare"`
	TrafficEstimated bool    `json:"trafficEstimated,omitempty"`
	// SuccessRate is the smoothed success rate of past releases started
	// in the same hour of the week; PastReleases and PastSuccesses are the
	// raw counts behind it.
	SuccessRate   float64 `json:"successRate"`
	PastReleases  int     `json:"pastReleases"`
	PastSuccesses int     `json:"pastSuccesses"`
	// FailureShare is the hour's failure rate against the overall one
	// (0.5 is average).
	FailureShare float64 `json:"failureShare"`
	// Wait is how long after now the release would start.
	Wait time.Duration `json:"wait"`
	// Reasons say in plain words why this start was chosen and what it
	// costs.
	Reasons []string `json:"reasons"`
}

// Rejected counts the candidate starts each hard constraint removed. A
// start is counted under the first constraint it fails, in the order
// window, blackout, calendar, on-call.
type Rejected struct {
	Window   int `json:"window"`
	Blackout int `json:"blackout"`
	Calendar int `json:"calendar"`
	OnCall   int `json:"onCall"`
	// ByReason counts the blackout and calendar rejections by their
	// reason or event summary, most first.
	ByReason []ReasonCount `json:"byReason,omitempty"`
}

// Total is the number of rejected starts.
func (r Rejected) Total() int { return r.Window + r.Blackout + r.Calendar + r.OnCall }

// ReasonCount is how many starts one blackout or calendar event removed.
type ReasonCount struct {
	Constraint Constraint `json:"constraint"`
	Reason     string     `json:"reason"`
	Count      int        `json:"count"`
}

// Suggestion is the answer of Suggest: the best start, distinct
// alternatives, and what the hard constraints removed. It is plain data
// (it can be recorded as a decision) except for the compiled schedule
// behind InWindow.
type Suggestion struct {
	Now      time.Time     `json:"now"`
	Timezone string        `json:"timezone"`
	Duration time.Duration `json:"duration"`
	Slot     time.Duration `json:"slot"`
	Horizon  time.Duration `json:"horizon"`
	Risk     float64       `json:"risk"`
	Weights  Weights       `json:"weights"`
	// Best is the lowest-scoring allowed start (zero with ErrNoWindow).
	Best Candidate `json:"best"`
	// Alternatives are the next best starts, each in a different run of
	// allowed slots where possible and never overlapping another choice.
	Alternatives []Candidate `json:"alternatives,omitempty"`
	// Considered is the number of candidate starts, Feasible how many
	// passed every hard constraint.
	Considered int      `json:"considered"`
	Feasible   int      `json:"feasible"`
	Rejected   Rejected `json:"rejected"`
	// Notes are facts that apply to every candidate: fallbacks used,
	// constraints not checked.
	Notes []string `json:"notes,omitempty"`
	// TrafficStale says the traffic metric has been absent right up to
	// now (see Profile.StaleSince): its profile was not trusted and every
	// hour counted as equally busy.
	TrafficStale bool `json:"trafficStale,omitempty"`

	sched *Schedule
}

// InWindow says whether a release of the suggestion's duration may start
// at t (typically now: a release submitted outside its window is
// scheduled instead), and why.
func (s *Suggestion) InWindow(t time.Time) (bool, string) {
	if s.sched == nil {
		return false, "no schedule: the suggestion was not made by Suggest"
	}
	v := s.sched.Check(t, s.Duration)
	return v.OK, v.Reason
}

// scored is a feasible candidate during ranking.
type scored struct {
	Candidate
	run int // index of the run of consecutive allowed slots
}

// Suggest ranks the start times of a release in (now, now+horizon] and
// returns the best one, its alternatives and what the hard constraints
// removed. It is pure and deterministic: the same input and now give the
// same suggestion.
//
// # Each start that passes every hard constraint gets
//
// with the score of score() and w = WeightsFor(risk, maxWait); lower is
// better and ties go to the earlier start. docs/windows.md explains each
// term and the delay-versus-traffic trade-off.
func Suggest(in Input, now time.Time) (Suggestion, error) {
	if math.IsNaN(in.Risk) || in.Risk < 0 || in.Risk > 1 {
		return Suggestion{}, fmt.Errorf("%w: risk must be between 0 and 1, got %v", ErrInput, in.Risk)
	}
	if in.Duration <= 0 {
		return Suggestion{}, fmt.Errorf("%w: the expected duration must be positive, got %s", ErrInput, in.Duration)
	}
	horizon := cmpOr(in.Horizon, DefaultHorizon)
	if horizon < 0 || horizon > MaxHorizon {
		return Suggestion{}, fmt.Errorf("%w: horizon must be positive and at most %s, got %s", ErrInput, MaxHorizon, horizon)
	}
	slot := in.Slot
	if slot == 0 && in.Schedule != nil {
		slot = in.Schedule.Slot.D()
	}
	slot = cmpOr(slot, config.DefaultSlot)
	if slot < MinSlot || slot > horizon {
		return Suggestion{}, fmt.Errorf("%w: slot must be from %s to the horizon (%s), got %s", ErrInput, MinSlot, horizon, slot)
	}
	nAlt := in.Alternatives
	if nAlt == 0 {
		nAlt = DefaultAlternatives
	}
	sched, err := Compile(in.Schedule)
	if err != nil {
		return Suggestion{}, err
	}
	loc := sched.loc
	if !in.Traffic.Empty() && in.Traffic.Timezone != "" && in.Traffic.Timezone != loc.String() {
		return Suggestion{}, fmt.Errorf("%w: the traffic profile is in %s but the schedule in %s", ErrInput, in.Traffic.Timezone, loc)
	}

	stale := in.Traffic.Stale()
	if stale {
		// The hours the profile calls quiet may be the outage that is
		// still going on: rank as if traffic were unknown, and say so.
		in.Traffic = Profile{Timezone: in.Traffic.Timezone, Note: fmt.Sprintf(
			"the traffic metric has had no data since %s (%s up to now), so its profile is not trusted",
			in.Traffic.StaleSince.In(loc).Format(timeLayout), roundDuration(now.Sub(in.Traffic.StaleSince)))}
	}
	sug := Suggestion{
		Now: now, Timezone: loc.String(), Duration: in.Duration, Slot: slot, Horizon: horizon,
		Risk: in.Risk, TrafficStale: stale, sched: sched,
	}
	maxWait := in.MaxWait
	if maxWait == 0 && in.Schedule != nil {
		maxWait = in.Schedule.MaxWait.D()
	}
	if maxWait = min(cmpOr(maxWait, horizon), horizon); maxWait < 0 {
		return Suggestion{}, fmt.Errorf("%w: maxWait must not be negative, got %s", ErrInput, maxWait)
	}
	sug.Weights = WeightsFor(in.Risk, maxWait)
	first := ceilToSlot(now, slot, loc)
	end := now.Add(horizon)
	ex, err := sched.expand(first, end.Add(in.Duration))
	if err != nil {
		return sug, err
	}

	succ := newSuccessModel(in.Outcomes, now, loc)
	peak := in.Traffic.Peak()
	reasonCounts := map[string]*ReasonCount{}
	var feasible []scored
	run, lastOK := 0, false
	for t := first; !t.After(end); t = t.Add(slot) {
		sug.Considered++
		iv := calendar.Interval{Start: t, End: t.Add(in.Duration)}
		v := ex.check(iv)
		if !v.OK {
			lastOK = false
			sug.Rejected.count(v, ex, iv, reasonCounts)
			continue
		}
		if !lastOK {
			run++
		}
		lastOK = true
		c := scored{run: run, Candidate: Candidate{Start: t, End: iv.End, Window: v.Window, OnCall: v.OnCall, Wait: t.Sub(now)}}
		c.Traffic, c.TrafficEstimated = in.Traffic.mean(iv, loc)
		c.TrafficShare = 1
		if peak > 0 {
			c.TrafficShare = c.Traffic / peak
		}
		h := HourOfWeek(t, loc)
		c.SuccessRate, c.FailureShare = succ.rate(h), succ.failureShare(h)
		c.PastReleases, c.PastSuccesses = succ.how[h].n, succ.how[h].ok
		feasible = append(feasible, c)
	}
	score(feasible, sug.Weights, peak)
	sug.Feasible = len(feasible)
	sug.Rejected.ByReason = sortedReasons(reasonCounts)
	sug.Notes = notes(&in, ex, succ)
	if len(feasible) == 0 {
		return sug, fmt.Errorf("%w in the %s after %s for a %s release: %s", ErrNoWindow, horizon,
			now.In(loc).Format(timeLayout), in.Duration, sug.Rejected.summary(sug.Considered))
	}
	earliest := feasible[0]
	ranked := slices.Clone(feasible)
	slices.SortStableFunc(ranked, compareScored)
	picks := pickDistinct(ranked, 1+max(nAlt, 0))
	minShare := ranked[0].TrafficShare
	for _, c := range feasible {
		minShare = math.Min(minShare, c.TrafficShare)
	}
	for i := range picks {
		picks[i].Reasons = reasons(&sug, &in, &picks[i].Candidate, &earliest.Candidate, minShare, succ, i == 0)
	}
	sug.Best = picks[0].Candidate
	alts := picks[1:]
	slices.SortStableFunc(alts, compareScored)
	for _, p := range alts {
		sug.Alternatives = append(sug.Alternatives, p.Candidate)
	}
	return sug, nil
}

// score sets the score of each feasible candidate (in start order):
//
//	score = w.Traffic * log2((traffic + e) / (quietest + e)) + w.Failure * failureShare + w.Wait * waited / budget
//
// where waited is the time past the earliest feasible start, quietest the
// lowest expected traffic of the starts within the wait budget, and e 1%
// of the weekly peak (so that hours of no traffic compare finitely). A
// start past the budget is ranked after every start within it, earliest
// first: it is only an alternative.
func score(feasible []scored, w Weights, peak float64) {
	if len(feasible) == 0 {
		return
	}
	earliest := feasible[0].Start
	within := func(c *scored) bool { return c.Start.Sub(earliest) <= w.WaitBudget }
	eps := math.Max(0.01*peak, 1e-9)
	quietest := math.Inf(1)
	for i := range feasible {
		if within(&feasible[i]) {
			quietest = math.Min(quietest, feasible[i].Traffic)
		}
	}
	for i := range feasible {
		c := &feasible[i]
		waited := c.Start.Sub(earliest)
		c.Score = w.Traffic*math.Log2((c.Traffic+eps)/(quietest+eps)) + w.Failure*c.FailureShare
		switch {
		case !within(c):
			c.Score += beyondBudget + waited.Hours()
		case w.WaitBudget > 0:
			c.Score += w.Wait * float64(waited) / float64(w.WaitBudget)
		}
	}
}

// beyondBudget ranks starts past the wait budget after all others.
const beyondBudget = 1000

// compareScored orders by score, then by start: ties go to the earlier.
func compareScored(a, b scored) int {
	if a.Score != b.Score {
		if a.Score < b.Score {
			return -1
		}
		return 1
	}
	return a.Start.Compare(b.Start)
}

// pickDistinct takes up to n candidates from ranked (best first): first
// the best of each run of consecutive allowed slots, so alternatives are
// genuinely different times, then, if runs are too few, further
// candidates that do not overlap any already taken.
func pickDistinct(ranked []scored, n int) []scored {
	var picks []scored
	usedRun := map[int]bool{}
	overlaps := func(c scored) bool {
		return slices.ContainsFunc(picks, func(p scored) bool {
			return c.Start.Before(p.End) && p.Start.Before(c.End)
		})
	}
	for pass := 0; pass < 2 && len(picks) < n; pass++ {
		for _, c := range ranked {
			if len(picks) == n {
				break
			}
			if (pass == 0 && usedRun[c.run]) || overlaps(c) {
				continue
			}
			usedRun[c.run] = true
			picks = append(picks, c)
		}
	}
	return picks
}

func (r *Rejected) count(v Verdict, ex *expanded, iv calendar.Interval, byReason map[string]*ReasonCount) {
	switch v.Constraint {
	case ConstraintWindow:
		r.Window++
	case ConstraintBlackout, ConstraintHoliday:
		if v.Constraint == ConstraintBlackout {
			r.Blackout++
		} else {
			r.Calendar++
		}
		for _, b := range ex.blocks {
			if b.kind == v.Constraint && b.Overlaps(iv) {
				key := string(b.kind) + "\x00" + b.reason
				if byReason[key] == nil {
					byReason[key] = &ReasonCount{Constraint: b.kind, Reason: b.reason}
				}
				byReason[key].Count++
				break
			}
		}
	case ConstraintOnCall:
		r.OnCall++
	}
}

func sortedReasons(m map[string]*ReasonCount) []ReasonCount {
	var out []ReasonCount
	for _, rc := range m {
		out = append(out, *rc)
	}
	slices.SortFunc(out, func(a, b ReasonCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		if a.Constraint != b.Constraint {
			if a.Constraint < b.Constraint {
				return -1
			}
			return 1
		}
		if a.Reason < b.Reason {
			return -1
		}
		if a.Reason > b.Reason {
			return 1
		}
		return 0
	})
	return out
}

// ceilToSlot returns the first start at or after now that is a whole
// number of slots after local midnight.
func ceilToSlot(now time.Time, slot time.Duration, loc *time.Location) time.Time {
	lt := now.In(loc)
	y, m, d := lt.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, loc)
	k := (now.Sub(midnight) + slot - 1) / slot
	return midnight.Add(k * slot)
}

// mean is the profile's time-weighted mean over iv, and whether any hour
// in it was estimated. An empty profile gives 0.
func (p *Profile) mean(iv calendar.Interval, loc *time.Location) (float64, bool) {
	if p.Empty() || !iv.End.After(iv.Start) {
		return 0, false
	}
	var sum float64
	estimated := false
	for t := iv.Start; t.Before(iv.End); {
		next := nextLocalHour(t, loc)
		if next.After(iv.End) {
			next = iv.End
		}
		h := p.Hours[HourOfWeek(t, loc)]
		sum += h.Value * next.Sub(t).Seconds()
		estimated = estimated || h.Estimated
		t = next
	}
	return sum / iv.Duration().Seconds(), estimated
}

// nextLocalHour is the next full hour of local wall-clock time after t.
func nextLocalHour(t time.Time, loc *time.Location) time.Time {
	_, off := t.In(loc).Zone()
	u := t.Unix() + int64(off)
	return time.Unix((u/3600+1)*3600-int64(off), 0).In(t.Location())
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
