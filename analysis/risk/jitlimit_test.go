package risk

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/analysis/csvbound"
)

// rowsForever is a JIT data file that never ends, sampling the heap as it
// is read.
type rowsForever struct {
	header, row string
	given       int64
	pos         int
	peakHeap    uint64
	nextSample  int64
}

func (e *rowsForever) Read(p []byte) (int, error) {
	if e.given >= e.nextSample {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		e.peakHeap = max(e.peakHeap, ms.HeapAlloc)
		e.nextSample += 4 << 20
	}
	n := 0
	for n < len(p) {
		src := e.row
		if e.given < int64(len(e.header)) {
			src = e.header
		}
		k := copy(p[n:], src[e.pos:])
		n, e.given, e.pos = n+k, e.given+int64(k), e.pos+k
		if e.pos == len(src) {
			e.pos = 0
		}
	}
	return n, nil
}

const jitHeaderLine = "_id,date,bug,la,ld,nf,nd,ns,entrophy,exp,fix,age\n"

// TestReadJITStopsOnEndlessInput: an endless file stops at the row bound
// (short rows) or the byte bound (long rows), having read no more than the
// bound, with the heap bounded all along.
func TestReadJITStopsOnEndlessInput(t *testing.T) {
	cases := []struct {
		name, row, limit string
	}{
		{"rows", "c1,1500000000,0,2,69,7,3,2,0.7,36,0,12.5\n", "rows"},
		{"bytes", strings.Repeat("x", 1000) + ",1500000000,0,2,69,7,3,2,0.7,36,0,12.5\n", "bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			in := &rowsForever{header: jitHeaderLine, row: c.row}
			_, err := ReadJIT(in)
			var le *csvbound.LimitError
			if !errors.As(err, &le) || !errors.Is(err, ErrBadCSV) || le.Limit != c.limit {
				t.Fatalf("error %v, want the %s bound", err, c.limit)
			}
			if in.given > MaxJITBytes+1<<20 {
				t.Errorf("read %d bytes, the bound is %d", in.given, MaxJITBytes)
			}
			// The changes kept up to the row bound cost a few hundred
			// bytes each; an unbounded reader would keep going forever.
			if grew := int64(in.peakHeap) - int64(before.HeapAlloc); grew > 256<<20 {
				t.Errorf("heap grew by %d MB while reading", grew>>20)
			}
			t.Logf("%s: stopped after %d MB, heap peak +%d MB: %v", c.name, in.given>>20,
				(int64(in.peakHeap)-int64(before.HeapAlloc))>>20, err)
		})
	}
}

// TestReadJITLimits: each bound exceeded names the file, the line and the
// bound.
func TestReadJITLimits(t *testing.T) {
	row := "c1,1500000000,0,2,69,7,3,2,0.7,36,0,12.5\n"
	cases := []struct {
		name, in, limit string
		line            int
	}{
		{"columns", strings.Repeat("x,", MaxJITColumns) + "x\n" + row, "columns", 1},
		{"field", jitHeaderLine + row + strings.Repeat("9", MaxJITField+1) + ",1500000000,0,2,69,7,3,2,0.7,36,0,12.5\n", "field bytes", 3},
		{"rows", jitHeaderLine + strings.Repeat(row, MaxJITRows+1), "rows", MaxJITRows + 2},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name+"_k_feature.csv")
			if err := os.WriteFile(path, []byte(c.in), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadProject(path)
			var le *csvbound.LimitError
			if !errors.As(err, &le) || le.Limit != c.limit || le.Line != c.line {
				t.Fatalf("error %v, want the %s bound at line %d", err, c.limit, c.line)
			}
			for _, want := range []string{path, "line", "risk.MaxJIT"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%q does not say %q", err, want)
				}
			}
		})
	}
}

// TestShippedDataWithinLimits: the benchmark's files and the repository's
// test data read within the bounds.
func TestShippedDataWithinLimits(t *testing.T) {
	files, _ := filepath.Glob("testdata/*_k_feature.csv")
	dir := os.Getenv("SLUICE_JIT_DATA")
	if dir == "" {
		dir = "/work/shared/data/jit/issta21-jit-dp"
	}
	shipped, _ := filepath.Glob(filepath.Join(dir, "*_k_feature.csv"))
	if len(shipped) == 0 {
		t.Logf("JIT-DP data not found in %s; checking the test data only", dir)
	}
	for _, f := range append(files, shipped...) {
		p, err := LoadProject(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Changes) == 0 {
			t.Fatalf("%s: no changes", f)
		}
	}
}

var _ io.Reader = (*rowsForever)(nil)
