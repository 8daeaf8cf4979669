package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/calendar"
)

// icsFileKey is the convenience key `sluice apply` resolves: in a
// policy's spec.schedule.calendar or spec.schedule.onCall, `icsFile: PATH`
// names an iCalendar file (relative to the YAML file), which the CLI
// inlines as `ics:` before sending. The cluster only ever sees inline
// text, so every node validates the same bytes.
const icsFileKey = "icsFile"

type icsRef struct {
	line, col int // 1-based position of the icsFile key
	endCol    int // 0-based end (exclusive) of the value on that line
	path      string
}

// resolveICSFiles replaces each `icsFile: PATH` with `ics: "<text>"` on the
// same line, so every other line keeps its number and errors still point
// at the right place.
func resolveICSFiles(name string, data []byte) ([]byte, error) {
	if !bytes.Contains(data, []byte(icsFileKey)) {
		return data, nil
	}
	var refs []icsRef
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if err == io.EOF {
				break
			}
			return data, nil // let the server report the syntax error with its position
		}
		collectICSRefs(&doc, nil, &refs)
	}
	if len(refs) == 0 {
		return data, nil
	}
	lines := strings.Split(string(data), "\n")
	sort.Slice(refs, func(i, j int) bool {
		return refs[i].line > refs[j].line || refs[i].line == refs[j].line && refs[i].col > refs[j].col
	})
	base := "."
	if name != "<stdin>" {
		base = filepath.Dir(name)
	}
	for _, r := range refs {
		p := r.path
		if !filepath.IsAbs(p) {
			p = filepath.Join(base, p)
		}
		text, err := readFileLimited(p, calendar.MaxICSBytes)
		if err != nil {
			return nil, fmt.Errorf("%s:%d:%d: %s: %w", name, r.line, r.col, icsFileKey, err)
		}
		quoted, _ := json.Marshal(string(text))
		l := lines[r.line-1]
		if r.endCol > len(l) || r.col-1 > r.endCol {
			return nil, fmt.Errorf("%s:%d:%d: %s: put the file name on the same line as the key", name, r.line, r.col, icsFileKey)
		}
		lines[r.line-1] = l[:r.col-1] + "ics: " + string(quoted) + l[r.endCol:]
	}
	return []byte(strings.Join(lines, "\n")), nil
}

// collectICSRefs finds icsFile keys under spec.schedule.calendar and
// spec.schedule.onCall.
func collectICSRefs(n *yaml.Node, path []string, out *[]icsRef) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			collectICSRefs(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := append(append([]string(nil), path...), k.Value)
			if k.Value == icsFileKey && v.Kind == yaml.ScalarNode && len(path) >= 3 &&
				path[len(path)-3] == "spec" && path[len(path)-2] == "schedule" &&
				(path[len(path)-1] == "calendar" || path[len(path)-1] == "onCall") && v.Line == k.Line {
				width := len(v.Value)
				if v.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
					width += 2
				}
				*out = append(*out, icsRef{line: k.Line, col: k.Column, endCol: v.Column - 1 + width, path: v.Value})
				continue
			}
			collectICSRefs(v, p, out)
		}
	}
}
