package ui

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// Timeline is everything a release's plot shows, derived only from the
// release's replicated record: its status and its decisions with their
// verdicts. It holds values, not pixels; layout happens in plot.go.
type Timeline struct {
	Start, End time.Time
	// Weight is the new version's share after each decision, a step
	// function: the first point is the creation at 0 %, the last repeats
	// the final weight at End.
	Weight []Point
	// Markers are the decisions, one each.
	Markers []Marker
	// Burn is one series per burn rule and window (canary burn rate),
	// each with the rule's threshold.
	Burn []Series
	// Requests and Errors compare canary and stable over RateWindow:
	// requests per second and error ratio in percent.
	Requests, Errors []Series
	RateWindow       time.Duration
	// Notes say what the record could not show.
	Notes []string
}

// Point is one value at one time. Seq is the decision it comes from (0
// for the synthetic start and end points of the weight series).
type Point struct {
	T   time.Time
	V   float64
	Seq int
}

// Series is a named line; Threshold (burn rules) is drawn as a limit.
type Series struct {
	Name      string
	Role      analysis.Role
	Threshold *float64
	Points    []Point
}

// Marker is one decision on the time axis.
type Marker struct {
	Seq    int
	T      time.Time
	Action state.DecisionKind
	Actor  string
	Phase  state.Phase
	Step   int
	Weight uint32
	// Verdict is the analysis phase behind the decision, if any.
	Verdict analysis.Phase
	// Webhook is the outcome of the webhook calls behind it, if any.
	Webhook state.WebhookOutcome
	// Lines are the tooltip: the message, the verdict's reason and every
	// check with its observed values and thresholds.
	Lines []string
}

// maxTooltipLines bounds one marker's tooltip; the full record is in the
// decision table and the API.
const maxTooltipLines = 24

// BuildTimeline derives the plot of a release. now ends the time axis of a
// release that has not ended. It is pure.
func BuildTimeline(r *state.Release, now time.Time) Timeline {
	rs := &r.Status
	tl := Timeline{Start: rs.CreatedAt, End: now}
	if !rs.EndedAt.IsZero() {
		tl.End = rs.EndedAt
	}
	if len(rs.Decisions) > 0 {
		if first := rs.Decisions[0].Time; tl.Start.IsZero() || first.Before(tl.Start) {
			tl.Start = first
		}
		if last := rs.Decisions[len(rs.Decisions)-1].Time; last.After(tl.End) {
			tl.End = last
		}
	}
	if !tl.End.After(tl.Start) {
		tl.End = tl.Start.Add(time.Second)
	}
	spec := config.PolicyDefaults(&rs.PolicySpec)
	if spec.Analysis != nil && spec.Analysis.Baseline != nil {
		tl.RateWindow = spec.Analysis.Baseline.Window.D()
	}

	tl.Weight = append(tl.Weight, Point{T: tl.Start, V: 0})
	burn := newSeriesSet()
	rates := newSeriesSet()
	errs := newSeriesSet()
	bad := 0
	for _, d := range rs.Decisions {
		tl.Weight = append(tl.Weight, Point{T: d.Time, V: float64(d.Weight), Seq: d.Seq})
		m := Marker{Seq: d.Seq, T: d.Time, Action: d.Action, Actor: d.Actor, Phase: d.Phase, Step: d.Step, Weight: d.Weight}
		m.Lines = append(m.Lines, fmt.Sprintf("#%d %s by %s at %s", d.Seq, d.Action, d.Actor, d.Time.UTC().Format(time.RFC3339)))
		if d.Message != "" {
			m.Lines = append(m.Lines, d.Message)
		}
		if len(d.Verdict) > 0 {
			var v analysis.Verdict
			if err := json.Unmarshal(d.Verdict, &v); err != nil {
				bad++
			} else {
				m.Verdict = v.Phase
				m.Lines = append(m.Lines, verdictLines(v)...)
				at := d.Time
				if !v.Time.IsZero() {
					at = v.Time
				}
				addBurn(burn, v, at, d.Seq)
				addRates(rates, errs, v, tl.RateWindow, at, d.Seq)
			}
		}
		if w := d.Webhooks; w != nil {
			m.Webhook = w.Outcome
			m.Lines = append(m.Lines, webhookLines(*w)...)
		}
		if len(m.Lines) > maxTooltipLines {
			m.Lines = append(m.Lines[:maxTooltipLines-1], fmt.Sprintf("… %d more lines (see the decision table)", len(m.Lines)-maxTooltipLines+1))
		}
		tl.Markers = append(tl.Markers, m)
	}
	last := tl.Weight[len(tl.Weight)-1]
	tl.Weight = append(tl.Weight, Point{T: tl.End, V: last.V})
	tl.Burn, tl.Requests, tl.Errors = burn.list(), rates.list(), errs.list()

	if bad > 0 {
		tl.Notes = append(tl.Notes, fmt.Sprintf("%d recorded verdict(s) could not be read and are not plotted", bad))
	}
	return tl
}

