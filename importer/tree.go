package importer

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/config"
)

// walk is one conversion in progress: what was left out, and what could
// not be read.
type walk struct {
	file string
	// doc names the document being read, "Kind/name", in report paths.
	doc      string
	unmapped []Unmapped
	problems config.Errors
	// reads holds, per mapping, the keys the conversion read.
	reads map[*yaml.Node]map[string]bool
}

// node is a value of the input at a field path. It remembers which keys
// of a mapping the conversion read, so that every other key is reported.
type node struct {
	w    *walk
	n    *yaml.Node
	path string
	read map[string]bool
}

func (w *walk) root(n *yaml.Node) node { return w.at(n, "") }

func (w *walk) at(n *yaml.Node, path string) node {
	if n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		n = nil
	}
	if w.reads == nil {
		w.reads = map[*yaml.Node]map[string]bool{}
	}
	read := w.reads[n]
	if read == nil {
		read = map[string]bool{}
		if n != nil {
			w.reads[n] = read
		}
	}
	return node{w: w, n: n, path: path, read: read}
}

// ok reports whether the value is present.
func (x node) ok() bool { return x.n != nil }

func (x node) line() int {
	if x.n == nil {
		return 0
	}
	return x.n.Line
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// get returns the value of key and marks it read.
func (x node) get(key string) node {
	x.read[key] = true
	if x.n == nil || x.n.Kind != yaml.MappingNode {
		return x.w.at(nil, join(x.path, key))
	}
	for i := 0; i+1 < len(x.n.Content); i += 2 {
		if x.n.Content[i].Value == key {
			return x.w.at(x.n.Content[i+1], join(x.path, key))
		}
	}
	return x.w.at(nil, join(x.path, key))
}

// has reports whether key is present, without marking it read.
func (x node) has(key string) bool {
	if x.n == nil || x.n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(x.n.Content); i += 2 {
		if x.n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// fail records a value that cannot be read.
func (x node) fail(format string, args ...any) {
	pos := config.Position{File: x.w.file}
	if x.n != nil {
		pos.Line, pos.Column = x.n.Line, x.n.Column
	}
	x.w.problems = append(x.w.problems, config.FieldError{Pos: pos, Field: x.path, Message: fmt.Sprintf(format, args...)})
}

// unmapped records that the value at x has no Sluice equivalent, and why.
func (x node) unmapped(reason string) { x.report(Dropped, reason) }

// note records a value that was converted only approximately, and how.
func (x node) note(reason string) { x.report(Approximated, reason) }

func (x node) report(kind UnmappedKind, reason string) {
	if x.n == nil {
		return
	}
	path := x.path
	if x.w.doc != "" {
		path = x.w.doc + ": " + path
	}
	x.w.unmapped = append(x.w.unmapped, Unmapped{Path: path, Line: x.n.Line, Kind: kind, Reason: reason})
}

// rest reports every key of the mapping not read, with the reason given
// for it in reasons or fallback.
func (x node) rest(reasons map[string]string, fallback string) {
	if x.n == nil || x.n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(x.n.Content); i += 2 {
		k := x.n.Content[i].Value
		if x.read[k] {
			continue
		}
		reason, ok := reasons[k]
		if !ok {
			reason = fallback
		}
		x.w.at(x.n.Content[i+1], join(x.path, k)).unmapped(reason)
	}
}

// mapping checks that x is a mapping (or absent).
func (x node) mapping() bool {
	if x.n != nil && x.n.Kind != yaml.MappingNode {
		x.fail("want a mapping")
		return false
	}
	return x.n != nil
}

// keys lists a mapping's keys in order.
func (x node) keys() []string {
	if x.n == nil || x.n.Kind != yaml.MappingNode {
		return nil
	}
	var ks []string
	for i := 0; i+1 < len(x.n.Content); i += 2 {
		ks = append(ks, x.n.Content[i].Value)
	}
	return ks
}

// list returns the items of a sequence.
func (x node) list() []node {
	if x.n == nil {
		return nil
	}
	if x.n.Kind != yaml.SequenceNode {
		x.fail("want a list")
		return nil
	}
	items := make([]node, len(x.n.Content))
	for i, c := range x.n.Content {
		items[i] = x.w.at(c, fmt.Sprintf("%s[%d]", x.path, i))
	}
	return items
}

// str returns a scalar as text ("" when absent).
func (x node) str() string {
	if x.n == nil {
		return ""
	}
	if x.n.Kind != yaml.ScalarNode {
		x.fail("want a text value")
		return ""
	}
	return x.n.Value
}

// number returns a number; ok is false when absent or not a number.
func (x node) number() (float64, bool) {
	if x.n == nil {
		return 0, false
	}
	t := x.n.ShortTag()
	if x.n.Kind != yaml.ScalarNode || (t != "!!int" && t != "!!float") {
		x.fail("want a number, got %q", clip(x.n.Value))
		return 0, false
	}
	v, err := strconv.ParseFloat(x.n.Value, 64)
	if err != nil {
		x.fail("want a number, got %q", clip(x.n.Value))
		return 0, false
	}
	return v, true
}

// count returns a whole number from 0 to max.
func (x node) count(max int) (int, bool) {
	v, ok := x.number()
	if !ok {
		return 0, false
	}
	if v != float64(int(v)) || v < 0 || v > float64(max) {
		x.fail("want a whole number from 0 to %d, got %s", max, clip(x.n.Value))
		return 0, false
	}
	return int(v), true
}

// duration reads a Go or Kubernetes-style duration ("1m", "30s", "1h30m").
// A bare number is read as seconds when seconds is set.
func (x node) duration(seconds bool) (time.Duration, bool) {
	if x.n == nil {
		return 0, false
	}
	if seconds && x.n.ShortTag() == "!!int" {
		n, ok := x.count(1 << 30)
		return time.Duration(n) * time.Second, ok
	}
	d, err := time.ParseDuration(x.str())
	if err != nil || d < 0 {
		x.fail("want a duration such as \"30s\" or \"5m\", got %q", clip(x.str()))
		return 0, false
	}
	return d, true
}

func clip(s string) string { return config.Clip(s, 64) }

// sortUnmapped orders the report by line, then path.
func sortUnmapped(us []Unmapped) {
	sort.SliceStable(us, func(i, j int) bool {
		if us[i].Line != us[j].Line {
			return us[i].Line < us[j].Line
		}
		return us[i].Path < us[j].Path
	})
}
