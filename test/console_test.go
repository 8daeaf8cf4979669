package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

const viewerToken = "viewer-token-0123456789"

// chromium returns the Chromium binary. In a full run its absence fails
// the test: the console is only tested in a real browser.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("SLUICE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Chromium is not installed: the console test needs a real headless browser (apt-get install -y chromium; .ci/run installs it)")
	return ""
}

// browser is one headless Chromium tab with a fresh profile.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first Run starts the browser; it must not carry a timeout.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
	return &browser{t: t, ctx: ctx}
}

// on is the same tab reporting to t (a subtest).
func (b *browser) on(t *testing.T) *browser { return &browser{t: t, ctx: b.ctx} }

// write retries a write the API refused because the cluster has no leader
// at the moment (an election on a loaded machine); such a refusal changes
// nothing. Any other error fails the test at once.
func write(t *testing.T, what string, f func() error) {
	t.Helper()
	eventually(t, 60*time.Second, what, func() error {
		err := f()
		if err != nil && statusCode(err) != http.StatusServiceUnavailable && !strings.Contains(err.Error(), "leader") {
			t.Fatalf("%s: %v", what, err)
		}
		return err
	})
}

// do runs actions with a deadline.
func (b *browser) do(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, actions...))
}

// block makes the page's requests to these URLs fail, as a network cut
// would; block() lifts it.
func (b *browser) block(urls ...string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
	require.NoError(b.t, err)
	var patterns []*network.BlockPattern
	for _, u := range urls {
		patterns = append(patterns, &network.BlockPattern{URLPattern: u, Block: true})
	}
	_, err = chromedp.Call(ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: patterns})
	require.NoError(b.t, err)
}

// waitFor polls a JavaScript condition in the page until it is true.
func (b *browser) waitFor(timeout time.Duration, what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		banner, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.getElementById("banner").textContent + " | " + (document.querySelector(".result")||{}).textContent`))
		b.t.Fatalf("waiting for %s: %v (page says: %s)", what, err, banner)
	}
}

func (b *browser) eval(expr string, out any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(`+expr+`)`))
	require.NoError(b.t, err)
	require.NoError(b.t, json.Unmarshal([]byte(s), out))
}

func (b *browser) signIn(token string) {
	b.t.Helper()
	b.do(10*time.Second, chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Click(chromedp.ID("signin")))
	b.waitFor(10*time.Second, "signed in", `!document.getElementById("signout").hidden`)
}

func (b *browser) signOut() {
	b.t.Helper()
	b.do(10*time.Second, chromedp.Click(chromedp.ID("signout")))
	b.waitFor(10*time.Second, "signed out", `!document.getElementById("token").hidden`)
}

// click presses an action button once it is enabled and returns the
// API's answer as the page shows it, which must contain want. A refusal
// because an election is under way is what a person would retry, and so
// does the test.
func (b *browser) click(action, want string) string {
	b.t.Helper()
	sel := fmt.Sprintf(`button[data-action=%q]`, action)
	answered := `(() => { const r = document.querySelector(".actions .result"); return !!r && /(: done| refused: | failed: )/.test(r.textContent); })()`
	deadline := time.Now().Add(60 * time.Second)
	for {
		b.waitFor(20*time.Second, action+" enabled", fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && !e.disabled; })()`, sel))
		// The page may be re-rendered by a live update at any moment, so
		// the button is found and clicked in one step inside the page.
		b.do(10*time.Second, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).click()`, sel)))
		b.waitFor(30*time.Second, action+" answered", answered)
		var text string
		b.eval(`document.querySelector(".actions .result").textContent`, &text)
		switch {
		case strings.Contains(text, want):
			return text
		case strings.Contains(text, "no leader") && time.Now().Before(deadline):
			time.Sleep(500 * time.Millisecond)
		default:
			b.t.Fatalf("%s answered %q, want %q", action, text, want)
		}
	}
}

