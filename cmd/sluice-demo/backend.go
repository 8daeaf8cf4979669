package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/demo"
)

func newBackendCmd(out, errOut io.Writer) *cobra.Command {
	var (
		cfg      demo.BackendConfig
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "backend --service NAME --version V",
		Short: "Serve a demo backend (gRPC TestService and HTTP) with metrics and injectable faults",
		Long: `Serve a demo backend.

gRPC: grpc.testing.TestService/UnaryCall answers hostname "<service>/<version>".
HTTP: every path answers "<service> <version>"; /metrics has Prometheus metrics;
/admin/faults reads (GET) or changes (POST) the faults, e.g.
  {"errorRatio":0.2,"latency":"50ms","latencyJitter":"5ms"}

Prints "ready grpc=<addr> http=<addr>" on stdout once both ports listen.`,
		Example: `  sluice-demo backend --service greeter --version v1 --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(errOut, logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			b, err := demo.StartBackend(cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "ready grpc=%s http=%s\n", b.GRPCAddr(), b.HTTPAddr())
			<-cmd.Context().Done()
			return b.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Service, "service", "", "service name (required)")
	f.StringVar(&cfg.Version, "version", "", "version name (required)")
	f.StringVar(&cfg.GRPCAddr, "grpc-addr", "127.0.0.1:0", "gRPC listen address (port 0 picks a free port)")
	f.StringVar(&cfg.HTTPAddr, "http-addr", "127.0.0.1:0", "HTTP listen address (port 0 picks a free port)")
	f.Float64Var(&cfg.Faults.ErrorRatio, "error-ratio", 0, "share of requests that fail (0..1)")
	f.DurationVar(&cfg.Faults.Latency, "latency", 5*time.Millisecond, "latency added to every request")
	f.DurationVar(&cfg.Faults.LatencyJitter, "latency-jitter", 2*time.Millisecond, "uniform jitter around --latency")
	f.Uint64Var(&cfg.Seed, "seed", 0, "seed for the error and jitter draws (0: random)")
	f.StringVar(&cfg.Region, "region", "", "region label on the metrics (traffic by region for exposure estimates)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	_ = cmd.MarkFlagRequired("service")
	_ = cmd.MarkFlagRequired("version")
	return cmd
}
