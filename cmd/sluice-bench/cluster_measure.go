package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/test/xdsload"
)

// nodeMemory is one server process's memory at one moment.
type nodeMemory struct {
	// RSS is the process's resident set (VmRSS), bytes.
	RSS uint64 `json:"rssBytes"`
	// Heap is the Go heap in use (go_memstats_heap_alloc_bytes) plus
	// goroutine stacks (go_memstats_stack_inuse_bytes), bytes.
	Heap uint64 `json:"heapAndStacksBytes"`
}

// nodeResult is one node's share of a cluster run.
type nodeResult struct {
	ID       string `json:"id"`
	Suffrage string `json:"suffrage"`
	Leader   bool   `json:"leader"`
	Streams  int    `json:"streams"`
	// Last is, per round, the time from just before the API call to the
	// last of this node's streams ACKing the new route.
	Last []time.Duration `json:"lastNs"`
	// Sync is the time from dialling this node's streams (all nodes' at
	// once) to every one holding config.
	Sync          time.Duration `json:"syncNs"`
	Before, After nodeMemory
	// ServerCPU and ClientCPU are CPU time per round (user and system)
	// of this node's server process and of its streams' client process.
	ServerCPU time.Duration `json:"serverCpuPerRoundNs"`
	ClientCPU time.Duration `json:"clientCpuPerRoundNs"`
}

// clusterResult is a whole cluster run.
type clusterResult struct {
	Nodes   []nodeResult    `json:"nodes"`
	Overall []time.Duration `json:"overallNs"` // per round, the slowest node
	Applies []time.Duration `json:"appliesNs"` // per round, the API call
	Rounds  int             `json:"rounds"`
	Load    string          `json:"loadAverage"`
}

func measureCluster(ctx context.Context, f clusterFlags, nodes []*benchNode, log *slog.Logger) (*clusterResult, error) {
	lead, err := leader(ctx, nodes)
	if err != nil {
		return nil, err
	}
	ar, err := lead.client.Apply(ctx, "fleet.yaml", xdsload.FleetYAML(f.services))
	if err != nil {
		return nil, fmt.Errorf("apply the fleet configuration: %w", err)
	}
	// Every node's xDS server must have read the configuration before its
	// streams ask for it.
	for _, n := range nodes {
		if err := pollUntil(ctx, f.timeout, n.id+" at the fleet's index", func() error {
			st, err := n.client.XDSStatus(ctx)
			if err == nil && st.StateIndex < ar.Index {
				err = fmt.Errorf("at index %d, want %d", st.StateIndex, ar.Index)
			}
			return err
		}); err != nil {
			return nil, err
		}
	}
	res := &clusterResult{Rounds: f.rounds}
	for _, n := range nodes {
		nr := nodeResult{ID: n.id, Suffrage: map[bool]string{false: "voter", true: "nonvoter"}[n.nonvoter],
			Leader: n == lead, Streams: f.perNode}
		if nr.Before, err = readNodeMemory(ctx, n); err != nil {
			return nil, err
		}
		res.Nodes = append(res.Nodes, nr)
	}
	if err := openFleets(ctx, f, nodes, res); err != nil {
		return nil, err
	}
	if err := settled(ctx, f.timeout, nodes, f.perNode, ar.Index); err != nil {
		return nil, err
	}
	for i, n := range nodes {
		if res.Nodes[i].After, err = readNodeMemory(ctx, n); err != nil {
			return nil, err
		}
	}
	log.Info("every stream synced", "nodes", len(nodes), "perNode", f.perNode)
	cpu0 := make([]time.Duration, len(nodes))
	for i, n := range nodes {
		if cpu0[i], err = serverCPU(ctx, n); err != nil {
			return nil, err
		}
		res.Nodes[i].ClientCPU = n.fleet.CPUTime()
	}
	for r := range f.rounds {
		if err := clusterRound(ctx, f, nodes, lead, r, res); err != nil {
			return nil, fmt.Errorf("round %d: %w", r+1, err)
		}
		log.Info("round", "round", r+1, "overall", res.Overall[r], "apply", res.Applies[r])
	}
	for i, n := range nodes {
		c, err := serverCPU(ctx, n)
		if err != nil {
			return nil, err
		}
		res.Nodes[i].ServerCPU = (c - cpu0[i]) / time.Duration(f.rounds)
		res.Nodes[i].ClientCPU = (n.fleet.CPUTime() - res.Nodes[i].ClientCPU) / time.Duration(f.rounds)
	}
	return res, nil
}

// serverCPU is n's process_cpu_seconds_total from its /metrics.
func serverCPU(ctx context.Context, n *benchNode) (time.Duration, error) {
	m, err := scrape(ctx, "http://"+n.api+"/metrics", "process_cpu_seconds_total")
	if err != nil {
		return 0, fmt.Errorf("%s: %w", n.id, err)
	}
	return time.Duration(m["process_cpu_seconds_total"] * float64(time.Second)), nil
}