// webhookLines are the tooltip lines of webhook calls: what was sent
// where, and what came back.
func webhookLines(w state.WebhookRecord) []string {
	out := []string{fmt.Sprintf("%s webhooks: %s", w.Type, w.Outcome)}
	for _, c := range w.Calls {
		answer := fmt.Sprintf("HTTP %d", c.Status)
		if c.Error != "" && c.Error != state.WebhookErrStatus {
			answer = fmt.Sprintf("no answer (%s: %s)", c.Error, c.Detail)
		}
		line := fmt.Sprintf("webhook %s: POST %s (step %d, %d%%, %d bytes) -> %s in %s", c.Name, c.URL, c.Step+1, c.Weight, c.BodyBytes, answer, c.Latency.D())
		if c.Body != "" {
			line += ": " + c.Body
		}
		out = append(out, line)
	}
	return out
}

// verdictLines are the tooltip lines of one verdict.
func verdictLines(v analysis.Verdict) []string {
	out := []string{fmt.Sprintf("verdict %s: %s", v.Phase, v.Reason)}
	for _, c := range v.Checks {
		line := fmt.Sprintf("%s %s: %s", c.Kind, c.Name, c.Result)
		var obs []string
		for _, o := range c.Observations {
			obs = append(obs, observationText(o))
		}
		if len(obs) > 0 {
			line += " (" + strings.Join(obs, "; ") + ")"
		}
		out = append(out, line)
	}
	return out
}

func observationText(o analysis.Observation) string {
	s := fmt.Sprintf("%s %s %s", o.Role, o.Window.D(), o.Observed)
	if o.Value == nil {
		return s + " " + string(o.Outcome)
	}
	s += " " + FormatNumber(*o.Value)
	if o.Threshold != nil {
		s += " vs " + FormatNumber(*o.Threshold)
	}
	return s
}

// addBurn adds the canary burn-rate observations of a verdict's burn rules.
func addBurn(set *seriesSet, v analysis.Verdict, at time.Time, seq int) {
	for _, c := range v.Checks {
		if c.Kind != analysis.CheckBurnRule {
			continue
		}
		for _, o := range c.Observations {
			if o.Observed != analysis.ObservedBurnRate || o.Value == nil || !finite(*o.Value) {
				continue
			}
			s := set.get(fmt.Sprintf("%s %s", c.Name, o.Window.D()), o.Role)
			if o.Threshold != nil && s.Threshold == nil {
				th := *o.Threshold
				s.Threshold = &th
			}
			s.Points = append(s.Points, Point{T: at, V: *o.Value, Seq: seq})
		}
	}
}

// addRates adds requests per second and the error ratio (percent) of each
// role over the window w, from the verdict's measurements.
func addRates(rates, errs *seriesSet, v analysis.Verdict, w time.Duration, at time.Time, seq int) {
	if w <= 0 {
		return
	}
	type side struct {
		requests, total, good, ratio *float64
	}
	sides := map[analysis.Role]*side{}
	for _, m := range v.Measurements {
		if m.Window.D() != w || m.Outcome != analysis.OutcomeValue || m.Value == nil || !finite(*m.Value) {
			continue
		}
		sd := sides[m.Role]
		if sd == nil {
			sd = &side{}
			sides[m.Role] = sd
		}
		val := *m.Value
		switch m.Quantity {
		case analysis.QuantityRequests:
			sd.requests = &val
		case analysis.QuantityTotal:
			sd.total = &val
		case analysis.QuantityGood:
			sd.good = &val
		case analysis.QuantityErrorRatio:
			sd.ratio = &val
		}
	}
	for _, role := range []analysis.Role{analysis.RoleCanary, analysis.RoleStable} {
		sd := sides[role]
		if sd == nil {
			continue
		}
		count := sd.requests
		if count == nil {
			count = sd.total
		}
		if count != nil {
			s := rates.get(string(role), role)
			s.Points = append(s.Points, Point{T: at, V: *count / w.Seconds(), Seq: seq})
		}
		ratio := sd.ratio
		if ratio == nil && sd.good != nil && sd.total != nil && *sd.total > 0 {
			r := 1 - *sd.good / *sd.total
			ratio = &r
		}
		if ratio != nil {
			s := errs.get(string(role), role)
			s.Points = append(s.Points, Point{T: at, V: *ratio * 100, Seq: seq})
		}
	}
}

// seriesSet collects series by name in first-seen order.
type seriesSet struct {
	order  []string
	byName map[string]*Series
}

func newSeriesSet() *seriesSet { return &seriesSet{byName: map[string]*Series{}} }

func (s *seriesSet) get(name string, role analysis.Role) *Series {
	if x, ok := s.byName[name]; ok {
		return x
	}
	x := &Series{Name: name, Role: role}
	s.byName[name] = x
	s.order = append(s.order, name)
	return x
}

func (s *seriesSet) list() []Series {
	out := make([]Series, 0, len(s.order))
	for _, n := range s.order {
		out = append(out, *s.byName[n])
	}
	return out
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// FormatNumber prints a measured value compactly: whole numbers without
// decimals, small ones with three significant digits.
func FormatNumber(f float64) string {
	switch {
	case !finite(f):
		return fmt.Sprint(f)
	case f == math.Trunc(f) && math.Abs(f) < 1e15:
		return fmt.Sprintf("%.0f", f)
	case math.Abs(f) >= 100:
		return fmt.Sprintf("%.1f", f)
	}
	return fmt.Sprintf("%.3g", f)
}
