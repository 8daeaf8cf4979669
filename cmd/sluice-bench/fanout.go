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
	restart    bool
	oneVersion bool
	xdsStream  string
	delta      bool
	interleave bool
}

func newFanoutCmd() *cobra.Command {
	var f fanoutFlags
	cmd := &cobra.Command{
		Use:   "fanout",
		Short: "Time a weight change reaching N ADS streams: Sluice's path vs a bare go-control-plane SnapshotCache and a floor server",
		Long: `For each N, start a single-node Sluice server in this process, apply 50
gRPC services, open N ADS streams (in a child process), then per round change
the benchmark service's weights through the API and time until the last
stream ACKs a route with the new weights; then restart the node and time N
fresh streams connecting at once. Then do the same against two baselines
serving xds.Translate of the same states, each with a fleet of its own:
a bare go-control-plane SnapshotCache with a version per type (a round
bumps the routes' version only), and a floor server that writes one
pre-marshalled DiscoveryResponse to every open stream. With --delta every
stream speaks delta ADS instead (Sluice through its own delta handler, the
bare cache through go-control-plane's delta server, the floor writing one
pre-marshalled DeltaDiscoveryResponse per stream).`,
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
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of each path's rounds to FILE.<path>.<N>, and heap profiles before and after them to FILE.<path>.<N>.heap0 and .heap1")
	fl.StringVar(&f.memProfile, "memprofile", "", "write a heap profile of the server once each path's streams are synced to FILE.<path>.<N>")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log every round")
	fl.BoolVar(&f.restart, "restart", true, "after Sluice's rounds, restart the node and time N streams reconnecting at once")
	fl.StringVar(&f.xdsStream, "xds-stream", "sluice", "the Sluice node's ADS stream handlers, state of the world and delta: sluice (its own) or gcp (go-control-plane's)")
	fl.BoolVar(&f.oneVersion, "one-version", false, "also run the bare cache with one version on all four types (every change resends every type)")
	fl.BoolVar(&f.delta, "delta", false, "open delta ADS streams (DeltaAggregatedResources) on every path instead of state-of-the-world ones")
	fl.BoolVar(&f.interleave, "interleave", false, "keep every path's fleet connected and run round r of each path back to back, so the machine's drift falls on every path alike (cannot be combined with --cpuprofile)")
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
	if f.delta && f.oneVersion {
		return fmt.Errorf("%w: --one-version has no meaning with --delta: delta sends only resources whose content changed, whatever the versions", errUsage)
	}
	if f.interleave && f.cpuProfile != "" {
		return fmt.Errorf("%w: --cpuprofile profiles one path's rounds alone; interleaved rounds cannot be told apart", errUsage)
	}
	maxConns := uint64(slices.Max(counts)/f.perConn + 1)
	if f.interleave {
		// Every path's fleet is connected at once.
		maxConns *= 4
	}
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
			Restart: f.restart, OneVersion: f.oneVersion, XDSStream: f.xdsStream, Delta: f.delta, Interleave: f.interleave,
			NewFleet: func() (xdsload.Fleet, error) {
				if f.inProcess {
					return xdsload.NewLocalFleet(fleetOptions(n, f.perConn, f.delta)), nil
				}
				return &remoteFleet{streams: n, perConn: f.perConn, delta: f.delta}, nil
			},
		}
		if f.memProfile != "" {
			cfg.Synced = func(path string) { writeHeapProfile(log, fmt.Sprintf("%s.%s.%d", f.memProfile, path, n)) }
		}
		if f.cpuProfile != "" {
			cfg.Profile = func(path string) func() { return startProfile(log, fmt.Sprintf("%s.%s.%d", f.cpuProfile, path, n)) }
		}
		log.Info("fan-out run", "streams", n, "rounds", f.rounds, "connsPer", f.perConn, "delta", f.delta, "interleave", f.interleave)
		res, err := xdsload.Fanout(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		results = append(results, res)
	}
	env := environment{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), ConnsPer: f.perConn, Rounds: f.rounds,
		Services: f.services, ClientInProcess: f.inProcess, Delta: f.delta, XDSStream: f.xdsStream, Interleave: f.interleave}
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
	// The heap profile is as of the last completed collection.
	runtime.GC()
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
	writeHeapProfile(log, file+".heap0")
	return func() {
		pprof.StopCPUProfile()
		out.Close()
		log.Info("wrote cpu profile", "file", file)
		writeHeapProfile(log, file+".heap1")
	}
}

type environment struct {
	CPUs            int    `json:"cpus"`
	GoVersion       string `json:"goVersion"`
	ConnsPer        int    `json:"connsPer"`
	Rounds          int    `json:"rounds"`
	Services        int    `json:"services"`
	ClientInProcess bool   `json:"clientInProcess"`
	Delta           bool   `json:"delta"`
	XDSStream       string `json:"xdsStream"`
	Interleave      bool   `json:"interleave"`
}

