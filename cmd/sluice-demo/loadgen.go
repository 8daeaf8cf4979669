package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/xds" // registers the xds:/// resolver and xDS balancers

	"github.com/sluicehq/sluice/demo"
)

// reexecEnv marks a process that restarted itself to put the xDS
// bootstrap into its environment, so it never restarts twice.
const reexecEnv = "SLUICE_DEMO_REEXEC"

func newLoadgenCmd(out, errOut io.Writer) *cobra.Command {
	var (
		xdsAddrs []string
		cfg      demo.LoadConfig
		node     demo.Node
		headers  []string
		duration time.Duration
		every    time.Duration
		jsonOut  bool
		barVer   string
		proxy    string
		auth     string
		useHTTP  bool
	)
	cmd := &cobra.Command{
		Use:   "loadgen (--xds ADDR --target NAME | --proxy ADDR --authority HOST)",
		Short: "Call a service through Sluice's xDS server and report which versions answer",
		Long: `Send grpc.testing.TestService/UnaryCall to xds:///TARGET at a steady rate
with grpc-go's own xDS client (proxyless gRPC), and print every report
interval the RPCs, the share answered by each version, the errors and a bar
of one version's share.

grpc-go reads its xDS bootstrap from the environment when the process
starts, so loadgen builds the bootstrap from its flags and restarts itself
with GRPC_XDS_BOOTSTRAP_CONFIG set (any bootstrap already in the
environment is replaced).

With --proxy the calls go instead to a proxy such as Envoy's gateway
listener (plaintext HTTP/2), with --authority as the :authority the proxy
routes by; no xDS client is involved. --http makes them plain HTTP GETs
with --authority as the Host header, for an http service; answers are
counted by the version the demo backend names.`,
		Example: `  sluice-demo loadgen --xds 127.0.0.1:18000 --target greeter --rps 50
  sluice-demo loadgen --xds 127.0.0.1:18000 --target greeter --header x-tenant=acme --json --duration 30s
  sluice-demo loadgen --proxy 127.0.0.1:10000 --authority greeter.demo.internal --rps 50
  sluice-demo loadgen --proxy envoy:10000 --authority web.example.com --http --rps 20`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.Headers, err = parseHeaders(headers); err != nil {
				return err
			}
			if every <= 0 {
				return fmt.Errorf("--report %s: must be positive", every)
			}
			if duration < 0 {
				return fmt.Errorf("--duration %s: must not be negative (0 runs until interrupted)", duration)
			}
			if proxy != "" {
				if len(xdsAddrs) > 0 || auth == "" {
					return fmt.Errorf("--proxy takes --authority (the host the proxy routes by) and no --xds")
				}
				if useHTTP {
					cfg.HTTP = &demo.HTTPTarget{URL: "http://" + proxy + "/", Host: auth}
				} else {
					cfg.Target = "passthrough:///" + proxy
					cfg.DialOptions = append(cfg.DialOptions, grpc.WithAuthority(auth))
				}
				return startLoad(cmd.Context(), cfg, out, jsonOut, barVer, duration, every)
			}
			if useHTTP {
				return fmt.Errorf("--http needs --proxy: proxyless clients speak gRPC")
			}
			if len(xdsAddrs) == 0 || cfg.Target == "" {
				return fmt.Errorf("--xds and --target are required (or --proxy and --authority)")
			}
			if node.ID == "" {
				host, _ := os.Hostname()
				// The pid survives the restart, so the id stays the same.
				node.ID = fmt.Sprintf("sluice-demo-loadgen-%s-%d", host, os.Getpid())
			}
			boot, err := demo.Bootstrap(node, xdsAddrs...)
			if err != nil {
				return err
			}
			if err := ensureBootstrap(boot); err != nil {
				return err
			}
			return startLoad(cmd.Context(), cfg, out, jsonOut, barVer, duration, every)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&xdsAddrs, "xds", nil, "xDS server address of a Sluice node (host:port, or a gRPC target such as dns:///name:port resolving to every node); repeat for every node")
	f.StringVar(&cfg.Target, "target", "", "service to call: a name such as greeter (dialled as xds:///greeter)")
	f.StringVar(&proxy, "proxy", "", "call through this proxy (host:port, e.g. Envoy's gateway listener) instead of xDS")
	f.StringVar(&auth, "authority", "", "with --proxy: the :authority the proxy routes by (the service's domain)")
	f.BoolVar(&useHTTP, "http", false, "with --proxy: send HTTP GETs (Host: --authority) instead of gRPC calls")
	f.Float64Var(&cfg.RPS, "rps", 50, "requests per second")
	f.DurationVar(&cfg.Timeout, "timeout", 2*time.Second, "deadline of each RPC")
	f.StringVar(&node.ID, "node-id", "", "xDS node id (default sluice-demo-loadgen-<host>-<pid>)")
	f.StringVar(&node.Cluster, "cluster", "demo", "xDS node cluster")
	f.StringVar(&node.Region, "region", "", "xDS node locality region")
	f.StringVar(&node.Zone, "zone", "", "xDS node locality zone")
	f.StringArrayVar(&headers, "header", nil, "metadata k=v sent with every RPC (repeatable)")
	f.DurationVar(&duration, "duration", 0, "stop after this long (0: run until interrupted)")
	f.DurationVar(&every, "report", time.Second, "report interval")
	f.BoolVar(&jsonOut, "json", false, "print one JSON object per report instead of text")
	f.StringVar(&barVer, "bar-version", "v2", `version whose share the bar shows, or "latest": the latest version that answered so far`)
	return cmd
}

