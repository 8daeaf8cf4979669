package ui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/state"
)

// Plot is a Timeline laid out in SVG user units: every coordinate the
// template writes is computed here, so the template only prints.
type Plot struct {
	Width, Height float64
	Left, Right   float64
	// InnerW is Right-Left; MarkTop and MarkBottom span the decision
	// markers (MarkH apart).
	InnerW                     float64
	MarkTop, MarkBottom, MarkH float64
	Panels                     []Panel
	Markers                    []MarkerView
	XTicks                     []Tick
	Notes                      []string
}

// Panel is one horizontal band of the plot with its own y scale.
type Panel struct {
	ID, Title      string
	Top, Bottom, H float64
	YTicks         []Tick
	Lines          []Line
	Points         []PointView
	Legend         []LegendItem
	Empty          string
}

// LegendItem names one line of a panel.
type LegendItem struct {
	Name, Color string
	X, X2, Y    float64
	Dashed      bool
}

// Line is one polyline (a series, or a threshold when Dashed); Label is
// its name in the legend.
type Line struct {
	Name, Label, Color, Points string
	Dashed                     bool
}

// PointView is one plotted value; the data-* attributes carry the value and
// the decision it comes from, so a reader (or a test) can check the plot
// against the record.
type PointView struct {
	Series, Color string
	X, Y, V       float64
	T             time.Time
	Seq           int
}

// MarkerView is one decision drawn across every panel.
type MarkerView struct {
	Marker
	X, HitX float64
	Class   string
	Title   string
}

// Tick is one axis label.
type Tick struct {
	Pos   float64
	Label string
}

// Layout constants, in SVG user units (the SVG scales to its box).
const (
	plotWidth   = 960
	plotLeft    = 64
	plotRight   = 24
	panelGap    = 44
	plotTop     = 36
	legendStep  = 120
	weightH     = 150
	burnH       = 150
	rateH       = 110
	xAxisHeight = 28
)

// Colours of the roles and of other series.
const (
	colourCanary = "#e8590c"
	colourStable = "#1c7ed6"
)

// paletteColour is the i-th colour for series that are neither role.
func paletteColour(i int) string {
	p := [...]string{"#c2255c", "#7048e8", "#0ca678", "#f08c00", "#495057"}
	return p[i%len(p)]
}

// Layout places a timeline in a plot.
func Layout(tl Timeline) Plot {
	p := Plot{Width: plotWidth, Left: plotLeft, Right: plotWidth - plotRight, Notes: tl.Notes}
	x := p.xScale(tl.Start, tl.End)
	y := float64(plotTop)
	add := func(id, title string, h float64, build func(*Panel)) {
		pn := Panel{ID: id, Title: title, Top: y, Bottom: y + h, H: h}
		build(&pn)
		p.Panels = append(p.Panels, pn)
		y += h + panelGap
	}

	add("weight", "Traffic on the new version (%)", weightH, func(pn *Panel) {
		ys := yScale(pn, 0, 100, "%")
		var pts []string
		for i, pt := range tl.Weight {
			if i > 0 {
				pts = append(pts, coord(x(pt.T), ys(tl.Weight[i-1].V)))
			}
			pts = append(pts, coord(x(pt.T), ys(pt.V)))
			if pt.Seq > 0 {
				pn.Points = append(pn.Points, PointView{Series: "weight", Color: colourCanary, X: x(pt.T), Y: ys(pt.V), V: pt.V, T: pt.T, Seq: pt.Seq})
			}
		}
		pn.Lines = append(pn.Lines, Line{Name: "weight", Label: "new version", Color: colourCanary, Points: strings.Join(pts, " ")})
	})
	add("burn", "Canary burn rate per window", burnH, func(pn *Panel) {
		seriesPanel(pn, tl.Burn, x, "×", "no burn-rate measurements recorded yet")
	})
	add("requests", fmt.Sprintf("Requests per second over %s, canary vs stable", tl.RateWindow), rateH, func(pn *Panel) {
		seriesPanel(pn, tl.Requests, x, "/s", "no request counts recorded yet")
	})
	add("errors", fmt.Sprintf("Error ratio over %s (%%), canary vs stable", tl.RateWindow), rateH, func(pn *Panel) {
		seriesPanel(pn, tl.Errors, x, "%", "no error ratios recorded yet")
	})

	for _, m := range tl.Markers {
		p.Markers = append(p.Markers, MarkerView{Marker: m, X: x(m.T), HitX: x(m.T) - 3, Class: markerClass(m), Title: strings.Join(m.Lines, "\n")})
	}
	for i := 0; i <= 4; i++ {
		t := tl.Start.Add(time.Duration(float64(tl.End.Sub(tl.Start)) * float64(i) / 4))
		p.XTicks = append(p.XTicks, Tick{Pos: x(t), Label: t.UTC().Format("15:04:05")})
	}
	for i := range p.Panels {
		legend(&p.Panels[i])
	}
	p.MarkTop, p.MarkBottom = p.Panels[0].Top-6, p.Panels[len(p.Panels)-1].Bottom
	p.MarkH, p.InnerW = p.MarkBottom-p.MarkTop, p.Right-p.Left
	p.Height = p.MarkBottom + xAxisHeight
	return p
}

