package risk

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrBadCSV: a JIT data file is not in the expected format.
var ErrBadCSV = errors.New("bad JIT data file")

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

// ReadJIT reads a JIT data file in file order: a CSV with a header naming
// at least the columns _id, date, bug, la, ld, nf, nd, ns, entrophy, exp
// and fix (others are ignored). Errors say the line and column.
func ReadJIT(r io.Reader) ([]Change, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: reading header: %w", ErrBadCSV, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, c := range []string{"_id", "date", "bug", "la", "ld", "nf", "nd", "ns", "entrophy", "exp", "fix"} {
		if _, ok := col[c]; !ok {
			return nil, fmt.Errorf("%w: header has no %q column", ErrBadCSV, c)
		}
	}
	var out []Change
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadCSV, err)
		}
		p := rowParser{rec: rec, col: col, line: line}
		c := Change{
			ID:    rec[col["_id"]],
			Date:  int64(p.number("date")),
			Buggy: p.flag("bug"),
			Features: Features{
				LinesAdded:       p.count("la"),
				LinesDeleted:     p.count("ld"),
				Files:            p.count("nf"),
				Directories:      p.count("nd"),
				Subsystems:       p.count("ns"),
				Entropy:          ptr(p.number("entrophy")),
				AuthorExperience: p.count("exp"),
				Fix:              ptr(p.flag("fix")),
			},
		}
		if p.err != nil {
			return nil, p.err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no data rows", ErrBadCSV)
	}
	return out, nil
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
	f, err := os.Open(path)
	if err != nil {
		return Project{}, fmt.Errorf("opening JIT data: %w", err)
	}
	defer f.Close()
	cs, err := ReadJIT(f)
	if err != nil {
		return Project{}, fmt.Errorf("%s: %w", path, err)
	}
	return Project{Name: ProjectName(path), Changes: cs}, nil
}
