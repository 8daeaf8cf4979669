package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/certs"
	"github.com/sluicehq/sluice/server"
	"github.com/sluicehq/sluice/xds"
)

func newServerCmd(c *cli) *cobra.Command {
	var (
		cfg       server.Config
		dev       bool
		logLevel  string
		logFormat string
		authFile  string
		tlsFiles  certs.Files
		xdsCA     string
		xdsRules  string
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
			cfg.Dev = dev
			if err := loadServerTLS(&cfg, tlsFiles, xdsCA, xdsRules); err != nil {
				return err
			}
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
				scheme := "http"
				if cfg.TLS != nil {
					scheme = "https"
				}
				fmt.Fprintf(c.errOut, "sluice dev server: api %s://%s  xds %s  data %s\n", scheme, node.APIAddr(), node.XDSAddr(), cfg.DataDir)
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
	f.StringVar(&cfg.RaftAddr, "raft-addr", server.DefaultRaftAddr, "Raft transport address (also advertised to peers unless --raft-advertise-addr is set)")
	f.StringVar(&cfg.Raft.AdvertiseAddr, "raft-advertise-addr", "", "host:port peers dial to reach this node's Raft transport, when it differs from --raft-addr (NAT, a proxy)")
	f.BoolVar(&cfg.Bootstrap, "bootstrap", false, "start a new cluster with this node as its first voter")
	f.StringVar(&cfg.Join, "join", "", "API address of an existing member to join")
	f.BoolVar(&cfg.NonVoter, "nonvoter", false, "with --join: join as a non-voter (serves xDS and reads, does not vote)")
	f.StringVar(&cfg.XDSStream, "xds-stream", xds.StreamSluice, "ADS stream handlers, state of the world and delta: sluice (Sluice's own: answers computed and encoded once, shared across streams) or gcp (go-control-plane's)")
	f.BoolVar(&dev, "dev", false, "single-node cluster with a temporary data directory on local default ports")
	f.DurationVar(&cfg.Raft.HeartbeatTimeout, "raft-heartbeat-timeout", 0, "Raft heartbeat timeout: a follower campaigns after 1-2x this without hearing from the leader (default 300ms)")
	f.DurationVar(&cfg.Raft.ElectionTimeout, "raft-election-timeout", 0, "Raft election timeout (default 300ms)")
	f.DurationVar(&cfg.Raft.LeaderLeaseTimeout, "raft-leader-lease-timeout", 0, "Raft leader lease timeout: a leader steps down after this long without a quorum (default 300ms, at most the heartbeat timeout)")
	f.StringVar(&cfg.PrometheusURL, "prometheus-url", "", "Prometheus for release analysis when a policy names none (e.g. http://127.0.0.1:9090)")
	f.StringSliceVar(&cfg.DNSServers, "dns-server", nil, "DNS server (host:port) that resolves the versions' discovery names; repeatable (default: those of /etc/resolv.conf)")
	f.DurationVar(&cfg.ControllerTick, "controller-tick", 0, "how often the leader looks at releases (default 200ms)")
	f.DurationVar(&cfg.AckNodeDeadline, "ack-node-deadline", 0, "how long the leader waits for one member's xDS status when collecting ACKs (default 500ms)")
	f.StringVar(&authFile, "auth-file", "", "YAML file of API tokens with users and roles (viewer, deployer, approver, admin); required outside --dev unless --insecure-no-auth")
	f.BoolVar(&cfg.InsecureNoAuth, "insecure-no-auth", false, "run the API without authentication outside --dev: anyone who reaches it may do everything (logged, shown in /readyz)")
	f.BoolVar(&cfg.MetricsOpen, "metrics-open", false, "serve /metrics without a token (by default it needs a viewer token when authentication is on)")
	f.StringSliceVar(&cfg.TrustedOrigins, "trusted-origin", nil, "a web origin (https://host[:port]) besides the API's own that may send writes from a browser; repeatable")
	f.StringVar(&tlsFiles.Cert, "tls-cert", "", "this node's certificate (PEM): HTTPS on the API, mutual TLS on Raft, TLS on xDS; reloaded when the file changes")
	f.StringVar(&tlsFiles.Key, "tls-key", "", "the key of --tls-cert (PEM)")
	f.StringVar(&tlsFiles.CA, "tls-ca", "", "the cluster's CA bundle (PEM): Raft peers and other members must hold certificates it signed")
	f.StringVar(&xdsCA, "xds-client-ca", "", "require proxies to present a certificate signed by this CA bundle (PEM; may be --tls-ca) and bind their identity to proxy groups")
	f.StringVar(&xdsRules, "xds-identity-rules", "", "YAML rules binding proxy certificate identities to proxy groups (default: a URI SAN .../sluice/proxy/<cluster> receives that cluster)")
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

// loadServerTLS reads the node's certificate and the proxy CA and rules.
func loadServerTLS(cfg *server.Config, files certs.Files, xdsCA, rulesFile string) error {
	if files == (certs.Files{}) {
		if xdsCA != "" || rulesFile != "" {
			return fmt.Errorf("--xds-client-ca and --xds-identity-rules need --tls-cert, --tls-key and --tls-ca")
		}
		return nil
	}
	opts := certs.Options{Logger: cfg.Logger.With("component", "tls")}
	store, err := certs.Load(files, opts)
	if err != nil {
		return err
	}
	cfg.TLS = store
	if xdsCA != "" {
		if cfg.XDSClientCerts, err = certs.Load(certs.Files{Cert: files.Cert, Key: files.Key, CA: xdsCA}, opts); err != nil {
			return err
		}
	}
	if rulesFile != "" {
		if xdsCA == "" {
			return fmt.Errorf("--xds-identity-rules needs --xds-client-ca: identities come from proxy certificates")
		}
		rules, err := xds.LoadGroupRules(rulesFile)
		if err != nil {
			return err
		}
		cfg.XDSAuthorizer = rules
	}
	return nil
}
