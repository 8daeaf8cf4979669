package envoybench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/test/envoytest"
	"github.com/sluicehq/sluice/xds"
)

// ErrBadConfig is returned by Run for a Config it cannot run.
var ErrBadConfig = errors.New("invalid convergence benchmark configuration")

// pollEvery is how often each Envoy's admin interface is asked for the
// route while a round converges.
const pollEvery = 20 * time.Millisecond

// Config configures one run at one fleet size.
type Config struct {
	// Envoys is the number of Envoy processes (M); Rounds the weight
	// changes timed per control plane; Services the http services in the
	// configuration (default 20), all on one gateway port.
	Envoys, Rounds, Services int
	// SluiceBin and EnvoyBin are the binaries; Dir holds data directories
	// and logs.
	SluiceBin, EnvoyBin, Dir string
	// StartBare starts the bare server on addr, holding the fleet at split
	// under version (default: in this process, CPU unknown).
	StartBare func(addr string, services, port, split int, version string) (Bare, error)
	Logger    *slog.Logger
	// Timeout bounds each wait (default 2m).
	Timeout time.Duration
}

// PathResult is one control plane's rounds.
type PathResult struct {
	Path string `json:"path"`
	// Latencies holds, for every round and Envoy, the time from just
	// before the change to that Envoy's last_updated of the new route.
	Latencies []time.Duration `json:"latenciesNs"`
	// RoundMax is, per round, the slowest Envoy's latency.
	RoundMax []time.Duration `json:"roundMaxNs"`
	// ControlCPU and EnvoyCPU are CPU time (user and system) per round of
	// the control plane process and of all Envoys together (0: unknown).
	ControlCPU time.Duration `json:"controlCpuPerRoundNs"`
	EnvoyCPU   time.Duration `json:"envoyCpuPerRoundNs"`
}

// P50 is the median latency over every Envoy and round.
func (p PathResult) P50() time.Duration { return quantile(p.Latencies, 0.5) }

// Max is the largest latency of any Envoy in any round.
func (p PathResult) Max() time.Duration { return quantile(p.Latencies, 1) }

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	return s[int(q*float64(len(s)-1))]
}

// Result compares both control planes at one fleet size.
type Result struct {
	Envoys int        `json:"envoys"`
	Sluice PathResult `json:"sluice"`
	Bare   PathResult `json:"bare"`
}

// run is one Run's processes.
type run struct {
	cfg    Config
	log    *slog.Logger
	port   int
	route  string
	envoys []*envoytest.Proxy
}

