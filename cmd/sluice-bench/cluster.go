package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/api"
)

type clusterFlags struct {
	nodes, nonvoters, perNode, perConn, rounds, services int
	sluice, dir                                          string
	timeout                                              time.Duration
	json                                                 bool
}

func newClusterCmd() *cobra.Command {
	var f clusterFlags
	cmd := &cobra.Command{
		Use:   "cluster --nodes 5 --nonvoters 2 --streams-per 2000",
		Short: "Time a routing change from the leader's API to the last ADS stream on every node of a cluster of sluice server processes",
		Long: `Start --nodes real sluice server processes on loopback (the first
bootstraps, the others join it; the last --nonvoters join as non-voters),
apply 50 gRPC services through the leader, open --streams-per ADS streams
to every node's xDS port (one client process per node), then per round
change the benchmark service's weights through the leader's API and time,
per node and overall, until the last stream ACKs the new route. Memory per
stream is each server's RSS and Go heap (from its /metrics) with every
stream synced minus before any was opened, divided by its streams.
--nodes 1 measures one node at large N the same way.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCluster(cmd, f) },
	}
	fl := cmd.Flags()
	fl.IntVar(&f.nodes, "nodes", 5, "sluice server processes")
	fl.IntVar(&f.nonvoters, "nonvoters", 2, "how many of them join as non-voters (the last ones)")
	fl.IntVar(&f.perNode, "streams-per", 2000, "ADS streams to each node")
	fl.IntVar(&f.perConn, "conns-per", 100, "streams per gRPC connection")
	fl.IntVar(&f.rounds, "rounds", 5, "weight changes timed")
	fl.IntVar(&f.services, "services", 50, "gRPC services in the configuration")
	fl.StringVar(&f.sluice, "sluice", "bin/sluice", "the sluice binary")
	fl.StringVar(&f.dir, "dir", "", "directory for data and logs (default: a temporary one, removed afterwards)")
	fl.DurationVar(&f.timeout, "timeout", 3*time.Minute, "bound on forming the cluster, connecting and each round")
	fl.BoolVar(&f.json, "json", false, "print the results as JSON instead of a table")
	return cmd
}

// benchNode is one sluice server process of the cluster.
type benchNode struct {
	id, api, xds, raft string
	nonvoter           bool
	cmd                *exec.Cmd
	done               chan struct{}
	client             *api.Client
	fleet              *remoteFleet
}

func (f clusterFlags) validate() error {
	if f.nodes <= 0 || f.nonvoters < 0 || f.nonvoters >= f.nodes || f.perNode <= 0 || f.perConn <= 0 || f.rounds <= 0 || f.services <= 0 {
		return fmt.Errorf("%w: need --nodes > --nonvoters >= 0 and positive --streams-per, --conns-per, --rounds, --services", errUsage)
	}
	if _, err := os.Stat(f.sluice); err != nil {
		return fmt.Errorf("%w: --sluice %s: %w (make build makes bin/sluice)", errUsage, f.sluice, err)
	}
	return nil
}

func runCluster(cmd *cobra.Command, f clusterFlags) (err error) {
	if err := f.validate(); err != nil {
		return err
	}
	// Children inherit the limit: every server holds its streams'
	// connections, every client process its own.
	if err := raiseNoFile(uint64(f.perNode/f.perConn) + 1024); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
	dir := f.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "sluice-bench-cluster-"); err != nil {
			return fmt.Errorf("create data dir: %w", err)
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout*time.Duration(f.rounds+3))
	defer cancel()
	nodes, err := startCluster(ctx, f, dir, log)
	defer stopCluster(nodes)
	if err != nil {
		return err
	}
	res, err := measureCluster(ctx, f, nodes, log)
	if err != nil {
		return err
	}
	res.Load = loadAverage()
	if f.json {
		return writeClusterJSON(cmd.OutOrStdout(), res)
	}
	writeClusterTable(cmd.OutOrStdout(), res)
	return nil
}

// startCluster starts the processes and waits until every node is a
// member with its suffrage and addresses, and the leader serves the API.
func startCluster(ctx context.Context, f clusterFlags, dir string, log *slog.Logger) ([]*benchNode, error) {
	addrs, err := loopbackAddrs(3 * f.nodes)
	if err != nil {
		return nil, err
	}
	var nodes []*benchNode
	for i := range f.nodes {
		n := &benchNode{id: fmt.Sprintf("n%d", i+1), api: addrs[3*i], xds: addrs[3*i+1], raft: addrs[3*i+2],
			nonvoter: i >= f.nodes-f.nonvoters}
		n.client = api.NewClient(n.api)
		n.client.Actor = "sluice-bench"
		extra := []string{"--bootstrap"}
		if i > 0 {
			extra = []string{"--join", nodes[0].api}
			if n.nonvoter {
				extra = append(extra, "--nonvoter")
			}
		}
		if err := n.start(f.sluice, dir, extra); err != nil {
			return nodes, err
		}
		nodes = append(nodes, n)
		if i == 0 {
			if err := pollUntil(ctx, f.timeout, "n1 ready", func() error { return n.ready(ctx) }); err != nil {
				return nodes, err
			}
		}
	}
	err = pollUntil(ctx, f.timeout, "every node a member", func() error { return membersFormed(ctx, nodes) })
	if err == nil {
		log.Info("cluster formed", "nodes", f.nodes, "nonvoters", f.nonvoters)
	}
	return nodes, err
}

func (n *benchNode) start(bin, dir string, extra []string) error {
	logf, err := os.Create(filepath.Join(dir, n.id+".log"))
	if err != nil {
		return fmt.Errorf("%s: %w", n.id, err)
	}
	args := append([]string{"server", "--node-id", n.id, "--data-dir", filepath.Join(dir, n.id),
		"--insecure-no-auth", "--api-addr", n.api, "--xds-addr", n.xds, "--raft-addr", n.raft, "--log-level", "warn"}, extra...)
	n.cmd = exec.Command(bin, args...)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", n.id, err)
	}
	n.done = make(chan struct{})
	go func() { _ = n.cmd.Wait(); logf.Close(); close(n.done) }()
	return nil
}

func (n *benchNode) exited() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// errNodeExited is returned when a server process ends during the run.
var errNodeExited = errors.New("sluice server exited")

func (n *benchNode) ready(ctx context.Context) error {
	if n.exited() {
		return fmt.Errorf("%w: %s (see its log)", errNodeExited, n.id)
	}
	if !n.client.Ready(ctx) {
		return fmt.Errorf("%s: /readyz not 200", n.id)
	}
	return nil
}

func membersFormed(ctx context.Context, nodes []*benchNode) error {
	for _, n := range nodes {
		if err := n.ready(ctx); err != nil {
			return err
		}
	}
	mr, err := nodes[0].client.Members(ctx)
	if err != nil {
		return err
	}
	byID := map[string]api.Member{}
	for _, m := range mr.Members {
		byID[m.ID] = m
	}
	for _, n := range nodes {
		want := map[bool]string{false: "voter", true: "nonvoter"}[n.nonvoter]
		if m, ok := byID[n.id]; !ok || m.Suffrage != want || m.XDSAddr == "" {
			return fmt.Errorf("%s not yet a %s member with an xDS address (%+v)", n.id, want, m)
		}
	}
	return nil
}

func stopCluster(nodes []*benchNode) {
	for _, n := range nodes {
		if n.fleet != nil {
			_ = n.fleet.Close()
		}
	}
	for _, n := range nodes {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, n := range nodes {
		select {
		case <-n.done:
		case <-time.After(15 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.done
		}
	}
}

// leader is the node the cluster reports as leader.
func leader(ctx context.Context, nodes []*benchNode) (*benchNode, error) {
	mr, err := nodes[0].client.Members(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if n.id == mr.Leader {
			return n, nil
		}
	}
	return nil, fmt.Errorf("no leader among the nodes (members say %q)", mr.Leader)
}

// settled waits until every node's xDS server has all its streams synced
// in one group with no NACK.
func settled(ctx context.Context, timeout time.Duration, nodes []*benchNode, perNode int, index uint64) error {
	for _, n := range nodes {
		err := pollUntil(ctx, timeout, n.id+" streams synced", func() error {
			st, err := n.client.XDSStatus(ctx)
			if err != nil {
				return err
			}
			if st.StateIndex < index || len(st.Groups) != 1 || st.Groups[0].Streams != perNode || st.Groups[0].Synced != perNode || len(st.Groups[0].NACKs) > 0 {
				return fmt.Errorf("index %d, groups %+v", st.StateIndex, st.Groups)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func loopbackAddrs(n int) ([]string, error) {
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// pollUntil calls cond every 50 ms until it returns nil, ctx ends or
// timeout passes; a node that exited ends it at once.
func pollUntil(ctx context.Context, timeout time.Duration, what string, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if errors.Is(err, errNodeExited) || time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %v: %w", what, err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// loadAverage is /proc/loadavg's first three fields.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}
