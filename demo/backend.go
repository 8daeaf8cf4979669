// Package demo holds the programs behind the Sluice demo: a backend that
// serves gRPC and HTTP with Prometheus metrics and injectable faults, and a
// load generator that calls a service through grpc-go's xDS client and
// counts which version answered.
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ErrInvalidConfig is matched by a BackendConfig or LoadConfig that cannot
// work (missing names, bad rates, bad headers).
var ErrInvalidConfig = errors.New("invalid demo configuration")

// BackendConfig configures a backend.
type BackendConfig struct {
	// Service and Version name the backend; it answers "<service>/<version>".
	Service, Version string
	// GRPCAddr and HTTPAddr are listen addresses; port 0 picks a free port.
	GRPCAddr, HTTPAddr string
	// Faults are the initial faults.
	Faults Faults
	// Region labels the backend's metrics (exposure estimates by region).
	Region string
	// Seed seeds the backend's random source (error and jitter draws).
	// Zero picks a random seed.
	Seed   uint64
	Logger *slog.Logger
}

// Backend serves grpc_testing.TestService on one port and HTTP (the app on
// every path, /metrics and /admin/faults) on another.
type Backend struct {
	testgrpc.UnimplementedTestServiceServer

	cfg      BackendConfig
	log      *slog.Logger
	reg      *prometheus.Registry
	metrics  *metrics
	shadow   *shadowCount
	grpcLis  net.Listener
	httpLis  net.Listener
	grpcSrv  *grpc.Server
	httpSrv  *http.Server
	wg       sync.WaitGroup
	closeErr error
	once     sync.Once

	mu     sync.Mutex
	faults Faults
	rng    *rand.Rand
}

// StartBackend binds both listeners and starts serving. Close stops it.
func StartBackend(cfg BackendConfig) (*Backend, error) {
	if cfg.Service == "" || cfg.Version == "" {
		return nil, fmt.Errorf("%w: backend needs a service and a version name", ErrInvalidConfig)
	}
	if err := cfg.Faults.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	reg := prometheus.NewRegistry()
	b := &Backend{
		cfg:     cfg,
		log:     cfg.Logger.With("service", cfg.Service, "version", cfg.Version),
		reg:     reg,
		metrics: newMetrics(reg, cfg.Service, cfg.Version, cfg.Region),
		shadow:  newShadowCount(reg, cfg.Service, cfg.Version),
		faults:  cfg.Faults,
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	var err error
	if b.grpcLis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("listen grpc on %q: %w", cfg.GRPCAddr, err)
	}
	if b.httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		b.grpcLis.Close()
		return nil, fmt.Errorf("listen http on %q: %w", cfg.HTTPAddr, err)
	}
	b.grpcSrv = grpc.NewServer()
	testgrpc.RegisterTestServiceServer(b.grpcSrv, b)
	b.httpSrv = &http.Server{Handler: b.Handler(), ReadHeaderTimeout: 10 * time.Second}
	b.wg.Add(2)
	go func() {
		defer b.wg.Done()
		if err := b.grpcSrv.Serve(b.grpcLis); err != nil {
			b.log.Error("grpc server stopped", "err", err)
		}
	}()
	go func() {
		defer b.wg.Done()
		if err := b.httpSrv.Serve(b.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.log.Error("http server stopped", "err", err)
		}
	}()
	b.log.Info("backend started", "grpc", b.GRPCAddr(), "http", b.HTTPAddr(), "seed", seed)
	return b, nil
}

// GRPCAddr is the bound gRPC address.
func (b *Backend) GRPCAddr() string { return b.grpcLis.Addr().String() }

// HTTPAddr is the bound HTTP address.
func (b *Backend) HTTPAddr() string { return b.httpLis.Addr().String() }

// Name is what the backend answers with: "<service>/<version>".
func (b *Backend) Name() string { return b.cfg.Service + "/" + b.cfg.Version }

// Gatherer exposes the backend's own metrics registry.
func (b *Backend) Gatherer() prometheus.Gatherer { return b.reg }

// Faults returns the current faults.
func (b *Backend) Faults() Faults {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.faults
}

