package ui

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"time"

	"github.com/sluicehq/sluice/analysis/risk"
	"github.com/sluicehq/sluice/analysis/window"
	"github.com/sluicehq/sluice/state"
)

// The view models below are built from the replicated state only. Each is
// what one template renders; no template reaches into state itself.

// Overview is the home page: every release and train.
type Overview struct {
	Index    uint64
	Releases []ReleaseRow
	Trains   []TrainRow
}

// ReleaseRow is one release in a list.
type ReleaseRow struct {
	Name, Service, From, To string
	Phase                   state.Phase
	Step, Steps             int
	Weight                  uint32
	Holding, Reason, Train  string
	Href                    string
}

// TrainRow is one train in a list.
type TrainRow struct {
	Name         string
	Phase        state.TrainPhase
	Members      int
	FailedMember string
	Reason       string
	Href         string
}

func releaseHref(name string) string { return "/ui/releases/" + url.PathEscape(name) }
func trainHref(name string) string   { return "/ui/trains/" + url.PathEscape(name) }

// BuildOverview lists every release (newest first) and train.
func BuildOverview(st *state.State) Overview {
	o := Overview{Index: st.Index}
	for _, n := range st.ReleaseNames() {
		o.Releases = append(o.Releases, releaseRow(st.Releases[n]))
	}
	sort.SliceStable(o.Releases, func(i, j int) bool {
		a, b := st.Releases[o.Releases[i].Name], st.Releases[o.Releases[j].Name]
		if at, bt := a.Status.Phase.Terminal(), b.Status.Phase.Terminal(); at != bt {
			return !at
		}
		return a.Status.CreatedAt.After(b.Status.CreatedAt)
	})
	for _, n := range st.TrainNames() {
		t := st.Trains[n]
		o.Trains = append(o.Trains, TrainRow{Name: n, Phase: t.Status.Phase, Members: len(t.Status.Members),
			FailedMember: t.Status.FailedMember, Reason: t.Status.Reason, Href: trainHref(n)})
	}
	return o
}

func releaseRow(r *state.Release) ReleaseRow {
	return ReleaseRow{Name: r.Name(), Service: r.Service(), From: r.Status.From, To: r.Spec.Spec.To,
		Phase: r.Status.Phase, Step: r.Status.Step + 1, Steps: len(r.Status.Plan), Weight: r.Status.Weight,
		Holding: holdText(r), Reason: r.Status.Reason, Train: r.Status.Train, Href: releaseHref(r.Name())}
}

// ReleasePage is one release: its plot, plan, risk, window and record.
type ReleasePage struct {
	ReleaseRow
	Plan   []PlanRow
	Plot   Plot
	Risk   *RiskView
	Window WindowView
	// Decisions are the latest maxDecisionRows, newest first; Older is set
	// when the record holds more (Total).
	Decisions []DecisionRow
	Older     bool
	Total     int
	Approvals []state.Approval
	Actions   []ActionButton
	// WaitsForPerson is set when only an approval moves the release on.
	WaitsForPerson bool
	TrainHref      string
	Created, Ended time.Time
}

// PlanRow is one planned step.
type PlanRow struct {
	N      int
	Weight uint32
	Cohort string
	// Mirror is the share of requests a mirror step copies (0 otherwise).
	Mirror  uint32
	Bake    time.Duration
	Current bool
	// Approval: a person must approve this step before it starts.
	Approval bool
}

// RiskView is the release's risk score and its explanation.
type RiskView struct {
	Level         state.RiskLevel
	Probability   float64
	ModelVersion  string
	PlanSource    string
	Reasons       []string
	Contributions []risk.Contribution
	Missing       []string
	ApprovalSteps []int
	Touched       []string
}

// WindowView says how the start time was chosen.
type WindowView struct {
	// Mode is the status' window: "in-window", "scheduled", "start-now"
	// or "" (no schedule).
	Mode        string
	ScheduledAt time.Time
	// Decision is the message of the decision that started or scheduled
	// the release: it carries the reason in words.
	Decision string
	Best     *window.Candidate
	Others   []window.Candidate
	Notes    []string
}

// DecisionRow is one decision of the record.
type DecisionRow struct {
	state.Decision
	Lines []string
}

