package risk

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/analysis/csvbound"
)

// ErrBadCSV: a JIT data file is not in the expected format.
var ErrBadCSV = errors.New("bad JIT data file")

// Bounds of a JIT data file (ReadJITWith). The benchmark's largest file
// (qt_k_feature.csv) is 3.4 MB, 23,912 rows of 19 columns, no field over
// 40 bytes; the bounds leave a wide margin for a larger history while
// keeping a hostile file from exhausting memory: reading stops at the first
// bound exceeded, with a *csvbound.LimitError (errors.Is ErrBadCSV and
// csvbound.ErrLimit) naming the line and the bound.
const (
	// MaxJITBytes is the largest data file, in bytes.
	MaxJITBytes = 64 << 20
	// MaxJITRows is the most data rows (commits) after the header.
	MaxJITRows = 250_000
	// MaxJITColumns is the most columns in a row or the header.
	MaxJITColumns = 256
	// MaxJITField is the longest cell, in bytes.
	MaxJITField = 1024
)

// jitBounds are the bounds above, and the names that say where they are
// set, for csvbound.
func jitBounds() (csvbound.Limits, csvbound.Names) {
	return csvbound.Limits{Bytes: MaxJITBytes, Rows: MaxJITRows, Columns: MaxJITColumns, Field: MaxJITField},
		csvbound.Names{Bytes: "risk.MaxJITBytes", Rows: "risk.MaxJITRows",
			Columns: "risk.MaxJITColumns", Field: "risk.MaxJITField"}
}

// MissingColumnsError says which columns the model uses that a data file's
// header lacks (after the mapping), all at once. It wraps ErrBadCSV.
type MissingColumnsError struct {
	// Columns are the missing columns by the names Sluice reads (la, age).
	Columns []string
	text    string // with what each was mapped to
}

func (e *MissingColumnsError) Error() string {
	return fmt.Sprintf("%v: header has no column for %s, which the model uses (name the file's columns with a mapping, e.g. la=LinesAdded)", ErrBadCSV, e.text)
}

func (e *MissingColumnsError) Unwrap() error { return ErrBadCSV }

// Change is one labelled commit of a just-in-time defect prediction data
// set (the Kamei-style "k_feature" files of the ISSTA'21 JIT-DP benchmark).
type Change struct {
	ID string
	// Date is the commit time, Unix seconds.
	Date int64
	// Buggy: the commit was later found to induce a fix (SZZ).
	Buggy bool
	// Features carries the columns Sluice's change descriptor has: la, ld,
	// nf, nd, ns, entrophy, exp and fix.
	Features Features
}

// Sample returns the change as a training sample of a group (project).
func (c Change) Sample(group string) Sample {
	return Sample{Features: c.Features, Failed: c.Buggy, Group: group}
}

// jitColumn is one column of a JIT data file that holds a model feature,
// and how a cell of it is read into the features.
type jitColumn struct {
	name    string // the benchmark's column name
	feature string // the feature it holds
	read    func(f *Features, p *rowParser, col string)
}

// jitFeatureColumns are the data file's columns for the features a JIT
// data set carries, in the order they are reported.
func jitFeatureColumns() []jitColumn {
	return []jitColumn{
		{"la", FeatLinesAdded, func(f *Features, p *rowParser, c string) { f.LinesAdded = p.count(c) }},
		{"ld", FeatLinesDeleted, func(f *Features, p *rowParser, c string) { f.LinesDeleted = p.count(c) }},
		{"nf", FeatFiles, func(f *Features, p *rowParser, c string) { f.Files = p.count(c) }},
		{"nd", FeatDirectories, func(f *Features, p *rowParser, c string) { f.Directories = p.count(c) }},
		{"ns", FeatSubsystems, func(f *Features, p *rowParser, c string) { f.Subsystems = p.count(c) }},
		{"entrophy", FeatEntropy, func(f *Features, p *rowParser, c string) { f.Entropy = ptr(p.number(c)) }},
		{"exp", FeatAuthorExperience, func(f *Features, p *rowParser, c string) { f.AuthorExperience = p.count(c) }},
		{"fix", FeatFix, func(f *Features, p *rowParser, c string) { f.Fix = ptr(p.flag(c)) }},
		{"age", FeatFilesAge, func(f *Features, p *rowParser, c string) { f.FilesAge = ptr(p.number(c)) }},
	}
}

