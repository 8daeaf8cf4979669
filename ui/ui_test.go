package ui

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/raft"
	"github.com/sluicehq/sluice/state"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func f(v float64) *float64 { return &v }

// verdict builds a recorded verdict: one burn rule over 10s and 3s, and
// requests and error ratios of both versions over the 10s baseline window.
func verdict(t testing.TB, at time.Time, phase analysis.Phase, burnLong, burnShort, canaryReq, canaryErr, stableReq, stableErr float64) json.RawMessage {
	t.Helper()
	w10, w3 := config.Duration(10*time.Second), config.Duration(3*time.Second)
	v := analysis.Verdict{Phase: phase, Reason: "burn rule fast: " + string(phase), Time: at,
		Checks: []analysis.Check{{Kind: analysis.CheckBurnRule, Name: "fast", Result: analysis.ResultPassed, Observations: []analysis.Observation{
			{Observed: analysis.ObservedBurnRate, Role: analysis.RoleCanary, Window: w10, Outcome: analysis.OutcomeValue, Value: f(burnLong), Threshold: f(10)},
			{Observed: analysis.ObservedBurnRate, Role: analysis.RoleCanary, Window: w3, Outcome: analysis.OutcomeValue, Value: f(burnShort), Threshold: f(10)},
		}}},
		Measurements: []analysis.Measurement{
			{Role: analysis.RoleCanary, Quantity: analysis.QuantityErrorRatio, Window: w10, Outcome: analysis.OutcomeValue, Value: f(canaryErr)},
			{Role: analysis.RoleCanary, Quantity: analysis.QuantityRequests, Window: w10, Outcome: analysis.OutcomeValue, Value: f(canaryReq)},
			{Role: analysis.RoleCanary, Quantity: analysis.QuantityRequests, Window: w3, Outcome: analysis.OutcomeValue, Value: f(1)},
			{Role: analysis.RoleStable, Quantity: analysis.QuantityErrorRatio, Window: w10, Outcome: analysis.OutcomeValue, Value: f(stableErr)},
			{Role: analysis.RoleStable, Quantity: analysis.QuantityRequests, Window: w10, Outcome: analysis.OutcomeValue, Value: f(stableReq)},
		}}
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// sampleRelease is a release that started, was analysed twice, advanced,
// was held for approval, approved, and rolled back on a failed verdict.
func sampleRelease(t testing.TB) *state.Release {
	r := &state.Release{}
	r.Spec.Metadata.Name = "greeter-v2"
	r.Spec.Spec.Service, r.Spec.Spec.To = "greeter", "v2"
	r.Status = state.ReleaseStatus{Phase: state.PhaseRolledBack, From: "v1", Step: 1, Weight: 0, CreatedAt: t0, EndedAt: t0.Add(60 * time.Second),
		PolicySpec: config.ReleasePolicySpec{Analysis: &config.AnalysisSpec{Baseline: &config.BaselineSpec{Window: config.Duration(10 * time.Second)}}},
		Plan:       []config.StepSpec{{Weight: 10, Bake: config.Duration(5 * time.Second)}, {Weight: 50, Bake: config.Duration(5 * time.Second)}},
		Decisions: []state.Decision{
			{Seq: 1, Time: t0, Actor: "alice", Action: state.DecisionStart, Phase: state.PhaseProgressing, Step: 0, Weight: 10, Message: "start"},
			{Seq: 2, Time: t0.Add(10 * time.Second), Actor: "controller:n1", Action: state.DecisionAnalysis, Phase: state.PhaseProgressing, Weight: 10, Message: "all checks passed",
				Verdict: verdict(t, t0.Add(10*time.Second), analysis.PhaseSuccessful, 0.5, 0.2, 100, 0.001, 900, 0.002)},
			{Seq: 3, Time: t0.Add(20 * time.Second), Actor: "controller:n1", Action: state.DecisionAdvance, Phase: state.PhaseProgressing, Step: 1, Weight: 50, Message: "advance to step 2",
				Verdict: verdict(t, t0.Add(20*time.Second), analysis.PhaseSuccessful, 1, 0.5, 110, 0.002, 880, 0.001)},
			{Seq: 4, Time: t0.Add(30 * time.Second), Actor: "<b>bob</b>", Action: state.DecisionApprove, Phase: state.PhaseProgressing, Step: 1, Weight: 50, Message: `approve by bob: <script>alert("x")</script>`},
			{Seq: 5, Time: t0.Add(60 * time.Second), Actor: "controller:n1", Action: state.DecisionRollback, Phase: state.PhaseRolledBack, Step: 1, Weight: 0, Message: "rolled back",
				Verdict: verdict(t, t0.Add(59*time.Second), analysis.PhaseFailed, 20, 30, 500, 0.3, 500, 0.001)},
		}}
	return r
}

func TestTimelineComesFromTheRecord(t *testing.T) {
	tl := BuildTimeline(sampleRelease(t), t0.Add(time.Hour))
	require.Equal(t, t0, tl.Start)
	require.Equal(t, t0.Add(60*time.Second), tl.End, "an ended release's axis ends when it ended, not now")

	var weights []float64
	for _, p := range tl.Weight {
		weights = append(weights, p.V)
	}
	require.Equal(t, []float64{0, 10, 10, 50, 50, 0, 0}, weights, "creation, one point per decision, the end")
	require.Len(t, tl.Markers, 5)
	require.Equal(t, analysis.PhaseFailed, tl.Markers[4].Verdict)
	require.Contains(t, strings.Join(tl.Markers[4].Lines, "\n"), "canary 10s burnRate 20 vs 10")

	require.Len(t, tl.Burn, 2)
	require.Equal(t, "fast 10s", tl.Burn[0].Name)
	require.Equal(t, 10.0, *tl.Burn[0].Threshold)
	require.Equal(t, []Point{{T: t0.Add(10 * time.Second), V: 0.5, Seq: 2}, {T: t0.Add(20 * time.Second), V: 1, Seq: 3}, {T: t0.Add(59 * time.Second), V: 20, Seq: 5}},
		tl.Burn[0].Points, "at the verdict's time, from the decision that recorded it")

	require.Equal(t, 10*time.Second, tl.RateWindow)
	require.Len(t, tl.Requests, 2)
	require.Equal(t, analysis.RoleCanary, tl.Requests[0].Role)
	require.Equal(t, 10.0, tl.Requests[0].Points[0].V, "100 requests in 10s; the 3s window is not mixed in")
	require.Equal(t, 90.0, tl.Requests[1].Points[0].V)
	require.InDelta(t, 30.0, tl.Errors[0].Points[2].V, 1e-9, "error ratio in percent")
}

func TestTimelineOfARunningReleaseEndsNowAndSurvivesBadVerdicts(t *testing.T) {
	r := sampleRelease(t)
	r.Status.Phase, r.Status.EndedAt = state.PhaseProgressing, time.Time{}
	r.Status.Decisions = r.Status.Decisions[:3]
	r.Status.Decisions[1].Verdict = json.RawMessage(`{"phase": [`)
	tl := BuildTimeline(r, t0.Add(2*time.Minute))
	require.Equal(t, t0.Add(2*time.Minute), tl.End)
	require.Equal(t, 50.0, tl.Weight[len(tl.Weight)-1].V, "the weight holds until now")
	require.Len(t, tl.Burn[0].Points, 1, "the unreadable verdict is skipped")
	require.Contains(t, tl.Notes[0], "1 recorded verdict(s) could not be read")
}

func TestLayoutMapsValuesMonotonically(t *testing.T) {
	p := Layout(BuildTimeline(sampleRelease(t), t0))
	require.Len(t, p.Panels, 4)
	w := p.Panels[0]
	require.Len(t, w.Points, 5)
	for i := 1; i < len(w.Points); i++ {
		require.GreaterOrEqual(t, w.Points[i].X, w.Points[i-1].X, "time runs left to right")
	}
	require.Equal(t, w.Bottom, w.Points[4].Y, "0%% sits on the panel's floor")
	require.Less(t, w.Points[2].Y, w.Points[0].Y, "50%% is above 10%%")
	require.Equal(t, p.Left, p.Markers[0].X)
	require.Equal(t, p.Right, p.Markers[4].X)
	burn := p.Panels[1]
	var dashed int
	for _, l := range burn.Lines {
		if l.Dashed {
			dashed++
		}
	}
	require.Equal(t, 2, dashed, "one threshold line per series")
	var legend []string
	for _, l := range burn.Legend {
		legend = append(legend, l.Name)
	}
	require.Equal(t, []string{"fast 10s", "limit 10", "fast 3s"}, legend, "a limit shared by two windows is named once")
	require.GreaterOrEqual(t, burn.Points[2].Y, burn.Top, "the largest value stays inside the panel")
}

type fakeSource struct{ st *state.State }

func (f fakeSource) State() *state.State { return f.st }
func (f fakeSource) Stats() raft.Stats {
	return raft.Stats{NodeID: "n1", LeaderID: "n1", RaftState: "Leader", CommitIndex: 7, AppliedIndex: 7}
}
func (f fakeSource) Servers() ([]raft.Server, error) {
	return []raft.Server{{ID: "n1", Address: "127.0.0.1:1", Suffrage: "voter", Leader: true}, {ID: "n2", Address: "127.0.0.1:2", Suffrage: "voter"}}, nil
}

func newTestConsole(t *testing.T, st *state.State) *Console {
	c, err := New(fakeSource{st}, Options{Now: func() time.Time { return t0.Add(time.Hour) }})
	require.NoError(t, err)
	return c
}

func get(t *testing.T, h http.Handler, path string) (int, http.Header, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, err := io.ReadAll(rec.Result().Body)
	require.NoError(t, err)
	return rec.Code, rec.Header(), string(b)
}

func TestReleasePageEscapesWhatUsersWrote(t *testing.T) {
	st := state.New()
	st.Releases["greeter-v2"] = sampleRelease(t)
	c := newTestConsole(t, st)
	code, h, body := get(t, c.Views(), "/v1/console/release/greeter-v2")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, h.Get("Content-Security-Policy"), "script-src 'self'")
	require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
	require.NotContains(t, body, "<script>")
	require.NotContains(t, body, "<b>bob</b>")
	require.Contains(t, body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;")
	require.Contains(t, body, `data-series="fast 10s"`)
	require.Equal(t, 5, strings.Count(body, `<g class="marker`))
	require.NotContains(t, body, `data-action="approve" data-url`, "an ended release offers no actions")

	code, _, body = get(t, c.Views(), "/v1/console/release/%3Cnope%3E")
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, body, "Release &lt;nope&gt;: not found")
}

