package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// ErrInvalid is matched (errors.Is) by every problem Parse, Check and
// CheckDelete report as Errors, syntax errors included: the input is not
// acceptable and nothing of it has been applied.
var ErrInvalid = errors.New("invalid configuration")

// ErrSyntax is matched by input that is not well-formed YAML or JSON. An
// Errors value matches it when at least one of its FieldErrors has Syntax
// set; it then matches ErrInvalid as well.
var ErrSyntax = errors.New("malformed document")

// ErrNotFound is matched when a request names an object that does not
// exist (CheckDelete of an unknown Service or ReleasePolicy). It does not
// depend on any particular state implementation.
var ErrNotFound = errors.New("not found")

// FieldError is one problem at one place in the input.
type FieldError struct {
	Pos Position `json:"pos"`
	// Kind and Name identify the document, when known.
	Kind Kind   `json:"kind,omitempty"`
	Name string `json:"name,omitempty"`
	// Field is the path inside the document, e.g. "spec.versions[1].weight".
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	// Syntax marks input that is not well-formed YAML or JSON (as opposed
	// to well-formed input that breaks a rule).
	Syntax bool `json:"syntax,omitempty"`
	// Omitted, on the last entry of a long list, counts the further
	// problems that are not listed (see MaxReportedErrors).
	Omitted int `json:"omitted,omitempty"`
}

// Limits on what one problem echoes back from the input.
const (
	maxEchoedName  = 64
	maxEchoedField = 256
	maxMessageLen  = 512
)

// newFieldError builds a problem, clipping everything that echoes the
// input so that a hostile name cannot make the answer as large as itself.
func newFieldError(pos Position, kind Kind, name, field, msg string) FieldError {
	return FieldError{
		Pos:     pos,
		Kind:    kind,
		Name:    Clip(name, maxEchoedName),
		Field:   Clip(field, maxEchoedField),
		Message: Clip(msg, maxMessageLen),
	}
}

// Clip shortens s to at most n bytes (on a character boundary), saying how
// much was cut. Everything that echoes input back in a message uses it.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s...(%d more bytes)", s[:cut], len(s)-cut)
}

// Error renders "file:line:col: Service "web": spec.port: must be 1-65535".
// A problem without a position (documents that did not come from a file,
// such as those replicated through the Raft log) starts with the kind.
func (e FieldError) Error() string {
	var b strings.Builder
	if e.Pos != (Position{}) {
		b.WriteString(e.Pos.String())
		b.WriteString(": ")
	}
	if e.Kind != "" {
		b.WriteString(string(e.Kind))
		if e.Name != "" {
			fmt.Fprintf(&b, " %q", e.Name)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	if e.Omitted > 0 {
		fmt.Fprintf(&b, "%d ", e.Omitted)
	}
	b.WriteString(e.Message)
	return b.String()
}

// Errors is every problem found in one input, in source order.
type Errors []FieldError

// Error renders one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Is makes errors.Is(err, ErrInvalid) true for any Errors value, and
// errors.Is(err, ErrSyntax) true when one of the problems is a syntax error.
func (es Errors) Is(target error) bool {
	switch target {
	case ErrInvalid:
		return true
	case ErrSyntax:
		return slices.ContainsFunc(es, func(e FieldError) bool { return e.Syntax })
	}
	return false
}

// sortErrors orders problems by source position: files in the order they
// first appear, then line and column. Problems without a position keep
// their relative order and come last.
func sortErrors(es Errors) {
	fileRank := map[string]int{}
	for _, e := range es {
		if e.Pos == (Position{}) {
			continue
		}
		if _, ok := fileRank[e.Pos.File]; !ok {
			fileRank[e.Pos.File] = len(fileRank)
		}
	}
	slices.SortStableFunc(es, func(a, b FieldError) int {
		az, bz := a.Pos == (Position{}), b.Pos == (Position{})
		switch {
		case az && bz:
			return 0
		case az:
			return 1
		case bz:
			return -1
		}
		return cmp.Or(
			cmp.Compare(fileRank[a.Pos.File], fileRank[b.Pos.File]),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Column, b.Pos.Column),
		)
	})
}

// limitErrors sorts problems by position and keeps the first
// MaxReportedErrors; the rest, and any counted in Omitted entries, are
// summed up in one last entry. dropped counts problems never stored.
func limitErrors(es Errors, dropped int) Errors {
	kept := es[:0:0]
	omitted := dropped
	for _, e := range es {
		if e.Omitted > 0 && e.Message == omittedMessage {
			omitted += e.Omitted
			continue
		}
		kept = append(kept, e)
	}
	sortErrors(kept)
	if len(kept) > MaxReportedErrors {
		omitted += len(kept) - MaxReportedErrors
		kept = kept[:MaxReportedErrors]
	}
	if omitted > 0 {
		var file string
		if len(kept) > 0 {
			file = kept[0].Pos.File
		}
		kept = append(kept, FieldError{Pos: Position{File: file}, Message: omittedMessage, Omitted: omitted})
	}
	return kept
}

// omittedMessage is the message of the entry that sums up unlisted
// problems; the count is in Omitted.
const omittedMessage = "more problems not listed; fix these first"

// Total is the number of problems, listed or not.
func (es Errors) Total() int {
	n := 0
	for _, e := range es {
		if e.Omitted > 0 && e.Message == omittedMessage {
			n += e.Omitted
			continue
		}
		n++
	}
	return n
}

// AsErrors extracts the field errors from err, if it carries any.
func AsErrors(err error) (Errors, bool) {
	var es Errors
	if errors.As(err, &es) {
		return es, true
	}
	return nil, false
}
