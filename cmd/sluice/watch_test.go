package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// frameNow is the time the golden frames are drawn at (local time, so
// that the frames read the same in every zone).
var frameNow = time.Date(2026, 11, 25, 19, 31, 0, 0, time.Local)

func fixtureRelease() *state.Release {
	at := func(sec int) time.Time { return frameNow.Add(time.Duration(sec) * time.Second) }
	r := &state.Release{}
	r.Spec.Metadata.Name = "greeter-v2-1125-193005"
	r.Spec.Spec.Service = "greeter"
	r.Spec.Spec.To = "v2"
	r.Status = state.ReleaseStatus{
		Phase: state.PhaseProgressing, From: "v1", Policy: "greeter",
		Plan: []config.StepSpec{{Weight: 10, Bake: config.Duration(time.Minute)}, {Weight: 25, Bake: config.Duration(time.Minute)},
			{Weight: 50, Bake: config.Duration(2 * time.Minute)}, {Weight: 100}},
		Step: 1, Weight: 25, Acked: true, BakeUntil: at(41),
		LastVerdict: []byte(`{"phase":"Successful","reason":"burn rule fast: burn 0.2 (5m), 0.1 (1m) below 14.4; canary served 1204 requests in 1m (needs 50)"}`),
	}
	ds := []struct {
		sec    int
		action state.DecisionKind
		phase  state.Phase
		step   int
		weight uint32
		msg    string
	}{
		{-55, state.DecisionCreate, state.PhasePending, -1, 0, "release of greeter v1 -> v2 created under policy greeter"},
		{-54, state.DecisionStart, state.PhaseProgressing, 0, 10, "step 1: 10% on v2"},
		{-53, state.DecisionAck, state.PhaseProgressing, 0, 10, "every proxy group ACKed state index 12"},
		{-40, state.DecisionAnalysis, state.PhaseProgressing, 0, 10, "Successful: all checks passed"},
		{-25, state.DecisionAnalysis, state.PhaseProgressing, 0, 10, "Successful: all checks passed"},
		{-20, state.DecisionAdvance, state.PhaseProgressing, 1, 25, "step 2: 25% on v2 after a successful analysis with the bake done"},
		{-19, state.DecisionAck, state.PhaseProgressing, 1, 25, "every proxy group ACKed state index 15"},
	}
	for i, d := range ds {
		r.Status.Decisions = append(r.Status.Decisions, state.Decision{Seq: i + 1, Time: at(d.sec), Actor: "controller", Action: d.action,
			Phase: d.phase, Step: d.step, Weight: d.weight, Message: d.msg})
	}
	return r
}

func fixtureTrain() *api.TrainView {
	web := fixtureRelease()
	api1 := fixtureRelease()
	api1.Spec.Metadata.Name = "api-v7"
	api1.Spec.Spec.Service = "api"
	api1.Status.Phase = state.PhasePromoted
	api1.Status.Step, api1.Status.Weight = 3, 100
	api1.Status.Decisions = api1.Status.Decisions[:2]
	t := &api.TrainView{Train: &state.Train{}, Releases: map[string]*state.Release{"api": api1, "web": web, "db": nil}}
	t.Spec.Metadata.Name = "checkout-2026-11"
	t.Status.Phase = state.TrainProgressing
	t.Status.Members = []state.TrainMemberStatus{
		{Name: "web", Service: "greeter", Level: 1, Deps: []string{"api"}},
		{Name: "api", Service: "api", Level: 0},
		{Name: "db", Service: "db", Level: 2, Deps: []string{"web"}},
	}
	t.Status.Decisions = []state.Decision{{Seq: 1, Time: frameNow.Add(-56 * time.Second), Actor: "controller", Action: state.DecisionStart, Message: "train started: 3 members in 3 levels"}}
	return t
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run with -update to create it")
	require.Equal(t, string(want), got)
}

// TestReleaseFrame: the live view of a release, plain and in colour, and
// cut to a narrow terminal.
func TestReleaseFrame(t *testing.T) {
	r := fixtureRelease()
	golden(t, "watch-release.txt", releaseFrame(r, frameNow, 120, false))
	golden(t, "watch-release-color.txt", releaseFrame(r, frameNow, 120, true))
	narrow := releaseFrame(r, frameNow, 40, false)
	golden(t, "watch-release-40.txt", narrow)
	for _, l := range strings.Split(strings.TrimSuffix(narrow, "\n"), "\n") {
		require.LessOrEqual(t, len([]rune(l)), 40, "line %q is wider than the terminal", l)
	}
	// The countdown counts down.
	require.Contains(t, releaseFrame(r, frameNow.Add(30*time.Second), 120, false), "Bake      11s left")

	r.Status.Phase = state.PhasePaused
	r.Status.Decisions = append(r.Status.Decisions, state.Decision{Seq: 8, Time: frameNow.Add(-5 * time.Second), Actor: "user:alice",
		Action: state.DecisionPause, Step: 1, Weight: 25, Phase: state.PhasePaused, Message: "pause by user:alice: INC-7"})
	require.Contains(t, releaseFrame(r, frameNow, 200, false),
		"Paused    pause by user:alice: INC-7 (5s ago); resume with: sluice release resume greeter-v2-1125-193005\n")
}