func TestRunningReleaseOffersActionsAndApprovalFirst(t *testing.T) {
	st := state.New()
	r := sampleRelease(t)
	r.Status.Phase, r.Status.EndedAt = state.PhaseProgressing, time.Time{}
	r.Status.Hold = &state.Hold{Kind: state.HoldRisk, Message: "high risk: step 2 needs a person's approval"}
	st.Releases[r.Name()] = r
	p := BuildReleasePage(st, r, t0.Add(time.Minute))
	require.True(t, p.WaitsForPerson)
	require.Equal(t, "approve", p.Actions[0].Action)
	require.True(t, p.Actions[0].Primary)
	require.Equal(t, "/v1/releases/greeter-v2/approve", p.Actions[0].URL)
	_, _, body := get(t, newTestConsole(t, st).Views(), "/v1/console/release/greeter-v2")
	require.Contains(t, body, `class="act primary" data-action="approve" data-url="/v1/releases/greeter-v2/approve" disabled`, "disabled until a token is entered")
}

func TestShellIsStaticAndLocked(t *testing.T) {
	c := newTestConsole(t, state.New())
	for _, path := range []string{"/ui/", "/ui/releases/anything", "/ui/cluster"} {
		code, h, body := get(t, c.Shell(), path)
		require.Equal(t, http.StatusOK, code, path)
		require.Contains(t, body, `<script src="/ui/static/console.js" defer></script>`)
		require.Contains(t, h.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	}
	code, _, body := get(t, c.Shell(), "/ui/static/console.js")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "sessionStorage")
	require.NotContains(t, body, "localStorage", "the token stays in this tab")
	code, _, _ = get(t, c.Shell(), "/ui/static/../ui.go")
	require.NotEqual(t, http.StatusOK, code)
}