// jitBaseColumns are always read: the commit time and the label. _id is
// read when present.
func jitBaseColumns() []string { return []string{"date", "bug"} }

// jitColumnNames lists every column a data file may hold for Sluice.
func jitColumnNames() []string {
	out := append([]string{"_id"}, jitBaseColumns()...)
	for _, c := range jitFeatureColumns() {
		out = append(out, c.name)
	}
	return out
}

// ColumnsFor are the data columns a model with these terms needs: date,
// bug and the column of every term a JIT data set carries (release-time
// terms such as offHours have none and are skipped).
func ColumnsFor(terms []FeatureSpec) []string {
	out := jitBaseColumns()
	for _, c := range jitFeatureColumns() {
		if slices.ContainsFunc(terms, func(t FeatureSpec) bool { return t.Name == c.feature }) {
			out = append(out, c.name)
		}
	}
	return out
}

// ReadOptions say how to read a data file that is not laid out as the
// benchmark's.
type ReadOptions struct {
	// Map names, by column Sluice reads (la, date, ...), the file's column
	// that holds it; unnamed columns are looked up by their own name.
	Map map[string]string
	// Terms are the model's terms: only their columns (ColumnsFor) are
	// required, and the other feature columns are read when present.
	// Default DefaultTerms().
	Terms []FeatureSpec
	// Name names the input in errors (LoadProjectWith sets the file's
	// path).
	Name string
}

// ReadJIT reads a JIT data file laid out as the benchmark's.
func ReadJIT(r io.Reader) ([]Change, error) {
	cs, _, err := ReadJITWith(r, ReadOptions{})
	return cs, err
}

// ReadJITWith reads a JIT data file in file order: a CSV with a header
// naming at least date, bug and the columns of opts.Terms (ColumnsFor), or
// the columns opts.Map names for them. Other feature columns (la, ld, nf,
// nd, ns, entrophy, exp, fix, age) and _id are read when present; a
// feature whose column is absent is missing (nil). Every missing column is reported in one error; other
// errors say the line and column. Dates are Unix seconds, RFC 3339 or
// "YYYY/MM/DD HH:MM" (UTC). The warnings say what looks wrong but reads:
// churn (la, ld) that looks relative (fractions of the file's size). The
// file is streamed within MaxJITBytes, MaxJITRows, MaxJITColumns and
// MaxJITField. Errors start with opts.Name when it is set.
func ReadJITWith(r io.Reader, opts ReadOptions) ([]Change, []string, error) {
	cs, warns, err := readJIT(r, opts)
	if err != nil && opts.Name != "" {
		return nil, nil, fmt.Errorf("%s: %w", opts.Name, err)
	}
	return cs, warns, err
}

func readJIT(r io.Reader, opts ReadOptions) ([]Change, []string, error) {
	limits, names := jitBounds()
	cr := csvbound.NewReader("", r, limits, names)
	header, _, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: reading header: %w", ErrBadCSV, err)
	}
	terms := opts.Terms
	if terms == nil {
		terms = DefaultTerms()
	}
	col, err := jitHeader(header, opts.Map, ColumnsFor(terms))
	if err != nil {
		return nil, nil, err
	}
	var out []Change
	fractional := 0
	for {
		rec, line, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrBadCSV, err)
		}
		if len(rec) != len(header) {
			return nil, nil, fmt.Errorf("%w: line %d: wrong number of fields: %d, the header has %d", ErrBadCSV, line, len(rec), len(header))
		}
		p := rowParser{rec: rec, col: col, line: line}
		if p.fraction("la") || p.fraction("ld") {
			fractional++
		}
		c := Change{Date: p.date("date"), Buggy: p.flag("bug"), Features: p.features()}
		if i, ok := col["_id"]; ok {
			c.ID = rec[i]
		}
		if p.err != nil {
			return nil, nil, p.err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("%w: no data rows", ErrBadCSV)
	}
	var warns []string
	if fractional > 0 {
		warns = append(warns, fmt.Sprintf("%d of %d rows have fractional churn (la, ld): it looks relative (a share of the file's lines), but the model counts lines added and deleted; the values were rounded", fractional, len(out)))
	}
	return out, warns, nil
}