// screenshot writes the page to $SLUICE_SCREENSHOTS/name.png when set
// (make screenshots), for the README: the whole page, or with height > 0
// its top that many pixels high.
func (b *browser) screenshot(name string, height int64) {
	b.t.Helper()
	dir := os.Getenv("SLUICE_SCREENSHOTS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	shot := chromedp.FullScreenshot(100)
	if height > 0 {
		require.NoError(b.t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, height)))
		shot = chromedp.CaptureScreenshot()
	}
	png, err := chromedp.Run(ctx, shot)
	require.NoError(b.t, err)
	if height > 0 {
		require.NoError(b.t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)))
	}
	require.NoError(b.t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

// plotData is what the release page's SVG carries.
type plotData struct {
	Markers []struct {
		Seq    int    `json:"seq,string"`
		Action string `json:"action"`
		T      string `json:"t"`
		Weight uint32 `json:"weight,string"`
		X      float64
	} `json:"markers"`
	Points []struct {
		Panel  string  `json:"panel"`
		Series string  `json:"series"`
		Seq    int     `json:"seq,string"`
		V      float64 `json:"v,string"`
	} `json:"points"`
}

const readPlot = `{
  markers: [...document.querySelectorAll("#timeline g.marker")].map(g => Object.assign({}, g.dataset, {X: +g.querySelector("line").getAttribute("x1")})),
  points: [...document.querySelectorAll("#timeline circle.pt")].map(c => Object.assign({panel: c.closest("g.panel").dataset.panel}, c.dataset)),
}`

// TestConsoleInChromium runs a release end to end on three real server
// processes with token authentication, real Prometheus and grpc-go
// traffic, while a headless Chromium reads the console: the page follows
// the release live from /v1/events, a viewer's approval is refused with
// the API's words, an approver's click releases the held step, and the
// plot's points are those of the recorded history. Then the train and
// cluster pages, on the same cluster.
func TestConsoleInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus, server processes and Chromium")
	}
	chromium(t) // fail before the cluster starts
	authFile := filepath.Join(t.TempDir(), "tokens.yaml")
	require.NoError(t, os.WriteFile(authFile, []byte(fmt.Sprintf(`tokens:
  - {token: %s, user: ops-admin, roles: [admin]}
  - {token: %s, user: alice, roles: [deployer]}
  - {token: %s, user: bob, roles: [approver, viewer]}
  - {token: %s, user: vera, roles: [viewer]}
`, adminToken, deployerToken, approverToken, viewerToken)), 0o600))
	e := newReleaseEnvWith(t, []string{"--auth-file", authFile, "--token", adminToken}, "shop", "tr-a", "tr-b", "tr-c")
	_, followers := splitLeader(t, e.procs)
	other := followers[0]
	eventually(t, 30*time.Second, "prometheus scrapes the backends", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return e.prom.WaitForSeries(ctx, `requests_total{service="shop"}`)
	})
	write(t, "apply shop", func() error {
		_, err := other.client().Apply(ctxT(t), "shop.yaml", []byte(e.governanceYAML("shop", "")))
		return err
	})
	waitTraffic(t, e.load("shop", other, 200), "v1")
	la, ld, files := 4200, 1800, 75
	write(t, "start shop-v2", func() error {
		if _, err := other.client().Release(ctxT(t), "shop-v2"); err == nil {
			return nil // an earlier attempt got through
		}
		_, err := other.as(deployerToken).StartRelease(ctxT(t), releaseWith("shop-v2", "shop", &config.ChangeDescriptor{LinesAdded: &la, LinesDeleted: &ld, Files: &files, Author: "carol"}))
		return err
	})

	b := newBrowser(t)
	base := "http://" + other.api
	b.do(20*time.Second, chromedp.Navigate(base+"/ui/releases/shop-v2"))
	b.waitFor(20*time.Second, "the API's refusal without a token", `document.getElementById("banner").textContent.includes("unauthenticated")`)

	b.signIn(viewerToken)
	b.waitFor(20*time.Second, "the release page", `!!document.querySelector("section[data-release='shop-v2']")`)
	b.waitFor(90*time.Second, "the held step, shown live", `(document.getElementById("holding")||{textContent:""}).textContent.startsWith("Holding: risk:")`)
	var who string
	b.eval(`document.getElementById("who").textContent`, &who)
	require.Equal(t, "vera (viewer)", who)
	require.Contains(t, b.click("approve", "needs the approver role"), "Approve refused: forbidden", "the API's own words")
	require.Equal(t, 0, e.release(other, "shop-v2").Status.Step, "still held in step 1, before step 2")

	b.signOut()
	b.signIn(approverToken)
	require.Contains(t, b.click("approve", "done"), "Approve: done")
	b.waitFor(120*time.Second, "promoted, without reloading the page", `!!document.querySelector("section[data-release='shop-v2'][data-phase='Promoted']")`)
	var live string
	b.eval(`document.getElementById("live").textContent`, &live)
	require.Equal(t, "live", live)

	r := e.release(other, "shop-v2")
	require.Equal(t, state.PhasePromoted, r.Status.Phase)
	require.Equal(t, "bob", r.Status.Approvals[0].Actor, "the click is recorded as the token's user")
	var plot plotData
	b.eval(readPlot, &plot)
	checkPlot(t, r, plot)
	b.screenshot("console-release", 1500)

	t.Run("train page", func(t *testing.T) {
		b := b.on(t)
		write(t, "apply tr", func() error {
			_, err := other.client().Apply(ctxT(t), "tr.yaml", []byte(e.trainYAML("tr", "30s")))
			return err
		})
		for _, m := range []string{"a", "b", "c"} {
			waitTraffic(t, e.load("tr-"+m, other, 50), "v1")
		}
		write(t, "apply the train", func() error {
			_, err := other.client().Apply(ctxT(t), "train.yaml", []byte(trainDoc("tr")))
			return err
		})
		b.do(20*time.Second, chromedp.Navigate(base+"/ui/trains/tr"))
		b.waitFor(20*time.Second, "the graph", `document.querySelectorAll("#graph g.node").length === 3 && document.querySelectorAll("#graph path.edge").length === 2`)
		var edges []map[string]string
		b.eval(`[...document.querySelectorAll("#graph path.edge")].map(p => ({from: p.dataset.from, to: p.dataset.to}))`, &edges)
		sort.Slice(edges, func(i, j int) bool { return edges[i]["from"] < edges[j]["from"] })
		require.Equal(t, []map[string]string{{"from": "tr-a", "to": "tr-b"}, {"from": "tr-b", "to": "tr-c"}}, edges)
		b.waitFor(60*time.Second, "the first member baking, live", `(document.querySelector("#graph g.node[data-member='tr-a'] .state")||{textContent:""}).textContent.startsWith("Progressing")`)
		b.screenshot("console-train", 0)
		require.Contains(t, b.click("rollback", "needs the deployer role"), "Roll back refused")
		b.signOut()
		b.signIn(deployerToken)
		require.Contains(t, b.click("rollback", "done"), "Roll back: done")
		b.waitFor(60*time.Second, "the train rolled back", `!!document.querySelector("section[data-train='tr'][data-phase='RolledBack']")`)
	})

	t.Run("cluster page", func(t *testing.T) {
		b := b.on(t)
		b.do(20*time.Second, chromedp.Navigate(base+"/ui/cluster"))
		b.waitFor(30*time.Second, "three nodes with their proxy groups", `document.querySelectorAll("#nodes tr[data-node]").length === 3 && !!document.querySelector("#nodes tr[data-node='`+other.id+`'] tr[data-group]")`)
		var leaderText string
		b.eval(`document.getElementById("leader").textContent`, &leaderText)
		require.Equal(t, leaderOf(t, e.procs).id, leaderText)
		var acked []string
		b.eval(`[...document.querySelectorAll("#nodes tr[data-node='`+other.id+`'] tr[data-group] td:nth-child(5)")].map(td => td.textContent)`, &acked)
		require.NotEmpty(t, acked)
		b.screenshot("console-cluster", 0)
	})

	t.Run("overview", func(t *testing.T) {
		b := b.on(t)
		b.do(20*time.Second, chromedp.Navigate(base+"/ui/"))
		b.waitFor(20*time.Second, "both lists", `!!document.querySelector("#releases tr[data-release='shop-v2'][data-phase='Promoted']") && !!document.querySelector("#trains tr[data-train='tr']")`)
		b.screenshot("console-overview", 0)
	})

	t.Run("a change made while the stream was down", func(t *testing.T) {
		b := b.on(t)
		b.do(20*time.Second, chromedp.Navigate(base+"/ui/"))
		b.waitFor(20*time.Second, "the train listed, live", `!!document.querySelector("#trains tr[data-train='tr']") && document.getElementById("live").textContent === "live"`)
		// Cut the page off /v1/events and make it reconnect: signing in
		// again re-fetches the page, then opens a stream that cannot.
		b.block(base + "/v1/events")
		b.signOut()
		b.signIn(deployerToken)
		b.waitFor(20*time.Second, "the stream down", `document.getElementById("live").textContent === "reconnecting"`)
		// A change nothing follows: no later event would bring the page
		// up to date, only the reconnect can.
		write(t, "delete the finished train", func() error { return other.client().Delete(ctxT(t), "trains", "tr") })
		b.block()
		b.waitFor(60*time.Second, "the train gone once the stream is back", `document.getElementById("live").textContent === "live" && !document.querySelector("#trains tr[data-train='tr']")`)
	})
}