// ActionButton is one manual action the page offers. The API decides who
// may do what: the console enables the buttons once a token is entered and
// shows the API's error text when it refuses.
type ActionButton struct {
	Action, Label, URL string
	Primary            bool
}

// releaseActions are the manual actions of a running release's page, in
// order: the API verb of POST /v1/releases/{name}/{verb} and its label.
func releaseActions() []actionSpec {
	return []actionSpec{
		{"approve", "Approve"},
		{"pause", "Pause"},
		{"resume", "Resume"},
		{"promote", "Promote"},
		{"rollback", "Roll back"},
	}
}

// actionSpec is one manual action: its API verb and its button's label.
type actionSpec struct {
	verb  string
	label string
}

// maxDecisionRows bounds the decision table of a release page; the
// timeline still shows every decision.
const maxDecisionRows = 100

// BuildReleasePage derives the release page; now ends the plot's time axis
// of a release still running.
func BuildReleasePage(st *state.State, r *state.Release, now time.Time) ReleasePage {
	rs := &r.Status
	p := ReleasePage{ReleaseRow: releaseRow(r), Approvals: rs.Approvals, Created: rs.CreatedAt, Ended: rs.EndedAt}
	if rs.Train != "" {
		if _, ok := st.Trains[rs.Train]; ok {
			p.TrainHref = trainHref(rs.Train)
		}
	}
	for i, s := range rs.Plan {
		p.Plan = append(p.Plan, PlanRow{N: i + 1, Weight: r.StepWeight(i), Cohort: s.Cohort, Mirror: s.Mirror, Bake: s.Bake.D(), Current: i == rs.Step, Approval: r.NeedsApproval(i)})
	}
	p.Plot = Layout(BuildTimeline(r, now))
	p.Risk = riskView(rs.Assessment)
	p.Window = windowView(r)
	p.Total = len(rs.Decisions)
	for i := len(rs.Decisions) - 1; i >= 0 && len(p.Decisions) < maxDecisionRows; i-- {
		d := rs.Decisions[i]
		// The timeline has one marker per decision, in the same order.
		p.Decisions = append(p.Decisions, DecisionRow{Decision: d, Lines: p.Plot.Markers[i].Lines})
	}
	p.Older = len(p.Decisions) < p.Total
	p.WaitsForPerson = rs.Phase == state.PhaseAwaitingApproval || rs.Phase == state.PhaseScheduled || r.WaitsForStepApproval()
	if !rs.Phase.Terminal() {
		for _, a := range releaseActions() {
			p.Actions = append(p.Actions, ActionButton{Action: a.verb, Label: a.label,
				URL:     "/v1/releases/" + url.PathEscape(r.Name()) + "/" + a.verb,
				Primary: a.verb == "approve" && p.WaitsForPerson})
		}
	}
	if undoable(st, r) {
		// Undo is the service's: a new, analysed release back to the
		// version this one replaced (POST /v1/services/{name}/undo).
		p.Actions = append(p.Actions, ActionButton{Action: "undo", Label: "Undo",
			URL: "/v1/services/" + url.PathEscape(r.Service()) + "/undo"})
	}
	return p
}

// undoable says whether r is the promotion an undo of its service would
// revert: it was promoted and no release of the service runs now.
func undoable(st *state.State, r *state.Release) bool {
	if r.Status.Phase != state.PhasePromoted {
		return false
	}
	_, busy := st.ActiveRelease(r.Service())
	return !busy
}

func riskView(a *state.Assessment) *RiskView {
	if a == nil {
		return nil
	}
	v := &RiskView{Level: a.Level, Probability: a.Probability, ModelVersion: a.ModelVersion, PlanSource: a.PlanSource,
		Reasons: a.Reasons, ApprovalSteps: oneBased(a.ApprovalSteps), Touched: a.ServicesTouched}
	var sc risk.Score
	if len(a.Score) > 0 && json.Unmarshal(a.Score, &sc) == nil {
		v.Contributions, v.Missing = sc.Contributions, sc.Missing
	}
	return v
}

func oneBased(steps []int) []int {
	out := make([]int, len(steps))
	for i, s := range steps {
		out[i] = s + 1
	}
	return out
}