// jitHeader maps each column Sluice reads to its index, through the
// mapping. The required columns must be there (every missing one is named
// at once); the others are mapped when present.
func jitHeader(header []string, mapping map[string]string, required []string) (map[string]int, error) {
	at := map[string]int{}
	for i, h := range header {
		at[strings.TrimSpace(h)] = i
	}
	known := jitColumnNames()
	for _, k := range slices.Sorted(maps.Keys(mapping)) {
		if !slices.Contains(known, k) {
			return nil, fmt.Errorf("%w: the mapping names %q, which is not a column Sluice reads (%s)", ErrBadCSV, k, strings.Join(known, ", "))
		}
	}
	col := map[string]int{}
	var missing, names []string
	for _, c := range known {
		name := c
		if m, ok := mapping[c]; ok {
			name = m
		}
		if i, ok := at[name]; ok {
			col[c] = i
			continue
		}
		switch {
		case !slices.Contains(required, c):
		case name != c:
			missing, names = append(missing, fmt.Sprintf("%s (mapped to %q)", c, name)), append(names, c)
		default:
			missing, names = append(missing, c), append(names, c)
		}
	}
	if len(missing) > 0 {
		return nil, &MissingColumnsError{Columns: names, text: strings.Join(missing, ", ")}
	}
	return col, nil
}

func ptr[T any](v T) *T { return &v }

// rowParser reads typed cells of one CSV record and keeps the first error.
type rowParser struct {
	rec  []string
	col  map[string]int
	line int
	err  error
}

func (p *rowParser) fail(name, want string) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: line %d, column %s: %q is not %s", ErrBadCSV, p.line, name, p.rec[p.col[name]], want)
	}
}

func (p *rowParser) number(name string) float64 {
	v, err := strconv.ParseFloat(p.rec[p.col[name]], 64)
	if err != nil || !finite(v) || v < 0 {
		p.fail(name, "a non-negative number")
		return 0
	}
	return v
}

// dateLayouts are the date forms a data file may use besides Unix seconds.
var dateLayouts = []string{time.RFC3339, "2006/01/02 15:04"}

// date reads a commit time as Unix seconds.
func (p *rowParser) date(name string) int64 {
	cell := strings.TrimSpace(p.rec[p.col[name]])
	if v, err := strconv.ParseFloat(cell, 64); err == nil && finite(v) && v >= 0 {
		return int64(v)
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, cell); err == nil {
			return t.Unix()
		}
	}
	p.fail(name, "a date (Unix seconds, RFC 3339 or YYYY/MM/DD HH:MM)")
	return 0
}

// features reads the feature columns the file has; the others stay nil.
func (p *rowParser) features() Features {
	var f Features
	for _, c := range jitFeatureColumns() {
		if _, ok := p.col[c.name]; !ok {
			continue
		}
		c.read(&f, p, c.name)
	}
	return f
}

// fraction says whether a count cell holds a non-integral number; false
// when the file has no such column.
func (p *rowParser) fraction(name string) bool {
	if _, ok := p.col[name]; !ok {
		return false
	}
	v, err := strconv.ParseFloat(p.rec[p.col[name]], 64)
	return err == nil && finite(v) && v != math.Trunc(v)
}

func (p *rowParser) count(name string) *int {
	n := int(math.Round(p.number(name)))
	return &n
}

func (p *rowParser) flag(name string) bool {
	switch p.rec[p.col[name]] {
	case "1", "1.0", "True", "true":
		return true
	case "0", "0.0", "False", "false":
		return false
	}
	p.fail(name, "0 or 1")
	return false
}

// ProjectName names a data file's project: its base name up to the first
// "_" or ".", so "data/qt_k_feature.csv" is "qt".
func ProjectName(path string) string {
	base := filepath.Base(path)
	if i := strings.IndexAny(base, "_."); i > 0 {
		return base[:i]
	}
	return base
}

// LoadProject reads a JIT data file as a project named by ProjectName.
func LoadProject(path string) (Project, error) {
	p, _, err := LoadProjectWith(path, ReadOptions{})
	return p, err
}

// LoadProjectWith reads a data file with opts (ReadJITWith) as a project
// named by ProjectName, and returns the reader's warnings.
func LoadProjectWith(path string, opts ReadOptions) (Project, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return Project{}, nil, fmt.Errorf("opening JIT data: %w", err)
	}
	defer f.Close()
	opts.Name = path
	cs, warns, err := ReadJITWith(f, opts)
	if err != nil {
		return Project{}, nil, err
	}
	return Project{Name: ProjectName(path), Changes: cs}, warns, nil
}
