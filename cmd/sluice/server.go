package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/server"
)

func newServerCmd(c *cli) *cobra.Command {
	var (
		cfg       server.Config
		dev       bool
		logLevel  string
		logFormat string
		authFile  string
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a Sluice node (Raft member, xDS server and API)",
		Long: `Run a Sluice node.

The first node of a new cluster starts with --bootstrap; the others with
--join pointing at any member's API address. --dev starts a single-node
cluster with a temporary data directory on the default local ports.`,
		Example: `  sluice server --dev
  sluice server --node-id n1 --data-dir /var/lib/sluice --bootstrap
  sluice server --node-id n2 --data-dir /var/lib/sluice --join 10.0.0.1:7070`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(c.errOut, logLevel, logFormat)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			if authFile != "" {
				if cfg.Auth, err = api.LoadAuth(authFile); err != nil {
					return err
				}
			}
			cfg.JoinToken = c.token
			cleanup := func() {}
			if dev {
				cfg.Bootstrap = true
				if cfg.NodeID == "" {
					cfg.NodeID = "dev"
				}
				cfg.DataDir, cleanup, err = server.DataDirOrTemp(cfg.DataDir)
				if err != nil {
					return err
				}
			}
			defer cleanup()
			if cfg.NodeID == "" {
				host, err := os.Hostname()
				if err != nil {
					return fmt.Errorf("--node-id is required (hostname unavailable: %w)", err)
				}
				cfg.NodeID = host
			}
			if cfg.DataDir == "" {
				return fmt.Errorf("--data-dir is required (or use --dev for a temporary one)")
			}
			if cfg.Bootstrap && cfg.Join != "" {
				return fmt.Errorf("--bootstrap and --join are mutually exclusive: bootstrap starts a new cluster, join adds this node to an existing one")
			}
			node, err := server.Start(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if dev {
				fmt.Fprintf(c.errOut, "sluice dev server: api http://%s  xds %s  data %s\n", node.APIAddr(), node.XDSAddr(), cfg.DataDir)
			}
			<-cmd.Context().Done()
			return node.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.NodeID, "node-id", "", "stable id of this node (default: hostname)")
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory for the Raft log, stable store and snapshots")
	f.StringVar(&cfg.APIAddr, "api-addr", server.DefaultAPIAddr, "HTTP API listen address")
	f.StringVar(&cfg.XDSAddr, "xds-addr", server.DefaultXDSAddr, "xDS (gRPC ADS) listen address")
	f.StringVar(&cfg.RaftAddr, "raft-addr", server.DefaultRaftAddr, "Raft transport address (also advertised to peers)")
	f.BoolVar(&cfg.Bootstrap, "bootstrap", false, "start a new cluster with this node as its first voter")
	f.StringVar(&cfg.Join, "join", "", "API address of an existing member to join")
	f.BoolVar(&cfg.NonVoter, "nonvoter", false, "with --join: join as a non-voter (serves xDS and reads, does not vote)")
	f.BoolVar(&dev, "dev", false, "single-node cluster with a temporary data directory on local default ports")
	f.DurationVar(&cfg.Raft.HeartbeatTimeout, "raft-heartbeat-timeout", 0, "Raft heartbeat timeout (default 1s; lower on a fast LAN for quicker failover)")
	f.DurationVar(&cfg.Raft.ElectionTimeout, "raft-election-timeout", 0, "Raft election timeout (default 1s)")
	f.DurationVar(&cfg.Raft.LeaderLeaseTimeout, "raft-leader-lease-timeout", 0, "Raft leader lease timeout (default 500ms; must not exceed the heartbeat timeout)")
	f.StringVar(&cfg.PrometheusURL, "prometheus-url", "", "Prometheus for release analysis when a policy names none (e.g. http://127.0.0.1:9090)")
	f.DurationVar(&cfg.ControllerTick, "controller-tick", 0, "how often the leader looks at releases (default 200ms)")
	f.StringVar(&authFile, "auth-file", "", "YAML file of API tokens with users and roles (viewer, deployer, approver, admin); without it the API is open")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}

func newLogger(w interface{ Write([]byte) (int, error) }, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
