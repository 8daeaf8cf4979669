package calendar

import (
	"fmt"
	"slices"
	"strings"
)

// The content-line layer: it unfolds an iCalendar text, remembers the
// physical line of every content line, checks the content-line grammar
// and the BEGIN/END nesting, and writes the text out again one content
// line per physical line. go-ical then decodes that text into components.
// The layer exists because go-ical reports no positions and panics on
// some malformed lines; after this check it receives only lines it
// decodes, and every component and property it returns can be traced
// back to the line it came from (components and, within a component, the
// properties of one name keep their order).

// maxDepth bounds component nesting (VCALENDAR > VEVENT > VALARM needs 3).
const maxDepth = 8

// maxParamBytes bounds the parameter part of one content line: go-ical
// builds parameter values a byte at a time.
const maxParamBytes = 4096

// scannedComponent is one component as the scanner saw it.
type scannedComponent struct {
	name string
	line int
	// props maps a property name to the lines it appears on, in order.
	props    map[string][]int
	children []*scannedComponent
}

// propLine returns the line of the i-th property called name, or the
// component's own line.
func (c *scannedComponent) propLine(name string, i int) int {
	if lines := c.props[name]; i < len(lines) {
		return lines[i]
	}
	return c.line
}

// scan reads text into normalized content lines and the component tree.
// It returns the problems it found; when there are any the text must not
// be decoded further.
func scan(text string) (normalized string, root *scannedComponent, errs ICSError) {
	var out strings.Builder
	out.Grow(len(text))
	var stack []*scannedComponent
	events := 0
	add := func(line int, format string, args ...any) {
		if len(errs) < maxProblems {
			errs = append(errs, LineError{Line: line, Msg: fmt.Sprintf(format, args...)})
		}
	}
	lines := unfold(text)
	for _, cl := range lines {
		name, value, msg := checkContentLine(cl.text)
		if msg != "" {
			add(cl.line, "%s", msg)
			continue
		}
		switch name {
		case "BEGIN":
			comp := strings.ToUpper(value)
			switch {
			case root != nil && len(stack) == 0:
				add(cl.line, "BEGIN:%s after END:VCALENDAR (line %d closed the calendar)", comp, root.line)
				continue
			case len(stack) == 0 && comp != "VCALENDAR":
				add(cl.line, "BEGIN:%s outside BEGIN:VCALENDAR", comp)
				continue
			case len(stack) > 0 && comp == "VCALENDAR":
				add(cl.line, "BEGIN:VCALENDAR inside %s (line %d)", stack[len(stack)-1].name, stack[len(stack)-1].line)
				continue
			case len(stack) >= maxDepth:
				add(cl.line, "components nested more than %d deep", maxDepth)
				return "", nil, errs
			case comp == "VEVENT" && len(stack) != 1:
				add(cl.line, "BEGIN:VEVENT must be directly inside VCALENDAR")
			case comp == "VEVENT":
				if events++; events > MaxEvents {
					add(cl.line, "more than %d events", MaxEvents)
					return "", nil, errs
				}
			}
			c := &scannedComponent{name: comp, line: cl.line, props: map[string][]int{}}
			if len(stack) > 0 {
				parent := stack[len(stack)-1]
				parent.children = append(parent.children, c)
			} else {
				root = c
			}
			stack = append(stack, c)
		case "END":
			comp := strings.ToUpper(value)
			if len(stack) == 0 {
				add(cl.line, "END:%s without BEGIN:%s", comp, comp)
				continue
			}
			top := stack[len(stack)-1]
			if top.name != comp {
				add(cl.line, "END:%s does not match BEGIN:%s at line %d", comp, top.name, top.line)
				continue
			}
			stack = stack[:len(stack)-1]
		default:
			if len(stack) == 0 {
				add(cl.line, "%s outside BEGIN:VCALENDAR", name)
				continue
			}
			top := stack[len(stack)-1]
			top.props[name] = append(top.props[name], cl.line)
		}
		out.WriteString(cl.text)
		out.WriteString("\r\n")
	}
	for i := len(stack) - 1; i >= 0; i-- {
		add(stack[i].line, "BEGIN:%s has no matching END:%s", stack[i].name, stack[i].name)
	}
	if root == nil && len(errs) == 0 {
		line := 1
		if len(lines) > 0 {
			line = lines[0].line
		}
		add(line, "not an iCalendar text: expected BEGIN:VCALENDAR")
	}
	slices.SortStableFunc(errs, func(a, b LineError) int { return a.Line - b.Line })
	return out.String(), root, errs
}