func TestTrainGraphFollowsLevels(t *testing.T) {
	st := state.New()
	tr := &state.Train{}
	tr.Spec.Metadata.Name = "shop"
	tr.Status = state.TrainStatus{Phase: state.TrainProgressing, Levels: [][]string{{"db"}, {"api", "auth"}, {"web"}},
		Members: []state.TrainMemberStatus{
			{Name: "db", Service: "db", Release: "shop-db", Cleared: true},
			{Name: "api", Service: "api", Release: "shop-api", Deps: []string{"db"}, Level: 1},
			{Name: "auth", Service: "auth", Release: "shop-auth", Deps: []string{"db"}, Level: 1},
			{Name: "web", Service: "web", Release: "shop-web", Deps: []string{"api", "auth"}, Level: 2},
		}}
	st.Trains["shop"] = tr
	db := sampleRelease(t)
	db.Spec.Metadata.Name, db.Status.Phase = "shop-db", state.PhasePromoted
	st.Releases["shop-db"] = db
	p := BuildTrainPage(st, tr)
	require.Len(t, p.Graph.Nodes, 4)
	require.Len(t, p.Graph.Edges, 4)
	x := map[string]float64{}
	for _, n := range p.Graph.Nodes {
		x[n.Name] = n.X
	}
	require.Less(t, x["db"], x["api"])
	require.Equal(t, x["api"], x["auth"])
	require.Less(t, x["auth"], x["web"])
	require.Equal(t, "good", p.Graph.Nodes[0].Class, "promoted")
	require.Equal(t, "no release", p.Graph.Nodes[1].Text)
	_, _, body := get(t, newTestConsole(t, st).Views(), "/v1/console/train/shop")
	require.Equal(t, 4, strings.Count(body, `class="edge"`))
}