// checkPlot compares the plot with the release's recorded history,
// computed here from the decisions and their verdicts directly.
func checkPlot(t *testing.T, r *state.Release, plot plotData) {
	t.Helper()
	ds := r.Status.Decisions
	require.Len(t, plot.Markers, len(ds), "one marker per decision")
	for i, d := range ds {
		m := plot.Markers[i]
		require.Equal(t, d.Seq, m.Seq)
		require.Equal(t, string(d.Action), m.Action)
		require.Equal(t, d.Weight, m.Weight)
		at, err := time.Parse(time.RFC3339Nano, m.T)
		require.NoError(t, err)
		require.True(t, at.Equal(d.Time), "marker %d at %s, decided at %s", d.Seq, at, d.Time)
		if i > 0 {
			require.GreaterOrEqual(t, m.X, plot.Markers[i-1].X, "markers run left to right in time")
		}
	}
	got := map[string]float64{}
	for _, p := range plot.Points {
		got[fmt.Sprintf("%s/%s/%d", p.Panel, p.Series, p.Seq)] = p.V
	}
	want := map[string]float64{}
	window := r.Status.PolicySpec.Analysis.Baseline.Window
	for _, d := range ds {
		want[fmt.Sprintf("weight/weight/%d", d.Seq)] = float64(d.Weight)
		if len(d.Verdict) == 0 {
			continue
		}
		var v analysis.Verdict
		require.NoError(t, json.Unmarshal(d.Verdict, &v))
		for _, c := range v.Checks {
			for _, o := range c.Observations {
				if c.Kind == analysis.CheckBurnRule && o.Observed == analysis.ObservedBurnRate && o.Value != nil {
					want[fmt.Sprintf("burn/%s %s/%d", c.Name, o.Window.D(), d.Seq)] = *o.Value
				}
			}
		}
		for _, m := range v.Measurements {
			if m.Window != window || m.Value == nil {
				continue
			}
			switch m.Quantity {
			case analysis.QuantityRequests:
				want[fmt.Sprintf("requests/%s/%d", m.Role, d.Seq)] = *m.Value / window.D().Seconds()
			case analysis.QuantityErrorRatio:
				want[fmt.Sprintf("errors/%s/%d", m.Role, d.Seq)] = *m.Value * 100
			}
		}
	}
	require.Equal(t, want, got, "every plotted point is a recorded value, and every recorded value is plotted")
	var burn, rates int
	for k := range want {
		switch k[:4] {
		case "burn":
			burn++
		case "requ":
			rates++
		}
	}
	require.NotZero(t, burn, "the run recorded burn rates")
	require.NotZero(t, rates, "the run recorded request counts")
}
