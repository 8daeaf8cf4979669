package window

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/analysis/csvbound"
)

// ErrCSV is matched by a traffic CSV that ReadCSV cannot read.
var ErrCSV = errors.New("invalid traffic CSV")

// Bounds of a traffic CSV (ReadCSV). The NASA HTTP 1995 hourly file is
// 56 KB, 1,489 rows of 4 columns; the bounds allow about 30 years of hours
// while keeping a hostile file from exhausting memory: reading stops at the
// first bound exceeded, with a *csvbound.LimitError (errors.Is ErrCSV and
// csvbound.ErrLimit) naming the line and the bound.
const (
	// MaxCSVBytes is the largest traffic file, in bytes.
	MaxCSVBytes = 32 << 20
	// MaxCSVRows is the most rows (hours) after the header.
	MaxCSVRows = 262_144
	// MaxCSVColumns is the most columns in a row or the header.
	MaxCSVColumns = 64
	// MaxCSVField is the longest cell, in bytes.
	MaxCSVField = 1024
)

// csvBounds are the bounds above, and the names that say where they are
// set, for csvbound.
func csvBounds() (csvbound.Limits, csvbound.Names) {
	return csvbound.Limits{Bytes: MaxCSVBytes, Rows: MaxCSVRows, Columns: MaxCSVColumns, Field: MaxCSVField},
		csvbound.Names{Bytes: "window.MaxCSVBytes", Rows: "window.MaxCSVRows",
			Columns: "window.MaxCSVColumns", Field: "window.MaxCSVField"}
}

// Column names ReadCSV accepts (case-insensitive).
var (
	csvTimeColumns  = []string{"hour_start_local", "hour_start", "time", "timestamp"}
	csvValueColumns = []string{"requests", "value"}
	csvFlagColumn   = "flag"
)

// CSVSource is hourly traffic read from a CSV file, for evaluation and
// tests. It holds every row in memory.
type CSVSource struct {
	samples []Sample
}

// ReadCSV reads a header row and then one row per hour: the hour's start
// as RFC 3339 (column hour_start_local, hour_start, time or timestamp),
// its traffic (requests or value) and an optional flag. A row with a
// non-empty flag (an outage, no data, a partial hour) or an empty value is
// Missing, with the flag (or "no_data") as its Flag. The file is streamed
// within MaxCSVBytes, MaxCSVRows, MaxCSVColumns and MaxCSVField.
func ReadCSV(r io.Reader) (*CSVSource, error) {
	limits, names := csvBounds()
	cr := csvbound.NewReader("", r, limits, names)
	header, _, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrCSV, err)
	}
	col := func(names []string) int {
		return slices.IndexFunc(header, func(h string) bool {
			return slices.Contains(names, strings.ToLower(strings.TrimSpace(h)))
		})
	}
	ti, vi, fi := col(csvTimeColumns), col(csvValueColumns), col([]string{csvFlagColumn})
	if ti < 0 || vi < 0 {
		return nil, fmt.Errorf("%w: header %q needs a time column (%s) and a value column (%s)",
			ErrCSV, strings.Join(header, ","), strings.Join(csvTimeColumns, ", "), strings.Join(csvValueColumns, ", "))
	}
	src := &CSVSource{}
	for {
		rec, line, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCSV, err)
		}
		if ti >= len(rec) || vi >= len(rec) {
			return nil, fmt.Errorf("%w: line %d: %d fields, want at least %d", ErrCSV, line, len(rec), max(ti, vi)+1)
		}
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(rec[ti]))
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: time %q is not RFC 3339", ErrCSV, line, rec[ti])
		}
		s := Sample{Start: t}
		if fi >= 0 && fi < len(rec) {
			s.Flag = strings.TrimSpace(rec[fi])
		}
		raw := strings.TrimSpace(rec[vi])
		switch {
		case raw == "":
			s.Missing = true
			if s.Flag == "" {
				s.Flag = "no_data"
			}
		default:
			v, err := strconv.ParseFloat(raw, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				return nil, fmt.Errorf("%w: line %d: value %q is not a non-negative number", ErrCSV, line, raw)
			}
			s.Value = v
			s.Missing = s.Flag != ""
		}
		if n := len(src.samples); n > 0 && !t.After(src.samples[n-1].Start) {
			return nil, fmt.Errorf("%w: line %d: %s is not after the previous row", ErrCSV, line, rec[ti])
		}
		src.samples = append(src.samples, s)
	}
	return src, nil
}

// Samples returns every row, in order.
func (c *CSVSource) Samples() []Sample { return slices.Clone(c.samples) }

// HourlyTraffic returns the rows whose hour lies inside [from, to). Hours
// missing between rows are returned as Missing with flag "absent".
func (c *CSVSource) HourlyTraffic(_ context.Context, from, to time.Time) ([]Sample, error) {
	i, _ := slices.BinarySearchFunc(c.samples, from, func(s Sample, t time.Time) int { return s.Start.Compare(t) })
	var out []Sample
	next := from.Truncate(time.Hour)
	if next.Before(from) {
		next = next.Add(time.Hour)
	}
	for ; i < len(c.samples); i++ {
		s := c.samples[i]
		if s.Start.Add(time.Hour).After(to) {
			break
		}
		for ; next.Before(s.Start); next = next.Add(time.Hour) {
			out = append(out, Sample{Start: next, Missing: true, Flag: "absent"})
		}
		out = append(out, s)
		next = s.Start.Add(time.Hour)
	}
	return out, nil
}
