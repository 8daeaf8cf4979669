// Command canarysim prints the canary-analysis simulation table of
// docs/analysis.md: synthetic releases through the real Measure, Judge
// and Decide, against a Flagger-style threshold and a Kayenta-style
// Mann-Whitney judge on the same series.
package main

import (
	"flag"
	"os"

	"github.com/sluicehq/sluice/analysis/canarysim"
)

func main() {
	n := flag.Int("releases", 1000, "releases per scenario")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	canarysim.Print(os.Stdout, canarysim.Simulate(canarysim.Scenarios(), *n, *seed))
}
