package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/test/envoybench"
	"github.com/sluicehq/sluice/test/envoytest"
)

type convergenceFlags struct {
	envoys   string
	rounds   int
	services int
	sluice   string
	jsonOut  bool
	verbose  bool
}

func newConvergenceCmd() *cobra.Command {
	var f convergenceFlags
	cmd := &cobra.Command{
		Use:   "convergence --envoys 1,10,25 --rounds 10",
		Short: "Time from sluice apply to M real Envoys holding the new route, against a bare go-control-plane server",
		Long: `For each fleet size M: start one Sluice node (the sluice binary) and M real
Envoys (ENVOY, PATH or make envoy), time --rounds weight changes from the
API call to every Envoy's config_dump holding the new route (each Envoy's
own last_updated), then hand the same Envoys over to a bare
go-control-plane server (SnapshotCache in ADS mode, in a child process)
holding the same resources and time --rounds SetSnapshot calls the same
way. Prints p50 and max over every Envoy and round, their ratio, and the
CPU time per round of each control plane and of all Envoys.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runConvergence(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.envoys, "envoys", "1,10,25", "fleet sizes, comma-separated")
	fl.IntVar(&f.rounds, "rounds", 10, "weight changes timed per control plane and fleet size")
	fl.IntVar(&f.services, "services", 20, "http services in the configuration (one gateway port)")
	fl.StringVar(&f.sluice, "sluice", "bin/sluice", "the sluice binary")
	fl.BoolVar(&f.jsonOut, "json", false, "print JSON instead of a table")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log every round")
	return cmd
}

func runConvergence(cmd *cobra.Command, f convergenceFlags) error {
	sizes, err := parseCounts(f.envoys)
	if err != nil {
		return fmt.Errorf("--envoys: %w", err)
	}
	envoy, err := envoytest.Find()
	if err != nil {
		return err
	}
	if _, err := os.Stat(f.sluice); err != nil {
		return fmt.Errorf("--sluice %s: %w (make build makes bin/sluice)", f.sluice, err)
	}
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var results []*envoybench.Result
	for _, m := range sizes {
		dir, err := os.MkdirTemp("", "sluice-convergence-")
		if err != nil {
			return err
		}
		res, err := envoybench.Run(cmd.Context(), envoybench.Config{
			Envoys: m, Rounds: f.rounds, Services: f.services, SluiceBin: f.sluice, EnvoyBin: envoy, Dir: dir,
			StartBare: func(addr string, services, port, split int, version string) (envoybench.Bare, error) {
				return startChildBare(self, addr, services, port, split, version)
			},
			Logger: log,
		})
		if err != nil {
			return fmt.Errorf("%d envoys: %w (logs kept in %s)", m, err, dir)
		}
		os.RemoveAll(dir)
		results = append(results, res)
		log.Info("done", "envoys", m, "sluiceP50", res.Sluice.P50(), "bareP50", res.Bare.P50())
	}
	if f.jsonOut {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		v, _ := envoytest.Version(envoy)
		return enc.Encode(map[string]any{"cpus": runtime.NumCPU(), "goVersion": runtime.Version(), "envoyVersion": v,
			"rounds": f.rounds, "services": f.services, "results": results})
	}
	writeConvergence(cmd.OutOrStdout(), envoy, results)
	return nil
}

func writeConvergence(w io.Writer, envoy string, rs []*envoybench.Result) {
	v, _ := envoytest.Version(envoy)
	fmt.Fprintf(w, "Envoy %s, %d CPUs, %s; latency = Envoy's last_updated of the new route - just before the change\n\n", v, runtime.NumCPU(), runtime.Version())
	fmt.Fprintln(w, "| Envoys | Sluice p50 | Sluice max | bare p50 | bare max | ratio p50 | ratio max | Sluice CPU ms/round | bare CPU ms/round | Envoy CPU ms/round (Sluice, bare) |")
	fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rs {
		s, b := r.Sluice, r.Bare
		fmt.Fprintf(w, "| %d | %s ms | %s ms | %s ms | %s ms | %s | %s | %s | %s | %s, %s |\n", r.Envoys,
			ms(s.P50()), ms(s.Max()), ms(b.P50()), ms(b.Max()), ratio(s.P50(), b.P50()), ratio(s.Max(), b.Max()),
			cpuMS(s.ControlCPU), cpuMS(b.ControlCPU), cpuMS(s.EnvoyCPU), cpuMS(b.EnvoyCPU))
	}
}

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f×", float64(a)/float64(b))
}

// childBare is the bare server in a child process (`sluice-bench
// bare-xds`), so that its CPU time is its own.
type childBare struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startChildBare(self, addr string, services, port, split int, version string) (*childBare, error) {
	cmd := exec.Command(self, "bare-xds", "--listen", addr, "--services", fmt.Sprint(services),
		"--port", fmt.Sprint(port), "--split", fmt.Sprint(split), "--version", version)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &childBare{cmd: cmd, in: in, out: bufio.NewReader(out)}
	if err := c.expectOK(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *childBare) expectOK() error {
	line, err := c.out.ReadString('\n')
	if err != nil {
		return fmt.Errorf("%w: bare server: %w", errChild, err)
	}
	if line = strings.TrimSpace(line); line != "ok" {
		return fmt.Errorf("%w: bare server: %s", errChild, line)
	}
	return nil
}

func (c *childBare) Set(split int, version string) error {
	if _, err := fmt.Fprintf(c.in, "set %d %s\n", split, version); err != nil {
		return err
	}
	return c.expectOK()
}

func (c *childBare) CPU() time.Duration { return envoybench.ProcessCPU(c.cmd.Process.Pid) }

func (c *childBare) Close() error {
	c.in.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
	return nil
}

func newBareCmd() *cobra.Command {
	var (
		listen                string
		services, port, split int
		version               string
	)
	cmd := &cobra.Command{
		Use:    "bare-xds",
		Short:  "The convergence benchmark's bare go-control-plane server (reads \"set SPLIT VERSION\" lines)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lis, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			s, err := envoybench.ServeBare(lis, services, port, split, version)
			if err != nil {
				return err
			}
			defer s.Close()
			return serveBareCommands(cmd.Context(), s, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:0", "listen address")
	f.IntVar(&services, "services", 20, "services in the fleet")
	f.IntVar(&port, "port", 10000, "the fleet's gateway port")
	f.IntVar(&split, "split", 0, "the split to start at")
	f.StringVar(&version, "version", "bare-0", "the first snapshot's version")
	return cmd
}

// serveBareCommands answers "ok" once serving and after each "set SPLIT
// VERSION" line, until stdin closes.
func serveBareCommands(ctx context.Context, s *envoybench.BareServer, in io.Reader, out io.Writer) error {
	fmt.Fprintln(out, "ok")
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var split int
		var version string
		if _, err := fmt.Sscanf(sc.Text(), "set %d %s", &split, &version); err != nil || split < 0 || split > 1 {
			fmt.Fprintf(out, "bad command %q\n", sc.Text())
			continue
		}
		if err := s.Set(split, version); err != nil {
			fmt.Fprintf(out, "set: %v\n", err)
			continue
		}
		fmt.Fprintln(out, "ok")
		if ctx.Err() != nil {
			return nil
		}
	}
	return sc.Err()
}
