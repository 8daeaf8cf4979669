package csvbound

import (
	"errors"
	"io"
	"strings"
	"testing"
)

var small = Limits{Bytes: 1000, Rows: 3, Columns: 4, Field: 8}

var names = Names{Bytes: "B", Rows: "R", Columns: "C", Field: "F"}

// readAll reads every record of in within small.
func readAll(in string) ([][]string, error) {
	r := NewReader("f.csv", strings.NewReader(in), small, names)
	var out [][]string
	for {
		rec, _, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}

func TestWithinLimits(t *testing.T) {
	recs, err := readAll("a,b,c,d\n1,2,3,4\n\"x,y\",2\n5,6,7,12345678\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || recs[2][0] != "x,y" {
		t.Fatalf("records %q", recs)
	}
}

// TestEachLimit: each bound exceeded is a *LimitError naming the file, the
// line, the bound and its constant, and no record is returned after it.
func TestEachLimit(t *testing.T) {
	cases := []struct {
		name, in, limit, cons string
		line                  int
	}{
		{"rows", "a\n1\n2\n3\n4\n5\n", "rows", "R", 5},
		{"columns", "a\n1\n1,2,3,4,5\n", "columns", "C", 3},
		{"header columns", "a,b,c,d,e\n1\n", "columns", "C", 1},
		{"field", "a\n1\n123456789\n", "field bytes", "F", 3},
		{"quoted field", "a\n\"12345\n6789\"\n", "field bytes", "F", 2},
		{"line", "a\n" + strings.Repeat("x", 45) + "\n", "line bytes", "C*(F+3)", 2},
		{"bytes", "a\n" + strings.Repeat("1,2,3,4\n", 200), "bytes", "B", 126},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lim := small
			if c.limit == "bytes" {
				lim.Rows = 1000
			}
			r := NewReader("f.csv", strings.NewReader(c.in), lim, names)
			var err error
			for err == nil {
				_, _, err = r.Read()
			}
			var le *LimitError
			if !errors.As(err, &le) || !errors.Is(err, ErrLimit) {
				t.Fatalf("error %v, want a LimitError", err)
			}
			if le.Limit != c.limit || le.Line != c.line || le.File != "f.csv" || le.Const != c.cons {
				t.Fatalf("got %+v, want limit %q at line %d", le, c.limit, c.line)
			}
			for _, want := range []string{"f.csv", "line", c.cons} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%q does not say %q", err, want)
				}
			}
			if _, _, again := r.Read(); !errors.Is(again, ErrLimit) {
				t.Errorf("read after the limit: %v", again)
			}
		})
	}
}

// endless is a CSV that never ends: a header, then the same row forever.
// It counts the bytes it gave.
type endless struct {
	header, row string
	given       int64
	pos         int
}

func (e *endless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		src := e.row
		if e.given < int64(len(e.header)) {
			src = e.header
		}
		k := copy(p[n:], src[e.pos:])
		n += k
		e.given += int64(k)
		e.pos += k
		if e.pos == len(src) {
			e.pos = 0
		}
	}
	return n, nil
}

// TestEndlessLineStops: one line that never ends stops at the line bound,
// not the byte bound.
func TestEndlessLineStops(t *testing.T) {
	in := &endless{header: "a\n", row: "x"}
	r := NewReader("", in, Limits{Bytes: 1 << 30, Rows: 10, Columns: 4, Field: 100}, names)
	var err error
	for err == nil {
		_, _, err = r.Read()
	}
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != "line bytes" {
		t.Fatalf("error %v, want the line bound", err)
	}
	if in.given > 1<<20 {
		t.Fatalf("read %d bytes of one endless line", in.given)
	}
}

// FuzzRead: any input reads within the bounds or fails; no record is
// longer than the bounds allow.
func FuzzRead(f *testing.F) {
	f.Add("a,b\n1,2\n")
	f.Add("a\n\"x\ny\"\n")
	f.Add(strings.Repeat("x,", 10))
	f.Fuzz(func(t *testing.T, in string) {
		r := NewReader("", strings.NewReader(in), small, names)
		for rows := 0; ; rows++ {
			rec, _, err := r.Read()
			if err != nil {
				return
			}
			if rows > small.Rows || len(rec) > small.Columns {
				t.Fatalf("record %d %q past the bounds", rows, rec)
			}
			for _, c := range rec {
				if len(c) > small.Field {
					t.Fatalf("field %q past the bound", c)
				}
			}
		}
	})
}
