package demo

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// BarWidth is the width of the share bar in text reports.
const BarWidth = 30

// BarLatest as a Reporter's BarVersion makes the bar follow the latest
// version that has answered so far: the last one in version order (v2
// before v10), so a release's new version takes the bar as soon as it
// gets traffic.
const BarLatest = "latest"

// Reporter prints one line per interval: a compact text line for people or
// a JSON object for programs. It is not safe for concurrent use.
type Reporter struct {
	w io.Writer
	// JSON selects machine-readable lines.
	JSON bool
	// BarVersion is the version whose share the bar shows (default "v2"),
	// or BarLatest.
	BarVersion string
	seen       []string
}

// NewReporter writes to w.
func NewReporter(w io.Writer) *Reporter { return &Reporter{w: w, BarVersion: "v2"} }

// reportJSON is one JSON line.
type reportJSON struct {
	Time     time.Time          `json:"time"`
	Seconds  float64            `json:"seconds"`
	Total    bool               `json:"total,omitempty"`
	RPCs     uint64             `json:"rpcs"`
	OK       uint64             `json:"ok"`
	Errors   uint64             `json:"errors"`
	Dropped  uint64             `json:"dropped,omitempty"`
	Versions map[string]uint64  `json:"versions"`
	Shares   map[string]float64 `json:"shares"`
	Codes    map[string]uint64  `json:"codes,omitempty"`
}

// Report prints the counts c of an interval of length d ending at now.
// total marks the summary of a whole run.
func (r *Reporter) Report(now time.Time, d time.Duration, c Counts, total bool) error {
	// Keep every version seen so far in the line, so columns do not jump
	// when a version drops to zero.
	for _, v := range c.Versions() {
		if !slices.Contains(r.seen, v) {
			r.seen = append(r.seen, v)
			slices.SortFunc(r.seen, CompareVersions)
		}
	}
	if r.JSON {
		shares := map[string]float64{}
		for _, v := range r.seen {
			shares[v] = math.Round(c.Share(v)*1e4) / 1e4
		}
		b, err := json.Marshal(reportJSON{Time: now.UTC(), Seconds: d.Seconds(), Total: total, RPCs: c.RPCs(), OK: c.OK,
			Errors: c.Errors, Dropped: c.Dropped, Versions: c.ByVersion, Shares: shares, Codes: c.ByCode})
		if err != nil {
			return fmt.Errorf("encode report: %w", err)
		}
		_, err = fmt.Fprintf(r.w, "%s\n", b)
		return err
	}
	bar := r.BarVersion
	if bar == BarLatest && len(r.seen) > 0 {
		bar = r.seen[len(r.seen)-1]
	}
	_, err := fmt.Fprintln(r.w, FormatLine(now, c, r.seen, bar, total))
	return err
}

// CompareVersions orders version names with runs of digits compared as
// numbers: "v2" < "v10" < "v10a". It returns -1, 0 or +1.
func CompareVersions(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

// digitRun is the length of the run of ASCII digits s starts with.
func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// FormatLine renders one text report, for example
//
//	12:00:05  50 rpc  v1  80.0% | v2  20.0%  err 0     [######······················] v2
func FormatLine(now time.Time, c Counts, versions []string, barVersion string, total bool) string {
	var b strings.Builder
	if total {
		b.WriteString("total   ")
	} else {
		b.WriteString(now.Format("15:04:05"))
	}
	fmt.Fprintf(&b, " %4d rpc ", c.RPCs())
	if len(versions) == 0 {
		b.WriteString(" (no answers)")
	}
	for i, v := range versions {
		if i > 0 {
			b.WriteString(" |")
		}
		fmt.Fprintf(&b, " %s %5.1f%%", v, 100*c.Share(v))
	}
	errs := fmt.Sprintf("err %d", c.Errors)
	if c.Errors > 0 {
		errs += fmt.Sprintf(" (%.1f%%)", 100*float64(c.Errors)/float64(c.RPCs()))
	}
	if c.Dropped > 0 {
		errs += fmt.Sprintf(" dropped %d", c.Dropped)
	}
	fmt.Fprintf(&b, "  %-12s %s %s", errs, Bar(c.Share(barVersion), BarWidth), barVersion)
	return b.String()
}

// Bar draws share (0..1) as a bar of width cells.
func Bar(share float64, width int) string {
	n := int(math.Round(max(0, min(1, share)) * float64(width)))
	return "[" + strings.Repeat("█", n) + strings.Repeat("·", width-n) + "]"
}
