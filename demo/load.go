package demo

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// LoadConfig configures a load generator.
type LoadConfig struct {
	// Target is a gRPC target. A bare name ("greeter") means
	// "xds:///greeter", which needs grpc-go's xDS resolver: either the
	// process imports google.golang.org/grpc/xds and was started with a
	// bootstrap in its environment, or DialOptions carry a resolver (e.g.
	// grpc.WithResolvers(xds.NewXDSResolverWithConfigForTesting(...))).
	Target string
	// RPS is the rate Run sends at.
	RPS float64
	// Headers are sent as metadata with every RPC (keys are lowercased).
	Headers map[string]string
	// Timeout bounds each RPC (default 2s).
	Timeout time.Duration
	// MaxInFlight bounds outstanding RPCs in Run (default 256); an RPC due
	// while that many are outstanding is dropped and counted.
	MaxInFlight int
	// DialOptions are added after the default insecure credentials.
	DialOptions []grpc.DialOption
	// HTTP, when set, sends HTTP requests (through an Envoy, say) instead
	// of gRPC calls; Target and DialOptions are then unused.
	HTTP *HTTPTarget
}

// Counts are a load generator's totals. Successful RPCs are counted by
// the version that answered (the part of the response's hostname after the
// last "/"), failed ones by gRPC code name.
type Counts struct {
	OK        uint64
	Errors    uint64
	Dropped   uint64
	ByVersion map[string]uint64
	ByCode    map[string]uint64
}

// RPCs is the number of RPCs that completed, successfully or not.
func (c Counts) RPCs() uint64 { return c.OK + c.Errors }

// Share is the fraction of successful RPCs that version answered (0 when
// none succeeded).
func (c Counts) Share(version string) float64 {
	if c.OK == 0 {
		return 0
	}
	return float64(c.ByVersion[version]) / float64(c.OK)
}

// Versions lists the versions that answered, sorted.
func (c Counts) Versions() []string { return slices.Sorted(maps.Keys(c.ByVersion)) }

// Sub returns what happened between prev and c.
func (c Counts) Sub(prev Counts) Counts {
	d := Counts{OK: c.OK - prev.OK, Errors: c.Errors - prev.Errors, Dropped: c.Dropped - prev.Dropped,
		ByVersion: map[string]uint64{}, ByCode: map[string]uint64{}}
	for k, v := range c.ByVersion {
		if n := v - prev.ByVersion[k]; n > 0 {
			d.ByVersion[k] = n
		}
	}
	for k, v := range c.ByCode {
		if n := v - prev.ByCode[k]; n > 0 {
			d.ByCode[k] = n
		}
	}
	return d
}

func (c Counts) clone() Counts {
	c.ByVersion, c.ByCode = maps.Clone(c.ByVersion), maps.Clone(c.ByCode)
	return c
}

// Load sends grpc_testing UnaryCalls to a target and counts who answered.
// Its methods are safe for concurrent use.
type Load struct {
	cfg    LoadConfig
	md     metadata.MD
	conn   *grpc.ClientConn
	client testgrpc.TestServiceClient
	http   *httpCaller // set instead of conn and client for HTTP loads

	mu     sync.Mutex
	counts Counts
}

// NewLoad validates cfg and creates the client connection (it connects
// lazily, on the first RPC).
func NewLoad(cfg LoadConfig) (*Load, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	if cfg.HTTP != nil {
		return newHTTPLoad(cfg)
	}
	if cfg.Target == "" {
		return nil, fmt.Errorf("%w: load generator needs a target", ErrInvalidConfig)
	}
	md := metadata.MD{}
	for k, v := range cfg.Headers {
		if k == "" || strings.HasPrefix(k, ":") || strings.HasPrefix(strings.ToLower(k), "grpc-") {
			return nil, fmt.Errorf("%w: header %q: names must be non-empty and not reserved (\":...\", \"grpc-...\")", ErrInvalidConfig, k)
		}
		md.Append(k, v)
	}
	target := cfg.Target
	if !strings.Contains(target, ":///") {
		target = "xds:///" + target
	}
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, cfg.DialOptions...)
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("create client for %s: %w", target, err)
	}
	return &Load{cfg: cfg, md: md, conn: conn, client: testgrpc.NewTestServiceClient(conn),
		counts: Counts{ByVersion: map[string]uint64{}, ByCode: map[string]uint64{}}}, nil
}

// withDefaults checks the rate and fills in the timeout and the in-flight
// bound, for gRPC and HTTP loads alike.
func (cfg *LoadConfig) withDefaults() error {
	if cfg.RPS < 0 || cfg.RPS > 100_000 {
		return fmt.Errorf("%w: rps %v: must be between 0 and 100000", ErrInvalidConfig, cfg.RPS)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	return nil
}

// Counts returns a copy of the totals so far.
func (l *Load) Counts() Counts {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts.clone()
}

// Close closes the client connection.
func (l *Load) Close() error {
	if l.http != nil {
		l.http.close()
		return nil
	}
	return l.conn.Close()
}

// Call sends one RPC, counts its outcome and returns the version that
// answered.
func (l *Load) Call(ctx context.Context) (string, error) {
	if l.http != nil {
		return l.callHTTP(ctx)
	}
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(ctx, l.md), l.cfg.Timeout)
	defer cancel()
	resp, err := l.client.UnaryCall(ctx, &testgrpc.SimpleRequest{})
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.counts.Errors++
		l.counts.ByCode[grpcCodeName(status.Code(err))]++
		return "", err
	}
	h := resp.GetHostname()
	v := h[strings.LastIndex(h, "/")+1:]
	l.counts.OK++
	l.counts.ByVersion[v]++
	return v, nil
}

// Run sends RPCs at cfg.RPS until ctx ends, then waits for the RPCs in
// flight (each bounded by cfg.Timeout) and returns. RPCs are paced
// open-loop: a slow answer does not slow the rate down.
func (l *Load) Run(ctx context.Context) error {
	if l.cfg.RPS == 0 {
		<-ctx.Done()
		return nil
	}
	period := max(time.Duration(float64(time.Second)/l.cfg.RPS), time.Millisecond)
	tick := time.NewTicker(period)
	defer tick.Stop()
	// RPCs outlive ctx so that stopping does not count them as cancelled.
	rpcCtx := context.WithoutCancel(ctx)
	sem := make(chan struct{}, l.cfg.MaxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	start, sent := time.Now(), int64(0)
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			due := int64(now.Sub(start).Seconds()*l.cfg.RPS) - sent
			for ; due > 0; due-- {
				sent++
				select {
				case sem <- struct{}{}:
				default:
					l.mu.Lock()
					l.counts.Dropped++
					l.mu.Unlock()
					continue
				}
				wg.Add(1)
				go func() {
					defer func() { <-sem; wg.Done() }()
					_, _ = l.Call(rpcCtx)
				}()
			}
		}
	}
}
