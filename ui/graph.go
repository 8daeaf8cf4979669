package ui

import (
	"fmt"

	"github.com/sluicehq/sluice/state"
)

// Graph is a train's dependency graph laid out in columns: one column per
// level of the train's order (a member's dependencies are all in earlier
// columns), edges from a dependency to the member that waits for it.
type Graph struct {
	Width, Height float64
	Nodes         []GraphNode
	Edges         []GraphEdge
}

// GraphNode is one member's box.
type GraphNode struct {
	Name, Service, Text string
	Class               string
	Href                string
	X, Y, W, H          float64
	Level               int
}

// GraphEdge is one dependency, as an SVG path.
type GraphEdge struct {
	From, To, Path string
}

const (
	nodeW, nodeH = 190.0, 58.0
	colGap       = 70.0
	rowGap       = 22.0
	graphPad     = 12.0
)

// LayoutGraph places a train's members; rows holds each member's release
// (by member name) when it exists.
func LayoutGraph(ts *state.TrainStatus, rows map[string]*ReleaseRow) Graph {
	g := Graph{}
	at := map[string]*GraphNode{}
	member := map[string]state.TrainMemberStatus{}
	for _, m := range ts.Members {
		member[m.Name] = m
	}
	maxRows := 0
	for col, names := range ts.Levels {
		maxRows = max(maxRows, len(names))
		for row, name := range names {
			m := member[name]
			n := GraphNode{Name: name, Service: m.Service, Level: col, W: nodeW, H: nodeH,
				X: graphPad + float64(col)*(nodeW+colGap), Y: graphPad + float64(row)*(nodeH+rowGap), Class: "info"}
			n.Text, n.Class = memberText(m, rows[name])
			if r := rows[name]; r != nil {
				n.Href = r.Href
			}
			g.Nodes = append(g.Nodes, n)
		}
	}
	for i := range g.Nodes {
		at[g.Nodes[i].Name] = &g.Nodes[i]
	}
	for _, m := range ts.Members {
		to := at[m.Name]
		for _, dep := range m.Deps {
			from := at[dep]
			if from == nil || to == nil {
				continue
			}
			x1, y1 := from.X+from.W, from.Y+from.H/2
			x2, y2 := to.X, to.Y+to.H/2
			mid := (x1 + x2) / 2
			g.Edges = append(g.Edges, GraphEdge{From: dep, To: m.Name,
				Path: fmt.Sprintf("M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f", x1, y1, mid, y1, mid, y2, x2-6, y2)})
		}
	}
	g.Width = 2*graphPad + float64(len(ts.Levels))*(nodeW+colGap) - colGap
	g.Height = 2*graphPad + float64(maxRows)*(nodeH+rowGap) - rowGap
	if len(ts.Levels) == 0 {
		g.Width, g.Height = 2*graphPad, 2*graphPad
	}
	return g
}

// memberText is the second line of a member's box and its colour.
func memberText(m state.TrainMemberStatus, r *ReleaseRow) (string, string) {
	switch {
	case r == nil:
		return "no release", "info"
	case m.Unwound && r.Phase.Terminal():
		return fmt.Sprintf("%s (unwound)", r.Phase), phaseClass(r.Phase)
	case !m.Cleared && r.Phase.Waiting():
		if m.Health.Attempts > 0 && !m.Health.Passed {
			return fmt.Sprintf("health check: %d attempt(s)", m.Health.Attempts), "hold"
		}
		return "waiting for dependencies", "info"
	case r.Phase == state.PhaseProgressing || r.Phase == state.PhasePaused:
		return fmt.Sprintf("%s step %s at %d%%", r.Phase, stepText(r.Step, r.Steps), r.Weight), phaseClass(r.Phase)
	}
	return string(r.Phase), phaseClass(r.Phase)
}