// Run starts a single Sluice node and cfg.Envoys Envoys, times
// cfg.Rounds weight changes through Sluice's API, hands the same Envoys
// over to a bare go-control-plane server with the same state, and times
// cfg.Rounds changes there.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	if cfg.Envoys <= 0 || cfg.Rounds <= 0 || cfg.SluiceBin == "" || cfg.EnvoyBin == "" || cfg.Dir == "" {
		return nil, fmt.Errorf("%w: need Envoys > 0, Rounds > 0, SluiceBin, EnvoyBin and Dir", ErrBadConfig)
	}
	if cfg.Services <= 0 {
		cfg.Services = 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.StartBare == nil {
		cfg.StartBare = func(addr string, services, port, split int, version string) (Bare, error) {
			lis, err := net.Listen("tcp", addr)
			if err != nil {
				return nil, err
			}
			return ServeBare(lis, services, port, split, version)
		}
	}
	addrs, err := freeAddrs(5)
	if err != nil {
		return nil, err
	}
	apiAddr, xdsAddr, raftAddr, bareAddr := addrs[0], addrs[1], addrs[2], addrs[3]
	_, gw, _ := net.SplitHostPort(addrs[4])
	r := &run{cfg: cfg, log: cfg.Logger.With("envoys", cfg.Envoys)}
	r.port, _ = strconv.Atoi(gw)
	r.route = RouteName(r.port)
	res = &Result{Envoys: cfg.Envoys, Sluice: PathResult{Path: "sluice"}, Bare: PathResult{Path: "bare"}}

	// Sluice, one node, and the fleet at split 0.
	sluice, err := startSluice(cfg, apiAddr, xdsAddr, raftAddr)
	if err != nil {
		return nil, err
	}
	defer sluice.stop()
	cl := api.NewClient(apiAddr)
	cl.Actor = "sluice-bench"
	var index uint64
	if err := poll(ctx, cfg.Timeout, "Sluice takes the fleet configuration", func() error {
		if sluice.exited() {
			return fmt.Errorf("%w: sluice exited (log: %s)", errStop, filepath.Join(cfg.Dir, "sluice.log"))
		}
		ar, err := cl.Apply(ctx, "fleet.yaml", FleetYAML(cfg.Services, r.port, 0))
		if err == nil {
			index = ar.Index
		}
		return err
	}); err != nil {
		return nil, err
	}

	// The Envoys: Sluice first in their bootstrap, the bare server second
	// (not listening yet).
	defer r.stopEnvoys()
	if err := r.startEnvoys(xdsAddr, bareAddr); err != nil {
		return nil, err
	}
	if _, err := r.awaitAll(ctx, strconv.FormatUint(index, 10), time.Now()); err != nil {
		return nil, fmt.Errorf("envoys on Sluice: %w", err)
	}
	r.log.Info("envoys hold the fleet from Sluice", "index", index)

	err = r.rounds(ctx, &res.Sluice, 0, func() time.Duration { return processCPU(sluice.pid()) }, func(round, split int) (string, error) {
		ar, err := cl.Apply(ctx, "fleet.yaml", FleetYAML(cfg.Services, r.port, split))
		if err != nil {
			return "", err
		}
		return strconv.FormatUint(ar.Index, 10), nil
	})
	if err != nil {
		return nil, fmt.Errorf("sluice rounds: %w", err)
	}

	// Hand the same Envoys over to the bare server, at the other split:
	// Envoy keeps the version and last_updated of a route whose content
	// an update does not change, so only new content shows the handover.
	split := 1 - cfg.Rounds%2
	bare, err := cfg.StartBare(bareAddr, cfg.Services, r.port, split, "bare-0")
	if err != nil {
		return nil, fmt.Errorf("start the bare server: %w", err)
	}
	defer bare.Close()
	sluice.stop()
	if _, err := r.awaitAll(ctx, "bare-0", time.Now()); err != nil {
		return nil, fmt.Errorf("envoys on the bare server: %w", err)
	}
	r.log.Info("envoys moved to the bare server")
	err = r.rounds(ctx, &res.Bare, split, bare.CPU, func(round, split int) (string, error) {
		v := fmt.Sprintf("bare-%d", round+1)
		return v, bare.Set(split, v)
	})
	if err != nil {
		return nil, fmt.Errorf("bare rounds: %w", err)
	}
	return res, nil
}

// rounds times cfg.Rounds changes made by change, alternating the split
// from the one the fleet holds; change returns the route version the
// Envoys then must hold.
func (r *run) rounds(ctx context.Context, p *PathResult, from int, controlCPU func() time.Duration, change func(round, split int) (string, error)) error {
	cpu0, envoy0 := controlCPU(), r.envoyCPU()
	for round := range r.cfg.Rounds {
		split := (from + round + 1) % 2
		t0 := time.Now()
		version, err := change(round, split)
		if err != nil {
			return fmt.Errorf("round %d: %w", round+1, err)
		}
		lat, err := r.awaitAll(ctx, version, t0)
		if err != nil {
			return fmt.Errorf("round %d: %w", round+1, err)
		}
		p.Latencies = append(p.Latencies, lat...)
		p.RoundMax = append(p.RoundMax, slices.Max(lat))
		r.log.Debug("round", "path", p.Path, "round", round+1, "version", version, "max", slices.Max(lat))
	}
	n := time.Duration(r.cfg.Rounds)
	if c := controlCPU(); c > 0 {
		p.ControlCPU = (c - cpu0) / n
	}
	p.EnvoyCPU = (r.envoyCPU() - envoy0) / n
	return nil
}