// TestTrainFrame: the live view of a train: members in dependency order,
// and the train's and members' last decisions.
func TestTrainFrame(t *testing.T) {
	golden(t, "watch-train.txt", trainFrame(fixtureTrain(), frameNow, 120, false))
}

// TestChooseDisplay: a terminal gets the live view in colour; NO_COLOR or
// TERM=dumb take the colour or the redraw away; a pipe gets plain lines
// as wide as the terminal on stderr, or $COLUMNS.
func TestChooseDisplay(t *testing.T) {
	tty, pipe, errTTY := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	sizeOf := func(w io.Writer) (termSize, bool) {
		switch w {
		case tty:
			return termSize{cols: 100, rows: 30}, true
		case errTTY:
			return termSize{cols: 70, rows: 20}, true
		}
		return termSize{}, false
	}
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	require.Equal(t, display{live: true, color: true, width: 100, height: 30}, chooseDisplay(tty, pipe, sizeOf, env()))
	require.Equal(t, display{live: true, width: 100, height: 30}, chooseDisplay(tty, pipe, sizeOf, env("NO_COLOR", "1")))
	require.Equal(t, display{width: 160}, chooseDisplay(tty, pipe, sizeOf, env("TERM", "dumb")))
	require.Equal(t, display{width: 70}, chooseDisplay(pipe, errTTY, sizeOf, env()))
	require.Equal(t, display{width: 90}, chooseDisplay(pipe, pipe, sizeOf, env("COLUMNS", "90")))
	require.Equal(t, display{width: 160}, chooseDisplay(pipe, pipe, sizeOf, env()))
}

// TestFitRows: a live frame taller than the terminal keeps its first
// rows, so that the next redraw can move back over all of it.
func TestFitRows(t *testing.T) {
	frame := "a\nb\nc\nd\n"
	require.Equal(t, frame, fitRows(frame, 0))
	require.Equal(t, frame, fitRows(frame, 5))
	require.Equal(t, "a\nb\n", fitRows(frame, 3))
}

// syncBuffer is a bytes.Buffer safe to read while a watch writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWatchLiveAndPiped: on a real server, `release watch` on a terminal
// redraws its frame in place until the release ends; piped, it appends
// plain lines without escape codes; both exit 0 once promoted.
func TestWatchLiveAndPiped(t *testing.T) {
	addr := startServer(t)
	svc := filepath.Join(t.TempDir(), "greeter.yaml")
	require.NoError(t, os.WriteFile(svc, []byte(declaredYAML("v1")), 0o600))
	_, _, err := run(t, "", "--server", addr, "apply", "-f", svc)
	require.NoError(t, err)
	_, _, err = run(t, "", "--server", addr, "release", "start", "greeter", "--to", "v2", "--name", "greeter-v2")
	require.NoError(t, err)

	var live syncBuffer
	c := &cli{server: addr, timeout: 5 * time.Second, out: &live, errOut: &bytes.Buffer{},
		termSize: func(w io.Writer) (termSize, bool) { return termSize{cols: 100, rows: 40}, w == &live }}
	done := make(chan error, 1)
	go func() {
		done <- runWatch(context.Background(), c.out, c.display(), &releaseWatch{cl: c.client(), name: "greeter-v2"}, 20*time.Millisecond)
	}()
	eventually(t, func() bool { return strings.Contains(live.String(), "Last decisions") }, "a first frame")
	_, _, err = run(t, "", "--server", addr, "release", "promote", "greeter-v2")
	require.NoError(t, err)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("watch did not end after the release was promoted")
	}
	out := live.String()
	require.Contains(t, out, "\x1b[J", "later frames replace the first in place")
	require.Contains(t, out, styleGreen+styleBold+"Promoted"+styleReset, "the end is shown in colour")

	// Stopped (Ctrl-C cancels the context): it says the release goes on.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = runWatch(ctx, io.Discard, display{}, &releaseWatch{cl: c.client(), name: "greeter-v2"}, time.Second)
	require.EqualError(t, err, "stopped watching; release greeter-v2 goes on (sluice release status greeter-v2)")
	var ee *exitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, exitInterrupted, ee.code)

	out, _, err = run(t, "", "--server", addr, "release", "watch", "greeter-v2", "--interval", "20ms")
	require.NoError(t, err)
	require.NotContains(t, out, "\x1b", "no escape codes when piped")
	require.Contains(t, out, "promote ")
	r, err := c.client().Release(context.Background(), "greeter-v2")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, len(r.Status.Decisions), "one line per decision:\n%s", out)
	for _, l := range lines {
		require.Regexp(t, `^\d\d:\d\d:\d\d  `, l)
		require.LessOrEqual(t, len([]rune(l)), defaultLineWidth)
	}
}

// eventually waits for cond, failing after a deadline.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