// seriesPanel draws series (and their thresholds) on a shared y scale.
func seriesPanel(pn *Panel, series []Series, x func(time.Time) float64, unit, empty string) {
	hi := 0.0
	for _, s := range series {
		for _, pt := range s.Points {
			hi = math.Max(hi, pt.V)
		}
		if s.Threshold != nil {
			hi = math.Max(hi, *s.Threshold)
		}
	}
	if hi <= 0 {
		hi = 1
	}
	ys := yScale(pn, 0, hi*1.15, unit)
	if len(series) == 0 {
		pn.Empty = empty
	}
	for i, s := range series {
		c := seriesColour(s.Role, i)
		var pts []string
		for _, pt := range s.Points {
			pts = append(pts, coord(x(pt.T), ys(pt.V)))
			pn.Points = append(pn.Points, PointView{Series: s.Name, Color: c, X: x(pt.T), Y: ys(pt.V), V: pt.V, T: pt.T, Seq: pt.Seq})
		}
		pn.Lines = append(pn.Lines, Line{Name: s.Name, Label: s.Name, Color: c, Points: strings.Join(pts, " ")})
		if s.Threshold != nil {
			ty := ys(*s.Threshold)
			pn.Lines = append(pn.Lines, Line{Name: s.Name + " threshold " + FormatNumber(*s.Threshold), Label: "limit " + FormatNumber(*s.Threshold), Color: c, Dashed: true,
				Points: coord(float64(plotLeft), ty) + " " + coord(plotWidth-plotRight, ty)})
		}
	}
}

// legend lays out the names of a panel's lines, right-aligned above it.
// Equal labels (one limit shared by two windows) appear once.
func legend(pn *Panel) {
	seen := map[string]bool{}
	var lines []Line
	for _, l := range pn.Lines {
		if !seen[l.Label] {
			seen[l.Label] = true
			lines = append(lines, l)
		}
	}
	x := plotWidth - plotRight - float64(len(lines))*legendStep
	for _, l := range lines {
		pn.Legend = append(pn.Legend, LegendItem{Name: l.Label, Color: l.Color, X: x, X2: x + 18, Y: pn.Top - 20, Dashed: l.Dashed})
		x += legendStep
	}
}

func seriesColour(role analysis.Role, i int) string {
	switch role {
	case analysis.RoleCanary:
		if i == 0 {
			return colourCanary
		}
	case analysis.RoleStable:
		return colourStable
	}
	return paletteColour(i)
}

// markerClass colours a decision by what it did.
func markerClass(m Marker) string {
	switch {
	case m.Action == state.DecisionRollback || m.Action == state.DecisionAbort || m.Verdict == analysis.PhaseFailed:
		return "bad"
	case m.Action == state.DecisionPromote || m.Action == state.DecisionAdvance || m.Action == state.DecisionStart:
		return "good"
	case m.Action == state.DecisionApprove || m.Action == state.DecisionPause || m.Action == state.DecisionResume:
		return "person"
	case m.Verdict == analysis.PhaseError || m.Verdict == analysis.PhaseInconclusive || m.Action == state.DecisionHold || m.Webhook == state.WebhookHeld:
		return "hold"
	case m.Action == state.DecisionWebhook && m.Webhook == state.WebhookPassed:
		return "good"
	}
	return "info"
}

func (p *Plot) xScale(start, end time.Time) func(time.Time) float64 {
	span := float64(end.Sub(start))
	return func(t time.Time) float64 {
		f := float64(t.Sub(start)) / span
		return round1(p.Left + math.Max(0, math.Min(1, f))*(p.Right-p.Left))
	}
}

// yScale maps [lo, hi] onto the panel (top is hi) and writes its ticks.
func yScale(pn *Panel, lo, hi float64, unit string) func(float64) float64 {
	top, bottom := pn.Top, pn.Bottom
	f := func(v float64) float64 {
		return round1(bottom - (v-lo)/(hi-lo)*(bottom-top))
	}
	for i := 0; i <= 2; i++ {
		v := lo + (hi-lo)*float64(i)/2
		pn.YTicks = append(pn.YTicks, Tick{Pos: f(v), Label: FormatNumber(roundTick(v)) + unit})
	}
	return f
}

func roundTick(v float64) float64 {
	if v >= 10 {
		return math.Round(v)
	}
	return math.Round(v*100) / 100
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

func coord(x, y float64) string { return fmt.Sprintf("%.1f,%.1f", x, y) }