// physicalLine is one unfolded content line and the physical line it
// starts on (1-based).
type physicalLine struct {
	line int
	text string
}

// unfold joins continuation lines (starting with a space or tab) to the
// line before and drops empty lines, keeping each line's first physical
// line number.
func unfold(text string) []physicalLine {
	var out []physicalLine
	var cur strings.Builder
	curLine := 0
	flush := func() {
		if curLine > 0 {
			out = append(out, physicalLine{line: curLine, text: cur.String()})
		}
		cur.Reset()
		curLine = 0
	}
	for i, raw := range strings.Split(text, "\n") {
		raw = strings.TrimSuffix(raw, "\r")
		if (strings.HasPrefix(raw, " ") || strings.HasPrefix(raw, "\t")) && curLine > 0 {
			cur.WriteString(raw[1:])
			continue
		}
		flush()
		if strings.TrimSpace(raw) == "" {
			continue
		}
		curLine = i + 1
		cur.WriteString(raw)
	}
	flush()
	return out
}

// checkContentLine checks NAME *(";" PARAM "=" VALUE *("," VALUE)) ":"
// VALUE (RFC 5545 section 3.1) and returns the upper-cased name and the
// value, or why the line is not a content line.
func checkContentLine(s string) (name, value, msg string) {
	i := 0
	for i < len(s) && isNameByte(s[i]) {
		i++
	}
	if i == 0 || i == len(s) || (s[i] != ';' && s[i] != ':') {
		return "", "", fmt.Sprintf("expected NAME:VALUE, got %q", clipText(s))
	}
	name = strings.ToUpper(s[:i])
	paramStart := i
	for i < len(s) && s[i] == ';' {
		i++
		j := i
		for i < len(s) && isNameByte(s[i]) {
			i++
		}
		if i == j || i == len(s) || s[i] != '=' {
			return "", "", fmt.Sprintf("%s: a parameter is not NAME=VALUE in %q", name, clipText(s))
		}
		for {
			i++ // the '=' or ','
			if i < len(s) && s[i] == '"' {
				end := strings.IndexByte(s[i+1:], '"')
				if end < 0 {
					return "", "", fmt.Sprintf("%s: unterminated quoted parameter value", name)
				}
				i += end + 2
			} else {
				for i < len(s) && !strings.ContainsRune("\";,:", rune(s[i])) {
					i++
				}
			}
			if i == len(s) {
				return "", "", fmt.Sprintf("%s: no ':' before the value", name)
			}
			if s[i] != ',' {
				break
			}
		}
		if s[i] != ';' && s[i] != ':' {
			return "", "", fmt.Sprintf("%s: unexpected %q after a parameter value", name, s[i])
		}
	}
	if i-paramStart > maxParamBytes {
		return "", "", fmt.Sprintf("%s: parameters longer than %d bytes", name, maxParamBytes)
	}
	if i == len(s) || s[i] != ':' {
		return "", "", fmt.Sprintf("%s: no ':' before the value", name)
	}
	return name, s[i+1:], ""
}

// isNameByte reports whether c may be part of a property or parameter
// name (iana-token and x-name: letters, digits and '-').
func isNameByte(c byte) bool {
	return c == '-' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

func clipText(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