func TestClusterPageShowsUnreachableNodes(t *testing.T) {
	st := state.New()
	st.Members["n1"] = &state.Member{ID: "n1", APIAddr: "127.0.0.1:1"}
	st.Members["n2"] = &state.Member{ID: "n2", APIAddr: "127.0.0.1:2"}
	_, _, body := get(t, newTestConsole(t, st).Views(), "/v1/console/cluster/")
	require.Contains(t, body, `data-node="n1"`)
	require.Contains(t, body, "no proxies connected")
	require.Contains(t, body, "peer status is not available")
}

// A promoted release, with nothing else running on its service, offers
// the service's undo; a rolled-back one offers nothing.
func TestPromotedReleaseOffersUndo(t *testing.T) {
	st := state.New()
	r := sampleRelease(t)
	st.Releases[r.Name()] = r
	require.Empty(t, BuildReleasePage(st, r, t0.Add(time.Minute)).Actions, "a rolled-back release has no actions")
	r.Status.Phase = state.PhasePromoted
	p := BuildReleasePage(st, r, t0.Add(time.Minute))
	require.Len(t, p.Actions, 1)
	require.Equal(t, ActionButton{Action: "undo", Label: "Undo", URL: "/v1/services/greeter/undo"}, p.Actions[0])
}

// TestWebhookDecisionsRender: webhook calls show in the tooltip and the
// decision table with their answers, and the markers are coloured by
// what the calls decided.
func TestWebhookDecisionsRender(t *testing.T) {
	r := sampleRelease(t)
	held := state.WebhookRecord{Type: config.WebhookConfirmPromotion, Step: 1, Outcome: state.WebhookHeld, Calls: []state.WebhookCall{
		{Name: "confirm", Type: config.WebhookConfirmPromotion, URL: "http://gate/confirm", Step: 1, Weight: 50, BodyBytes: 180, Status: 503, Body: "not yet", Error: state.WebhookErrStatus, Latency: config.Duration(12 * time.Millisecond)}}}
	passed := state.WebhookRecord{Type: config.WebhookPreRollout, Step: -1, Outcome: state.WebhookPassed, Calls: []state.WebhookCall{
		{Name: "smoke", Type: config.WebhookPreRollout, URL: "http://smoke/", Step: -1, Status: 200}}}
	down := state.WebhookRecord{Type: config.WebhookPostRollout, Step: 1, Outcome: state.WebhookInformed, Calls: []state.WebhookCall{
		{Name: "notify", URL: "http://chat/", Step: 1, Error: state.WebhookErrConnection, Detail: "connection refused"}}}
	ds := r.Status.Decisions
	ds[1].Webhooks = &held
	ds = append(ds,
		state.Decision{Seq: 6, Time: t0.Add(61 * time.Second), Actor: "controller:n1", Action: state.DecisionWebhook, Phase: state.PhaseRolledBack, Step: 1, Message: "post-rollout", Webhooks: &down},
		state.Decision{Seq: 7, Time: t0.Add(62 * time.Second), Actor: "controller:n1", Action: state.DecisionWebhook, Phase: state.PhaseRolledBack, Step: -1, Message: "pre-rollout passed", Webhooks: &passed})
	r.Status.Decisions = ds
	tl := BuildTimeline(r, t0.Add(time.Hour))
	lines := strings.Join(tl.Markers[1].Lines, "\n")
	require.Contains(t, lines, "confirm-promotion webhooks: hold")
	require.Contains(t, lines, "webhook confirm: POST http://gate/confirm (step 2, 50%, 180 bytes) -> HTTP 503 in 12ms: not yet")
	require.Equal(t, "hold", markerClass(tl.Markers[1]))
	require.Contains(t, strings.Join(tl.Markers[5].Lines, "\n"), "webhook notify: POST http://chat/ (step 2, 0%, 0 bytes) -> no answer (connection: connection refused)")
	require.Equal(t, "info", markerClass(tl.Markers[5]), "post-rollout is informational")
	require.Equal(t, "good", markerClass(tl.Markers[6]))
}
