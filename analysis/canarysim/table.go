package canarysim

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"
)

// Row is what one method did over many releases of one scenario.
type Row struct {
	Scenario
	Method   string
	Releases int
	// RolledBack is the share of releases rolled back; for a healthy
	// canary (Multiple 1) that is the false-rollback rate.
	RolledBack float64
	// Median and P95 are the times from the release's start to the
	// rollback, over the rolled-back releases.
	Median, P95 time.Duration
	// Inconclusive is the share of releases rolled back by the
	// inconclusive limit (too little evidence for too long).
	Inconclusive float64
}

// Simulate runs n releases of each scenario with a fixed seed.
func Simulate(scenarios []Scenario, n int, seed uint64) []Row {
	var rows []Row
	for i, sc := range scenarios {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		times := map[string][]time.Duration{}
		inconclusive := map[string]int{}
		for range n {
			for m, o := range Run(sc, rng) {
				if o.RolledBack {
					times[m] = append(times[m], o.At)
				}
				if o.Inconclusive {
					inconclusive[m]++
				}
			}
		}
		for _, m := range []string{MethodSluice, MethodFlagger, MethodKayenta} {
			r := Row{Scenario: sc, Method: m, Releases: n, RolledBack: float64(len(times[m])) / float64(n),
				Inconclusive: float64(inconclusive[m]) / float64(n)}
			if ts := times[m]; len(ts) > 0 {
				slices.Sort(ts)
				r.Median, r.P95 = ts[len(ts)/2], ts[min(len(ts)-1, int(0.95*float64(len(ts))))]
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// Scenarios are the grid: canary traffic 10, 100 and 1,000
// requests per second; stable at 0%, 0.1% and 1% errors; the canary at
// 1, 1.5, 2, 5, 10 and 100 times stable's error ratio. A multiple of a
// 0% baseline is still 0%, so at 0% only the healthy canary is run.
func Scenarios() []Scenario {
	var out []Scenario
	for _, rps := range []float64{10, 100, 1000} {
		for _, base := range []float64{0, 0.001, 0.01} {
			for _, mult := range []float64{1, 1.5, 2, 5, 10, 100} {
				if base == 0 && mult != 1 {
					continue
				}
				out = append(out, Scenario{CanaryRPS: rps, Baseline: base, Multiple: mult})
			}
		}
	}
	return out
}

// Print writes rows as a Markdown table.
func Print(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| canary rps | stable errors | canary × | method | releases | rolled back | median to rollback | p95 to rollback | by inconclusive limit |")
	fmt.Fprintln(w, "| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rows {
		med, p95 := "-", "-"
		if r.RolledBack > 0 {
			med, p95 = r.Median.String(), r.P95.String()
		}
		fmt.Fprintf(w, "| %g | %g%% | %g | %s | %d | %.1f%% | %s | %s | %.1f%% |\n", r.CanaryRPS, 100*r.Baseline, r.Multiple,
			r.Method, r.Releases, 100*r.RolledBack, med, p95, 100*r.Inconclusive)
	}
}