// windowView finds the decision that started or scheduled the release
// and, for a scheduled one, the optimizer's suggestion behind it.
func windowView(r *state.Release) WindowView {
	rs := &r.Status
	w := WindowView{Mode: string(rs.Window), ScheduledAt: rs.ScheduledAt}
	for _, d := range rs.Decisions {
		if d.Action == state.DecisionStart || d.Action == state.DecisionSchedule || d.Action == state.DecisionAwait {
			w.Decision = d.Message
		}
	}
	var s window.Suggestion
	if len(rs.Schedule) > 0 && json.Unmarshal(rs.Schedule, &s) == nil && !s.Best.Start.IsZero() {
		w.Best, w.Others, w.Notes = &s.Best, s.Alternatives, s.Notes
	}
	return w
}

// TrainPage is one train: its dependency graph and members.
type TrainPage struct {
	TrainRow
	Requires   int
	Lockstep   bool
	Graph      Graph
	MemberRows []MemberRow
	Actions    []ActionButton
}

// MemberRow is one member of a train and its release.
type MemberRow struct {
	state.TrainMemberStatus
	Release *ReleaseRow
}

// trainActions are the manual actions of a train page.
func trainActions() []actionSpec {
	return []actionSpec{{"pause", "Pause"}, {"resume", "Resume"}, {"rollback", "Roll back"}}
}

// BuildTrainPage derives the train page.
func BuildTrainPage(st *state.State, t *state.Train) TrainPage {
	ts := &t.Status
	p := TrainPage{TrainRow: TrainRow{Name: t.Name(), Phase: ts.Phase, Members: len(ts.Members), FailedMember: ts.FailedMember, Reason: ts.Reason, Href: trainHref(t.Name())},
		Requires: ts.Requires, Lockstep: ts.Lockstep}
	rows := map[string]*ReleaseRow{}
	for _, m := range ts.Members {
		mr := MemberRow{TrainMemberStatus: m}
		if r, ok := st.Releases[m.Release]; ok {
			row := releaseRow(r)
			mr.Release = &row
			rows[m.Name] = &row
		}
		p.MemberRows = append(p.MemberRows, mr)
	}
	sort.SliceStable(p.MemberRows, func(i, j int) bool { return p.MemberRows[i].Level < p.MemberRows[j].Level })
	p.Graph = LayoutGraph(ts, rows)
	if !ts.Phase.Terminal() {
		for _, a := range trainActions() {
			p.Actions = append(p.Actions, ActionButton{Action: a.verb, Label: a.label,
				URL: "/v1/trains/" + url.PathEscape(t.Name()) + "/" + a.verb})
		}
	}
	return p
}

// phaseClass is the CSS class of a release phase.
func phaseClass(p state.Phase) string {
	switch p {
	case state.PhasePromoted:
		return "good"
	case state.PhaseRolledBack, state.PhaseAborted, state.PhaseRollingBack:
		return "bad"
	case state.PhaseProgressing:
		return "live"
	case state.PhasePaused, state.PhaseAwaitingApproval, state.PhaseScheduled:
		return "hold"
	}
	return "info"
}

// trainPhaseClass is the CSS class of a train phase.
func trainPhaseClass(p state.TrainPhase) string {
	switch p {
	case state.TrainPromoted:
		return "good"
	case state.TrainRolledBack, state.TrainAborted, state.TrainRollingBack:
		return "bad"
	case state.TrainProgressing:
		return "live"
	case state.TrainPaused:
		return "hold"
	}
	return "info"
}

// stepNo is a recorded plan index as people count steps: 1-based, "–"
// before the first step.
func stepNo(i int) string {
	if i < 0 {
		return "–"
	}
	return fmt.Sprint(i + 1)
}

func stepText(step, steps int) string {
	if step <= 0 {
		return fmt.Sprintf("–/%d", steps)
	}
	return fmt.Sprintf("%d/%d", step, steps)
}

// holdText is why a release is held, in words, or "".
func holdText(r *state.Release) string {
	if r.Status.Hold == nil {
		return ""
	}
	return r.Status.Hold.Message
}