// fleetOptions are the benchmark fleet's client options, on delta
// streams if delta.
func fleetOptions(n, perConn int, delta bool) xdsload.Options {
	o := xdsload.FleetOptions(n, perConn)
	o.Delta = delta
	return o
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

// quotient is a / b, or 0 when b is 0.
func quotient(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// baselines are the paths Sluice is compared with, in table order.
func baselines(r *xdsload.FanoutResult) []xdsload.PathResult {
	out := []xdsload.PathResult{r.Bare, r.Floor}
	if r.OneVersion != nil {
		out = append(out, *r.OneVersion)
	}
	return out
}

func writeTable(w io.Writer, env environment, results []*xdsload.FanoutResult) {
	fmt.Fprintf(w, "xDS fan-out: ms from the change to the last stream ACKing the new route, over %d rounds\n", env.Rounds)
	fmt.Fprintf(w, "(%d CPUs, %s, %d streams per connection, %d services, client in %s)\n",
		env.CPUs, env.GoVersion, env.ConnsPer, env.Services, map[bool]string{true: "this process", false: "a child process"}[env.ClientInProcess])
	if env.Delta {
		if env.XDSStream == "gcp" {
			fmt.Fprintln(w, "delta ADS streams: Sluice and bare through go-control-plane's delta server;")
		} else {
			fmt.Fprintln(w, "delta ADS streams: Sluice through its own delta handler, bare through go-control-plane's delta server;")
		}
		fmt.Fprintln(w, "version: system_version_info (Sluice: the Raft index; bare: the routes' version); per-resource versions are content hashes")
		fmt.Fprintln(w, "bare: go-control-plane SnapshotCache, a version per type; floor: one pre-marshalled delta response written to every stream;")
	} else {
		fmt.Fprintln(w, "bare: go-control-plane SnapshotCache, a version per type; floor: one pre-marshalled response written to every stream;")
	}
	if env.Interleave {
		fmt.Fprintln(w, "rounds interleaved: every path's fleet connected, round r of each path back to back, the order rotated every round,")
		fmt.Fprintln(w, "each round after a forced garbage collection (outside its time: no round pays for collections);")
	}
	fmt.Fprintln(w, "ratio: sluice / that path")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tpath\tp50\tp99\tmax\tmedian stream\tratio p50\tratio max\tcpu srv\tclient\tallocs srv\tMB\tmem/stream\tsync s\t")
	for _, r := range results {
		s := summarize(r.Sluice, r.Streams)
		for _, p := range append([]xdsload.PathResult{r.Sluice}, baselines(r)...) {
			b := summarize(p, r.Streams)
			rp50, rmax := "-", "-"
			if p.Path != r.Sluice.Path {
				rp50, rmax = fmt.Sprintf("%.2f", quotient(s.P50, b.P50)), fmt.Sprintf("%.2f", quotient(s.Max, b.Max))
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%.1f\t%.1f KiB\t%.2f\t\n", r.Streams, p.Path,
				ms(b.P50), ms(b.P99), ms(b.Max), ms(b.MedianP50), rp50, rmax,
				ms(p.ServerCPU), cpuMS(p.ClientCPU), p.Allocs, float64(p.AllocBytes)/1e6, b.MemPerStream/1024, p.Sync.Seconds())
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "median stream: p50 over rounds of each round's median stream; cpu: per round, server process and client process;")
	fmt.Fprintln(w, "allocs srv, MB: heap allocations per round in the server process (count, megabytes);")
	fmt.Fprintln(w, "mem/stream: server live heap + goroutine stacks after every stream synced, minus before any was opened, / N;")
	fmt.Fprintln(w, "sync: dialling to every stream holding config")
	fmt.Fprintln(w, "\nSluice: apply p50 (API call committed through Raft), ms; cold sync and restart storm: s to every stream")
	fmt.Fprintln(w, "holding config, snapshot builds meanwhile")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tapply\tcold sync\tbuilds\trestart sync\tbuilds\t")
	for _, r := range results {
		rs, rb := "-", "-"
		if re := r.Sluice.Restart; re != nil {
			rs, rb = fmt.Sprintf("%.2f", re.Sync.Seconds()), strconv.FormatUint(re.Builds, 10)
		}
		fmt.Fprintf(tw, "%d\t%s\t%.2f\t%d\t%s\t%s\t\n", r.Streams, ms(percentile(r.Sluice.Applies, 50)),
			r.Sluice.Sync.Seconds(), r.Sluice.SyncBuilds, rs, rb)
	}
	tw.Flush()
}

func writeJSON(w io.Writer, env environment, results []*xdsload.FanoutResult) error {
	type row struct {
		*xdsload.FanoutResult
		Summaries map[string]summary `json:"summaries"`
		// RatioP50 and RatioMax are Sluice / path, by path.
		RatioP50 map[string]float64 `json:"ratioP50"`
		RatioMax map[string]float64 `json:"ratioMax"`
	}
	out := struct {
		Env     environment `json:"environment"`
		Results []row       `json:"results"`
	}{Env: env}
	for _, r := range results {
		s := summarize(r.Sluice, r.Streams)
		rw := row{FanoutResult: r, Summaries: map[string]summary{r.Sluice.Path: s},
			RatioP50: map[string]float64{}, RatioMax: map[string]float64{}}
		for _, p := range baselines(r) {
			b := summarize(p, r.Streams)
			rw.Summaries[p.Path] = b
			rw.RatioP50[p.Path], rw.RatioMax[p.Path] = quotient(s.P50, b.P50), quotient(s.Max, b.Max)
		}
		out.Results = append(out.Results, rw)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