func (r *run) startEnvoys(xdsAddr, bareAddr string) error {
	for i := range r.cfg.Envoys {
		b, err := xds.EnvoyBootstrap(xds.BootstrapOptions{
			NodeID: fmt.Sprintf("envoy-%02d", i), Cluster: Group.Cluster, Region: Group.Region, Zone: Group.Zone,
			XDS: []string{xdsAddr, bareAddr}, Admin: "127.0.0.1:0", GatewayAddress: Group.GatewayAddress,
		})
		if err != nil {
			return err
		}
		boot, err := xds.MarshalBootstrap(b, xds.FormatYAML)
		if err != nil {
			return err
		}
		dir := filepath.Join(r.cfg.Dir, fmt.Sprintf("envoy-%02d", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		px, err := envoytest.StartProcess(envoytest.Options{Bin: r.cfg.EnvoyBin, Bootstrap: boot, Dir: dir, LogLevel: "warn"})
		if err != nil {
			return fmt.Errorf("envoy %d: %w", i, err)
		}
		r.envoys = append(r.envoys, px)
	}
	return nil
}

func (r *run) stopEnvoys() {
	for _, e := range r.envoys {
		e.Stop()
	}
}

func (r *run) envoyCPU() time.Duration {
	var sum time.Duration
	for _, e := range r.envoys {
		sum += processCPU(e.Pid())
	}
	return sum
}

// awaitAll waits until every Envoy holds the bench route at version and
// returns, per Envoy, its last_updated minus t0.
func (r *run) awaitAll(ctx context.Context, version string, t0 time.Time) ([]time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	lat := make([]time.Duration, len(r.envoys))
	errs := make([]error, len(r.envoys))
	var wg sync.WaitGroup
	for i, e := range r.envoys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = poll(ctx, r.cfg.Timeout, fmt.Sprintf("envoy %d holds %s at %s", i, r.route, version), func() error {
				rc, ok, err := e.Admin().Route(ctx, r.route)
				switch {
				case err != nil:
					return err
				case !ok || rc.Version != version:
					return fmt.Errorf("holds version %q", rc.Version)
				}
				lat[i] = max(rc.Updated.Sub(t0), 0)
				return nil
			})
		}()
	}
	wg.Wait()
	return lat, errors.Join(errs...)
}

// errStop, wrapped by a condition's error, ends poll at once.
var errStop = errors.New("giving up")

// poll calls cond every pollEvery until it returns nil, ctx ends or
// timeout passes.
func poll(ctx context.Context, timeout time.Duration, what string, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if errors.Is(err, errStop) || time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %v: %w", what, err, ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}

// sluiceProc is the Sluice node process.
type sluiceProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

func startSluice(cfg Config, apiAddr, xdsAddr, raftAddr string) (*sluiceProc, error) {
	dir := filepath.Join(cfg.Dir, "sluice-data")
	logf, err := os.Create(filepath.Join(cfg.Dir, "sluice.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(cfg.SluiceBin, "server", "--dev", "--node-id", "bench-1", "--data-dir", dir, "--bootstrap",
		"--api-addr", apiAddr, "--xds-addr", xdsAddr, "--raft-addr", raftAddr, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start sluice: %w", err)
	}
	p := &sluiceProc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

func (p *sluiceProc) pid() int { return p.cmd.Process.Pid }

func (p *sluiceProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *sluiceProc) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// freeAddrs returns n loopback addresses whose ports nothing listens on.
func freeAddrs(n int) ([]string, error) {
	var out []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// clockTick is the kernel's clock tick (USER_HZ), 100 on Linux.
const clockTick = 10 * time.Millisecond

// ProcessCPU is a process's CPU time so far (user and system), from
// /proc/PID/stat; 0 when it cannot be read.
func ProcessCPU(pid int) time.Duration { return processCPU(pid) }

func processCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses: state is
	// field 3, utime 14 and stime 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * clockTick
}