// openFleets dials every node's streams at once, one client process per
// node.
func openFleets(ctx context.Context, f clusterFlags, nodes []*benchNode, res *clusterResult) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		n.fleet = &remoteFleet{streams: f.perNode, perConn: f.perConn}
		wg.Add(1)
		go func() {
			defer wg.Done()
			oc, cancel := context.WithTimeout(ctx, f.timeout)
			defer cancel()
			start := time.Now()
			if errs[i] = n.fleet.Open(oc, n.xds, xdsload.SplitWeights(0)); errs[i] == nil {
				res.Nodes[i].Sync = time.Since(start)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// clusterRound changes the weights through the leader and waits for the
// last stream of every node.
func clusterRound(ctx context.Context, f clusterFlags, nodes []*benchNode, lead *benchNode, r int, res *clusterResult) error {
	split := (r + 1) % 2
	want := xdsload.SplitWeights(split)
	t0 := time.Now()
	ar, err := lead.client.Apply(ctx, "bench.yaml", xdsload.BenchServiceYAML(split))
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	res.Applies = append(res.Applies, time.Since(t0))
	lasts := make([]time.Duration, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc, cancel := context.WithTimeout(ctx, f.timeout)
			defer cancel()
			acks, err := n.fleet.Await(rc, t0, ar.Index, want)
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", n.id, err)
				return
			}
			for _, a := range acks {
				lasts[i] = max(lasts[i], a.Sub(t0))
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i := range nodes {
		res.Nodes[i].Last = append(res.Nodes[i].Last, lasts[i])
	}
	res.Overall = append(res.Overall, slices.Max(lasts))
	// The next round starts once every node has taken in every ACK.
	return settled(ctx, f.timeout, nodes, f.perNode, ar.Index)
}

// readNodeMemory reads n's RSS from /proc and its Go heap from /metrics.
func readNodeMemory(ctx context.Context, n *benchNode) (nodeMemory, error) {
	var m nodeMemory
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.cmd.Process.Pid))
	if err != nil {
		return m, fmt.Errorf("%s: read RSS: %w", n.id, err)
	}
	for line := range strings.Lines(string(status)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			m.RSS = kb * 1024
		}
	}
	metrics, err := scrape(ctx, "http://"+n.api+"/metrics", "go_memstats_heap_alloc_bytes", "go_memstats_stack_inuse_bytes")
	if err != nil {
		return m, fmt.Errorf("%s: %w", n.id, err)
	}
	m.Heap = uint64(metrics["go_memstats_heap_alloc_bytes"] + metrics["go_memstats_stack_inuse_bytes"])
	return m, nil
}

// scrape reads the named unlabelled samples from a Prometheus text page.
func scrape(ctx context.Context, url string, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && slices.Contains(names, f[0]) {
			out[f[0]], _ = strconv.ParseFloat(f[1], 64)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	for _, name := range names {
		if _, ok := out[name]; !ok {
			return nil, fmt.Errorf("scrape %s: no %s", url, name)
		}
	}
	return out, nil
}

func perStream(before, after uint64, n int) float64 {
	if after < before {
		return 0
	}
	return float64(after-before) / float64(n)
}

func writeClusterTable(w io.Writer, res *clusterResult) {
	fmt.Fprintf(w, "Cluster fan-out: ms from the leader's API call to the last stream ACKing the new route, over %d rounds (load average %s)\n\n", res.Rounds, res.Load)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "node\tsuffrage\tstreams\tp50\tmax\tcpu srv\tclient\tsync s\tRSS/stream\theap/stream\tRSS MB\t")
	for _, n := range res.Nodes {
		role := n.Suffrage
		if n.Leader {
			role += " (leader)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%.2f\t%.1f KiB\t%.1f KiB\t%.0f\t\n", n.ID, role, n.Streams,
			ms(percentile(n.Last, 50)), ms(slices.Max(n.Last)), ms(n.ServerCPU), ms(n.ClientCPU), n.Sync.Seconds(),
			perStream(n.Before.RSS, n.After.RSS, n.Streams)/1024, perStream(n.Before.Heap, n.After.Heap, n.Streams)/1024,
			float64(n.After.RSS)/1e6)
	}
	fmt.Fprintf(tw, "all\t\t%d\t%s\t%s\t\t\t\t\t\t\t\n", len(res.Nodes)*res.Nodes[0].Streams, ms(percentile(res.Overall, 50)), ms(slices.Max(res.Overall)))
	tw.Flush()
	fmt.Fprintf(w, "cpu: ms per round, server process and client process; apply p50 %s ms (the API call, committed through Raft);\n"+
		"per-stream memory: with every stream synced minus before any opened\n",
		ms(percentile(res.Applies, 50)))
}

func writeClusterJSON(w io.Writer, res *clusterResult) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
