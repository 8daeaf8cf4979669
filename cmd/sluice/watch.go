package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/state"
)

// Widths used when nothing says how wide the output is.
const (
	defaultTerminalWidth = 80
	defaultLineWidth     = 160
)

// display is how a watch shows what it follows.
type display struct {
	// live redraws one frame in place (a terminal); otherwise every
	// new decision is appended as a plain line.
	live  bool
	color bool
	// width is the number of columns every line is cut to.
	width int
	// height is the number of rows of a live frame (0: no limit): a
	// frame taller than the terminal could not be redrawn in place.
	height int
}

// termSize is a terminal's size; 0 where it does not say.
type termSize struct{ cols, rows int }

// chooseDisplay picks the display for out: a live frame on a terminal,
// in colour unless NO_COLOR is set (https://no-color.org) or TERM is
// dumb; plain appended lines otherwise, as wide as the terminal on
// errOut, or $COLUMNS.
func chooseDisplay(out, errOut io.Writer, termSize func(io.Writer) (termSize, bool), getenv func(string) string) display {
	dumb := getenv("TERM") == "dumb"
	if ts, ok := termSize(out); ok && !dumb {
		w := ts.cols
		if w <= 0 {
			w = defaultTerminalWidth
		}
		return display{live: true, color: getenv("NO_COLOR") == "", width: w, height: ts.rows}
	}
	if ts, ok := termSize(errOut); ok && ts.cols > 0 {
		return display{width: ts.cols}
	}
	if w, err := strconv.Atoi(getenv("COLUMNS")); err == nil && w > 0 {
		return display{width: w}
	}
	return display{width: defaultLineWidth}
}

func (c *cli) display() display {
	ts := c.termSize
	if ts == nil {
		ts = terminalSize
	}
	return chooseDisplay(c.out, c.errOut, ts, os.Getenv)
}

// watchSource is what a watch follows: a release or a train.
type watchSource interface {
	// poll fetches the latest state; each call is one API request.
	poll(ctx context.Context) error
	// frame is the live view at now.
	frame(now time.Time, width int, color bool) string
	// newLines are the decisions recorded since the previous poll.
	newLines() []string
	// ended reports whether it ended, and the error when not promoted.
	ended() (bool, error)
	// label names it for messages: "release greeter-v2".
	label() string
}

// exitInterrupted is the exit code of a watch stopped by Ctrl-C (128 +
// SIGINT, as shells report it).
const exitInterrupted = 130

// stopped is the error of a watch whose context ended (Ctrl-C): the
// watch stops, what it followed goes on.
func stopped(src watchSource) error {
	return &exitError{code: exitInterrupted, err: fmt.Errorf("stopped watching; %s goes on (sluice %s)", src.label(), statusCommand(src.label()))}
}

func statusCommand(label string) string {
	kind, name, _ := strings.Cut(label, " ")
	return kind + " status " + name
}

// runWatch polls src every interval until it ends, showing it on d.
func runWatch(ctx context.Context, out io.Writer, d display, src watchSource, interval time.Duration) error {
	drawn := 0
	for {
		if err := src.poll(ctx); err != nil {
			if ctx.Err() != nil {
				return stopped(src)
			}
			return err
		}
		if d.live {
			s := fitRows(src.frame(time.Now(), d.width, d.color), d.height)
			if drawn > 0 {
				// Back to the first line of the previous frame, and clear
				// from there to the end of the screen.
				fmt.Fprintf(out, "\x1b[%dF\x1b[J", drawn)
			}
			io.WriteString(out, s)
			drawn = strings.Count(s, "\n")
		} else {
			for _, l := range src.newLines() {
				f := &frame{width: d.width}
				f.line(l, styleNone)
				io.WriteString(out, f.String())
			}
		}
		if done, err := src.ended(); done {
			return err
		}
		select {
		case <-ctx.Done():
			return stopped(src)
		case <-time.After(interval):
		}
	}
}

// fitRows keeps the first lines of a frame that fit a terminal of rows
// rows, leaving the last row for the cursor (rows 0: all of it).
func fitRows(frame string, rows int) string {
	if rows <= 1 {
		return frame
	}
	lines := strings.SplitAfter(frame, "\n")
	if len(lines) <= rows-1 || (len(lines) == rows && lines[rows-1] == "") {
		return frame
	}
	return strings.Join(lines[:rows-1], "")
}

// releaseWatch follows one release.
type releaseWatch struct {
	cl   *api.Client
	name string
	r    *state.Release
	seen int
}

func (w *releaseWatch) poll(ctx context.Context) error {
	r, err := w.cl.Release(ctx, w.name)
	if err != nil {
		return err
	}
	w.r = r
	return nil
}

func (w *releaseWatch) frame(now time.Time, width int, color bool) string {
	return releaseFrame(w.r, now, width, color)
}

func (w *releaseWatch) newLines() []string {
	var out []string
	for _, d := range w.r.Status.Decisions[min(w.seen, len(w.r.Status.Decisions)):] {
		out = append(out, fmt.Sprintf("%s  %-9s %-11s step %-5s %s %3d%%  %s", d.Time.Local().Format("15:04:05"), d.Action, d.Phase,
			stepOf(d.Step, len(w.r.Status.Plan)), bar(d.Weight, 20), d.Weight, d.Message))
	}
	w.seen = len(w.r.Status.Decisions)
	return out
}

func (w *releaseWatch) label() string { return "release " + w.name }

func (w *releaseWatch) ended() (bool, error) {
	rs := &w.r.Status
	if !rs.Phase.Terminal() {
		return false, nil
	}
	if rs.Phase != state.PhasePromoted {
		return true, &exitError{code: 2, err: fmt.Errorf("release %s %s: %s", w.name, rs.Phase, rs.Reason)}
	}
	return true, nil
}

// trainWatch follows a train and its members.
type trainWatch struct {
	cl   *api.Client
	name string
	t    *api.TrainView
	seen map[string]int // decisions already printed, per member ("" the train's)
}

func (w *trainWatch) poll(ctx context.Context) error {
	t, err := w.cl.Train(ctx, w.name)
	if err != nil {
		return err
	}
	w.t = t
	return nil
}

func (w *trainWatch) frame(now time.Time, width int, color bool) string {
	return trainFrame(w.t, now, width, color)
}

func (w *trainWatch) newLines() []string {
	if w.seen == nil {
		w.seen = map[string]int{}
	}
	var out []string
	for _, l := range trainDecisionLines(w.t, w.seen) {
		out = append(out, l.text)
	}
	w.seen[""] = len(w.t.Status.Decisions)
	for member, r := range w.t.Releases {
		if r != nil {
			w.seen[member] = len(r.Status.Decisions)
		}
	}
	return out
}

func (w *trainWatch) label() string { return "train " + w.name }

func (w *trainWatch) ended() (bool, error) {
	ts := &w.t.Status
	if !ts.Phase.Terminal() {
		return false, nil
	}
	if ts.Phase != state.TrainPromoted {
		return true, &exitError{code: 2, err: fmt.Errorf("train %s %s: %s", w.name, ts.Phase, ts.Reason)}
	}
	return true, nil
}
