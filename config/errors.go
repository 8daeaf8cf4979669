package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// AsErrors extracts the field errors from err, if it carries any.
func AsErrors(err error) (Errors, bool) {
	var es Errors
	if errors.As(err, &es) {
		return es, true
	}
	return nil, false
}
