package window

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/analysis/csvbound"
)

// hoursForever is a traffic CSV that never ends: a header, then one row
// per hour from 1995-07-01 on.
type hoursForever struct {
	buf   []byte
	hour  int
	given int64
	long  string // appended to every row's flag
	began bool
}

func (h *hoursForever) Read(p []byte) (int, error) {
	for len(h.buf) < len(p) {
		if !h.began {
			h.buf, h.began = append(h.buf, "hour_start,requests,flag\n"...), true
		}
		t := time.Date(1995, 7, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(h.hour) * time.Hour)
		h.buf = fmt.Appendf(h.buf, "%s,100,%s\n", t.Format(time.RFC3339), h.long)
		h.hour++
	}
	n := copy(p, h.buf)
	h.buf = h.buf[n:]
	h.given += int64(n)
	return n, nil
}

// TestReadCSVStopsOnEndlessInput: an endless traffic file stops at the row
// bound (short rows) or the byte bound (long rows), having read no more
// than the bound.
func TestReadCSVStopsOnEndlessInput(t *testing.T) {
	for _, c := range []struct{ name, long, limit string }{
		{"rows", "", "rows"},
		{"bytes", strings.Repeat("x", 200), "bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := &hoursForever{long: c.long}
			_, err := ReadCSV(in)
			var le *csvbound.LimitError
			if !errors.As(err, &le) || !errors.Is(err, ErrCSV) || le.Limit != c.limit {
				t.Fatalf("error %v, want the %s bound", err, c.limit)
			}
			if in.given > MaxCSVBytes+1<<20 {
				t.Errorf("read %d bytes, the bound is %d", in.given, MaxCSVBytes)
			}
			if !strings.Contains(err.Error(), "window.MaxCSV") || le.Line < 2 {
				t.Errorf("%q does not name the line and bound", err)
			}
		})
	}
}

// TestReadCSVLimits: too many columns or a too long cell is refused at its
// line.
func TestReadCSVLimits(t *testing.T) {
	row := "1995-07-01T00:00:00Z,100\n"
	for _, c := range []struct {
		name, in, limit string
		line            int
	}{
		{"columns", "hour_start,requests\n" + row + strings.Repeat("1,", MaxCSVColumns) + "1\n", "columns", 3},
		{"field", "hour_start,requests\n" + row + "1995-07-01T01:00:00Z," + strings.Repeat("1", MaxCSVField+1) + "\n", "field bytes", 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(c.in))
			var le *csvbound.LimitError
			if !errors.As(err, &le) || le.Limit != c.limit || le.Line != c.line {
				t.Fatalf("error %v, want the %s bound at line %d", err, c.limit, c.line)
			}
		})
	}
}