// startLoad runs a load generator with a reporter on out.
func startLoad(ctx context.Context, cfg demo.LoadConfig, out io.Writer, jsonOut bool, barVer string, duration, every time.Duration) error {
	load, err := demo.NewLoad(cfg)
	if err != nil {
		return err
	}
	defer load.Close()
	rep := demo.NewReporter(out)
	rep.JSON, rep.BarVersion = jsonOut, barVer
	return runLoad(ctx, load, rep, duration, every)
}

func parseHeaders(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--header %q: want key=value", kv)
		}
		out[strings.ToLower(strings.TrimSpace(k))] = v
	}
	return out, nil
}

// ensureBootstrap returns nil when grpc-go started with boot as its
// bootstrap. Otherwise it restarts the process with boot in its
// environment, and returns only if that fails.
func ensureBootstrap(boot []byte) error {
	if os.Getenv(demo.BootstrapEnv) == string(boot) && os.Getenv(demo.BootstrapFileEnv) == "" {
		return nil
	}
	if os.Getenv(reexecEnv) != "" {
		return fmt.Errorf("the xDS bootstrap is still not in %s after restarting with it", demo.BootstrapEnv)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k != demo.BootstrapEnv && k != demo.BootstrapFileEnv && k != reexecEnv {
			env = append(env, kv)
		}
	}
	env = append(env, demo.BootstrapEnv+"="+string(boot), reexecEnv+"=1")
	return reexec(env)
}

// runLoad drives load until ctx ends or duration passes, reporting every
// interval and once more for the whole run.
func runLoad(ctx context.Context, load *demo.Load, rep *demo.Reporter, duration, every time.Duration) error {
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	done := make(chan error, 1)
	go func() { done <- load.Run(ctx) }()
	tick := time.NewTicker(every)
	defer tick.Stop()
	start := time.Now()
	last, prev := start, demo.Counts{}
	for {
		select {
		case now := <-tick.C:
			c := load.Counts()
			if err := rep.Report(now, now.Sub(last), c.Sub(prev), false); err != nil {
				return err
			}
			last, prev = now, c
		case err := <-done:
			if err != nil {
				return err
			}
			now := time.Now()
			return rep.Report(now, now.Sub(start), load.Counts(), true)
		}
	}
}
