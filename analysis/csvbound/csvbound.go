// Package csvbound reads CSV files from users within fixed bounds: a
// maximum size in bytes, a maximum number of rows, of columns and of bytes
// in one field. It streams: reading stops at the first bound exceeded, so
// a huge, endless or malformed input (one giant line, millions of rows,
// thousands of columns) costs at most the bounds in memory and time.
//
// The readers of the analysis packages (risk.ReadJITWith, window.ReadCSV)
// declare their own limits, sized for their data sets, and use this one
// reader.
package csvbound

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
)

// ErrLimit is matched by every LimitError: an input exceeded one of the
// reader's bounds and was not read further.
var ErrLimit = errors.New("input exceeds a limit")

// Limits bound one input. Every field must be positive.
type Limits struct {
	// Bytes is the largest input, in bytes.
	Bytes int64
	// Rows is the most records after the header.
	Rows int
	// Columns is the most fields in one record (the header included).
	Columns int
	// Field is the longest field, in bytes. A physical line may be at most
	// Columns*(Field+3) bytes (every field quoted, with its separator), so
	// one line without a newline cannot fill memory up to Bytes.
	Field int
}

// LimitError says which bound an input exceeded, where.
type LimitError struct {
	// File names the input ("" when the caller gave no name).
	File string
	// Line is the line (1 is the header) at which the bound was exceeded.
	Line int
	// Limit names the bound: "bytes", "rows", "columns", "field bytes" or
	// "line bytes".
	Limit string
	// Max is the bound's value.
	Max int64
	// Const names the constant that sets the bound (risk.MaxJITRows).
	Const string
}

func (e *LimitError) Error() string {
	where := fmt.Sprintf("line %d", e.Line)
	if e.File != "" {
		where = e.File + ": " + where
	}
	return fmt.Sprintf("%s: %v: more than %d %s (the limit, %s)", where, ErrLimit, e.Max, e.Limit, e.Const)
}

// Unwrap makes errors.Is(err, ErrLimit) hold.
func (e *LimitError) Unwrap() error { return ErrLimit }

// Names says which constants set each bound, for the messages.
type Names struct {
	Bytes, Rows, Columns, Field string
}

// Reader reads records from one input within its Limits.
type Reader struct {
	name  string
	lim   Limits
	names Names
	in    *meter
	cr    *csv.Reader
	rows  int // records returned, the header included
	err   *LimitError
}

// NewReader reads r, named name in errors, within lim; names says which
// constants set lim. Records may have different numbers of fields (the
// caller checks what it needs).
func NewReader(name string, r io.Reader, lim Limits, names Names) *Reader {
	m := &meter{r: r, maxBytes: lim.Bytes, maxLine: int64(lim.Columns) * int64(lim.Field+3), line: 1}
	cr := csv.NewReader(m)
	cr.FieldsPerRecord = -1
	return &Reader{name: name, lim: lim, names: names, in: m, cr: cr}
}

// Read returns the next record (the first is the header) and the line it
// starts on, io.EOF at the end, a *LimitError past a bound, or the CSV
// parser's error. Once past a bound, it reads no further and returns the
// same *LimitError.
func (r *Reader) Read() ([]string, int, error) {
	if r.err != nil {
		return nil, r.err.Line, r.err
	}
	rec, err := r.cr.Read()
	if r.in.over != "" {
		return nil, r.in.overLine, r.limitErr(r.in.overLine, r.in.over)
	}
	if err != nil {
		return nil, r.in.line, err
	}
	line, _ := r.cr.FieldPos(0)
	r.rows++
	if r.rows-1 > r.lim.Rows {
		return nil, line, r.limitErr(line, "rows")
	}
	if len(rec) > r.lim.Columns {
		return nil, line, r.limitErr(line, "columns")
	}
	for _, f := range rec {
		if len(f) > r.lim.Field {
			return nil, line, r.limitErr(line, "field bytes")
		}
	}
	return rec, line, nil
}

func (r *Reader) limitErr(line int, what string) error {
	e := &LimitError{File: r.name, Line: line, Limit: what}
	r.err = e
	switch what {
	case "bytes":
		e.Max, e.Const = r.lim.Bytes, r.names.Bytes
	case "rows":
		e.Max, e.Const = int64(r.lim.Rows), r.names.Rows
	case "columns":
		e.Max, e.Const = int64(r.lim.Columns), r.names.Columns
	case "field bytes":
		e.Max, e.Const = int64(r.lim.Field), r.names.Field
	case "line bytes":
		e.Max, e.Const = r.in.maxLine, fmt.Sprintf("%s*(%s+3)", r.names.Columns, r.names.Field)
	}
	return e
}

// errOver stops the CSV parser once the meter has seen too much; Reader
// reports the meter's LimitError instead.
var errOver = errors.New("csvbound: over a limit")

// meter passes bytes through while counting them, in all and per line, and
// fails at the first byte over a bound.
type meter struct {
	r        io.Reader
	maxBytes int64
	maxLine  int64
	total    int64
	lineLen  int64
	line     int
	over     string // the bound exceeded, once one is
	overLine int
}

func (m *meter) Read(p []byte) (int, error) {
	if m.over != "" {
		return 0, errOver
	}
	// Never read past the byte bound by more than one byte: the extra byte
	// says there is more.
	if rest := m.maxBytes + 1 - m.total; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := m.r.Read(p)
	for chunk := p[:n]; len(chunk) > 0; {
		j := bytes.IndexByte(chunk, '\n')
		if j < 0 {
			m.lineLen += int64(len(chunk))
			break
		}
		m.lineLen += int64(j)
		if m.lineLen > m.maxLine {
			break
		}
		m.lineLen = 0
		m.line++
		chunk = chunk[j+1:]
	}
	m.total += int64(n)
	switch {
	case m.lineLen > m.maxLine:
		return m.fail("line bytes")
	case m.total > m.maxBytes:
		return m.fail("bytes")
	}
	return n, err
}

func (m *meter) fail(what string) (int, error) {
	m.over, m.overLine = what, m.line
	return 0, errOver
}
