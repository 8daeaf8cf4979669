package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/test/xdsload"
)

// errUsage is returned for bad flags.
var errUsage = errors.New("usage")

type fanoutFlags struct {
	streams    string
	rounds     int
	perConn    int
	services   int
	json       bool
	jsonOut    string
	inProcess  bool
	timeout    time.Duration
	cpuProfile string
	memProfile string
	verbose    bool
}

func newFanoutCmd() *cobra.Command {
	var f fanoutFlags
	cmd := &cobra.Command{
		Use:   "fanout",
		Short: "Time a weight change reaching N ADS streams: Sluice's path vs a bare go-control-plane SnapshotCache",
		Long: `For each N, start a single-node Sluice server in this process, apply 50
gRPC services, open N ADS streams (in a child process), then per round change
the benchmark service's weights through the API and time until the last
stream ACKs a route with the new weights. Then do the same against a bare
go-control-plane SnapshotCache holding xds.Translate of the same states,
pushed with SetSnapshot(NewSnapshot(version, resources)).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runFanout(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.streams, "streams", "1000,5000,10000", "comma-separated stream counts")
	fl.IntVar(&f.rounds, "rounds", 20, "weight changes timed per path and stream count")
	fl.IntVar(&f.perConn, "conns-per", 100, "streams per gRPC connection")
	fl.IntVar(&f.services, "services", 50, "gRPC services in the configuration")
	fl.BoolVar(&f.json, "json", false, "print the results as JSON instead of a table")
	fl.StringVar(&f.jsonOut, "json-out", "", "also write the results as JSON to this file")
	fl.BoolVar(&f.inProcess, "in-process", false, "run the client in this process (memory then counts client and server)")
	fl.DurationVar(&f.timeout, "timeout", 2*time.Minute, "bound on connecting and on each round")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of each path's rounds to FILE.<path>.<N>")
	fl.StringVar(&f.memProfile, "memprofile", "", "write a heap profile of the server once each path's streams are synced to FILE.<path>.<N>")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log every round")
	return cmd
}

func parseCounts(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%w: --streams: %q is not a positive number", errUsage, part)
		}
		out = append(out, n)
	}
	return out, nil
}

func runFanout(cmd *cobra.Command, f fanoutFlags) error {
	counts, err := parseCounts(f.streams)
	if err != nil {
		return err
	}
	if f.rounds <= 0 || f.perConn <= 0 || f.services <= 0 {
		return fmt.Errorf("%w: --rounds, --conns-per and --services must be positive", errUsage)
	}
	maxConns := uint64(slices.Max(counts)/f.perConn + 1)
	need := maxConns + 256
	if f.inProcess {
		need += maxConns
	}
	if err := raiseNoFile(need); err != nil {
		return err
	}
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	var results []*xdsload.FanoutResult
	for _, n := range counts {
		cfg := xdsload.FanoutConfig{
			Streams: n, Rounds: f.rounds, Services: f.services, Timeout: f.timeout, Logger: log,
			NewFleet: func() (xdsload.Fleet, error) {
				if f.inProcess {
					return xdsload.NewLocalFleet(xdsload.FleetOptions(n, f.perConn)), nil
				}
				return &remoteFleet{streams: n, perConn: f.perConn}, nil
			},
		}
		if f.memProfile != "" {
			cfg.Synced = func(path string) { writeHeapProfile(log, fmt.Sprintf("%s.%s.%d", f.memProfile, path, n)) }
		}
		if f.cpuProfile != "" {
			cfg.Profile = func(path string) func() { return startProfile(log, fmt.Sprintf("%s.%s.%d", f.cpuProfile, path, n)) }
		}
		log.Info("fan-out run", "streams", n, "rounds", f.rounds, "connsPer", f.perConn)
		res, err := xdsload.Fanout(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		results = append(results, res)
	}
	env := environment{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), ConnsPer: f.perConn, Rounds: f.rounds,
		Services: f.services, ClientInProcess: f.inProcess}
	if f.jsonOut != "" {
		out, err := os.Create(f.jsonOut)
		if err != nil {
			return fmt.Errorf("write results: %w", err)
		}
		err = writeJSON(out, env, results)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write results to %s: %w", f.jsonOut, err)
		}
	}
	if f.json {
		return writeJSON(cmd.OutOrStdout(), env, results)
	}
	writeTable(cmd.OutOrStdout(), env, results)
	return nil
}

func writeHeapProfile(log *slog.Logger, file string) {
	out, err := os.Create(file)
	if err != nil {
		log.Error("heap profile", "err", err)
		return
	}
	defer out.Close()
	if err := pprof.Lookup("heap").WriteTo(out, 0); err != nil {
		log.Error("heap profile", "err", err)
		return
	}
	log.Info("wrote heap profile", "file", file)
}

func startProfile(log *slog.Logger, file string) func() {
	out, err := os.Create(file)
	if err != nil {
		log.Error("cpu profile", "err", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		log.Error("cpu profile", "err", err)
		out.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		out.Close()
		log.Info("wrote cpu profile", "file", file)
	}
}

type environment struct {
	CPUs            int    `json:"cpus"`
	GoVersion       string `json:"goVersion"`
	ConnsPer        int    `json:"connsPer"`
	Rounds          int    `json:"rounds"`
	Services        int    `json:"services"`
	ClientInProcess bool   `json:"clientInProcess"`
}

// summary is what the table shows for one path.
type summary struct {
	P50       time.Duration `json:"p50Ns"`
	P99       time.Duration `json:"p99Ns"`
	Max       time.Duration `json:"maxNs"`
	MedianP50 time.Duration `json:"medianStreamP50Ns"`
	// MemPerStream is bytes of server heap and stacks per stream.
	MemPerStream float64 `json:"memPerStreamBytes"`
}

// percentile is the nearest-rank percentile of ds (p in (0, 100]).
func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(i, 0)]
}

func summarize(p xdsload.PathResult, n int) summary {
	return summary{
		P50: percentile(p.Rounds, 50), P99: percentile(p.Rounds, 99), Max: slices.Max(p.Rounds),
		MedianP50: percentile(p.Medians, 50), MemPerStream: p.Memory.PerStream(n),
	}
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) }

// cpuMS is ms, or "-" for an unknown (in-process) client.
func cpuMS(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return ms(d)
}

func writeTable(w io.Writer, env environment, results []*xdsload.FanoutResult) {
	fmt.Fprintf(w, "xDS fan-out: ms from the change to the last stream ACKing the new route, over %d rounds\n", env.Rounds)
	fmt.Fprintf(w, "(%d CPUs, %s, %d streams per connection, %d services, client in %s)\n\n",
		env.CPUs, env.GoVersion, env.ConnsPer, env.Services, map[bool]string{true: "this process", false: "a child process"}[env.ClientInProcess])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tsluice p50\tp99\tmax\tbare p50\tp99\tmax\tratio p50\tratio max\tmem/stream sluice\tbare\t")
	for _, r := range results {
		s, b := summarize(r.Sluice, r.Streams), summarize(r.Bare, r.Streams)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%.1f KiB\t%.1f KiB\t\n", r.Streams,
			ms(s.P50), ms(s.P99), ms(s.Max), ms(b.P50), ms(b.P99), ms(b.Max),
			float64(s.P50)/float64(b.P50), float64(s.Max)/float64(b.Max), s.MemPerStream/1024, b.MemPerStream/1024)
	}
	tw.Flush()
	fmt.Fprintln(w, "mem/stream: server live heap + goroutine stacks after every stream synced, minus before any was opened, / N")
	fmt.Fprintln(w, "\nmedian stream: p50 over rounds of each round's median stream, ms; CPU per round (server process, client process), ms;")
	fmt.Fprintln(w, "apply: p50 of the API call returning (committed through Raft), ms; sync: dialling to every stream holding config, s")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tsluice apply\tsluice median\tbare median\tsluice cpu srv\tclient\tbare cpu srv\tclient\tsluice sync\tbare sync\t")
	for _, r := range results {
		s, b := summarize(r.Sluice, r.Streams), summarize(r.Bare, r.Streams)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t\n", r.Streams, ms(percentile(r.Sluice.Applies, 50)), ms(s.MedianP50), ms(b.MedianP50),
			ms(r.Sluice.ServerCPU), cpuMS(r.Sluice.ClientCPU), ms(r.Bare.ServerCPU), cpuMS(r.Bare.ClientCPU),
			r.Sluice.Sync.Seconds(), r.Bare.Sync.Seconds())
	}
	tw.Flush()
}

func writeJSON(w io.Writer, env environment, results []*xdsload.FanoutResult) error {
	type row struct {
		*xdsload.FanoutResult
		SluiceSummary summary `json:"sluiceSummary"`
		BareSummary   summary `json:"bareSummary"`
		RatioP50      float64 `json:"ratioP50"`
		RatioMax      float64 `json:"ratioMax"`
	}
	out := struct {
		Env     environment `json:"environment"`
		Results []row       `json:"results"`
	}{Env: env}
	for _, r := range results {
		s, b := summarize(r.Sluice, r.Streams), summarize(r.Bare, r.Streams)
		out.Results = append(out.Results, row{FanoutResult: r, SluiceSummary: s, BareSummary: b,
			RatioP50: float64(s.P50) / float64(b.P50), RatioMax: float64(s.Max) / float64(b.Max)})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
