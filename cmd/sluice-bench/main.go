// Command sluice-bench runs Sluice's benchmarks that need more than `go
// test -bench` (docs/benchmarks.md): the xDS fan-out comparison, the
// convergence of real Envoys, and a cluster of sluice server processes
// with streams on every node.
//
//	sluice-bench fanout --streams 1000,5000,10000 --rounds 20 --conns-per 100 [--json]
//	sluice-bench convergence --envoys 1,10,25 --rounds 10
//	sluice-bench cluster --nodes 5 --nonvoters 2 --streams-per 10000 --rounds 5
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot(os.Stdin, os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func newRoot(in io.Reader, out, errOut io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "sluice-bench",
		Short:         "Benchmarks of Sluice that need a running node and many xDS streams",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	root.AddCommand(newFanoutCmd(), newClientCmd(), newConvergenceCmd(), newBareCmd(), newClusterCmd())
	return root
}