// SetFaults replaces the faults; invalid faults change nothing.
func (b *Backend) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	b.mu.Lock()
	b.faults = f
	b.mu.Unlock()
	b.log.Info("faults changed", "errorRatio", f.ErrorRatio, "latency", f.Latency, "latencyJitter", f.LatencyJitter)
	return nil
}

// Close stops both servers, letting requests in flight finish for up to
// five seconds.
func (b *Backend) Close() error {
	b.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopped := make(chan struct{})
		go func() { b.grpcSrv.GracefulStop(); close(stopped) }()
		err := b.httpSrv.Shutdown(ctx)
		select {
		case <-stopped:
		case <-ctx.Done():
			b.grpcSrv.Stop()
			<-stopped
		}
		b.wg.Wait()
		if err != nil {
			b.closeErr = fmt.Errorf("shut down http server: %w", err)
		}
		b.log.Info("backend stopped")
	})
	return b.closeErr
}

// draw decides one request's fate under the current faults.
func (b *Backend) draw() (fail bool, delay time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.faults
	fail = f.ErrorRatio > 0 && b.rng.Float64() < f.ErrorRatio
	delay = f.Latency
	if j := int64(f.LatencyJitter); j > 0 {
		delay += time.Duration(b.rng.Int64N(2*j+1) - j)
	}
	return fail, max(delay, 0)
}

// wait sleeps for d or until ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// UnaryCall answers with the backend's name and gRPC address, or with
// UNAVAILABLE as often as the error ratio says.
func (b *Backend) UnaryCall(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	start := time.Now()
	tenant, authority := "", ""
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(TenantHeader); len(v) > 0 {
			tenant = v[0]
		}
		if v := md.Get(":authority"); len(v) > 0 {
			authority = v[0]
		}
	}
	b.shadow.note(ProtocolGRPC, authority)
	fail, delay := b.draw()
	code, err := "OK", error(nil)
	switch werr := wait(ctx, delay); {
	case werr != nil:
		err = status.FromContextError(werr).Err()
		code = grpcCodeName(status.Code(err))
	case fail:
		err = status.Errorf(codes.Unavailable, "%s: injected fault", b.Name())
		code = "UNAVAILABLE"
	}
	b.metrics.observe(ProtocolGRPC, code, tenant, time.Since(start))
	if err != nil {
		return nil, err
	}
	return &testgrpc.SimpleResponse{Hostname: b.Name(), ServerId: b.GRPCAddr()}, nil
}

// grpcCodeName is the canonical upper-case name of a code, as in the gRPC
// specification ("DEADLINE_EXCEEDED").
func grpcCodeName(c codes.Code) string {
	switch c {
	case codes.OK:
		return "OK"
	case codes.Canceled:
		return "CANCELLED"
	case codes.DeadlineExceeded:
		return "DEADLINE_EXCEEDED"
	case codes.Unavailable:
		return "UNAVAILABLE"
	}
	return fmt.Sprintf("CODE_%d", uint32(c))
}

// Handler is the backend's HTTP handler: /metrics, /admin/faults, and the
// application on every other path.
func (b *Backend) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(b.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/admin/faults", b.serveFaults)
	mux.HandleFunc("/", b.serveApp)
	return mux
}

func (b *Backend) serveApp(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	b.shadow.note(ProtocolHTTP, r.Host)
	fail, delay := b.draw()
	if err := wait(r.Context(), delay); err != nil {
		// The client went away; 499 is the conventional "client closed
		// request" status.
		b.metrics.observe(ProtocolHTTP, "499", r.Header.Get(TenantHeader), time.Since(start))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "%s %s unavailable (injected fault)\n", b.cfg.Service, b.cfg.Version)
		b.metrics.observe(ProtocolHTTP, "503", r.Header.Get(TenantHeader), time.Since(start))
		return
	}
	fmt.Fprintf(w, "%s %s\n", b.cfg.Service, b.cfg.Version)
	b.metrics.observe(ProtocolHTTP, "200", r.Header.Get(TenantHeader), time.Since(start))
}
