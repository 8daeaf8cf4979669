// Package promtest runs a real Prometheus server for tests.
//
// Start launches the `prometheus` binary (the Debian package, or any
// Prometheus 2.x/3.x on PATH) on a free loopback port, with a generated
// configuration that scrapes the given targets every second and a fresh
// TSDB directory, and stops it when the test ends. Prometheus answers its
// API within a fraction of a second but stores its first sample several
// seconds later: wait for data with WaitForSeries, not for the port.
package promtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Binary is the name of the Prometheus executable looked up on PATH.
const Binary = "prometheus"

// ErrNoData is returned by WaitForSeries when its context ends before the
// query returned data.
var ErrNoData = errors.New("query returned no data")

// readyTimeout bounds how long Start and Restart wait for the API.
const readyTimeout = 30 * time.Second

// stopTimeout is how long Stop waits after SIGTERM before it kills.
const stopTimeout = 10 * time.Second

// Options configure a Server.
type Options struct {
	// Targets are host:port addresses scraped at /metrics, all in one job
	// named "test".
	Targets []string
	// ScrapeInterval is the scrape and rule evaluation interval; 1s when
	// zero.
	ScrapeInterval time.Duration
	// Lifecycle enables the /-/reload and /-/quit endpoints.
	Lifecycle bool
}

// Server is a running (or stopped) Prometheus process.
type Server struct {
	bin     string
	addr    string
	args    []string
	logs    *syncBuffer
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// Start runs Prometheus scraping targets (host:port, path /metrics) and
// returns once its HTTP API answers. It stops on t.Cleanup. When the
// binary is missing the test fails, or is skipped under -short.
func Start(t testing.TB, targets ...string) *Server {
	t.Helper()
	return StartWith(t, Options{Targets: targets})
}

// StartWith is Start with options.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := exec.LookPath(Binary)
	if err != nil {
		msg := fmt.Sprintf("%s not found on PATH (install the Debian package: apt-get install prometheus): %v", Binary, err)
		if testing.Short() {
			t.Skip(msg)
		}
		t.Fatal(msg)
	}
	interval := opts.ScrapeInterval
	if interval <= 0 {
		interval = time.Second
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(configYAML(interval, opts.Targets)), 0o600); err != nil {
		t.Fatalf("write Prometheus config: %v", err)
	}
	s := &Server{bin: bin, addr: freeAddr(t), logs: &syncBuffer{}}
	s.args = []string{
		"--config.file=" + cfg,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + s.addr,
	}
	if opts.Lifecycle {
		s.args = append(s.args, "--web.enable-lifecycle")
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("prometheus log (last 4 KiB):\n%s", s.logs.tail(4096))
		}
	})
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// configYAML renders a scrape configuration. Targets are quoted so that
// any host:port is read as a string.
func configYAML(interval time.Duration, targets []string) string {
	iv := model.Duration(interval).String()
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n", iv, iv, iv)
	b.WriteString("scrape_configs:\n  - job_name: test\n    static_configs:\n      - targets: [")
	for i, tg := range targets {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(tg))
	}
	b.WriteString("]\n")
	return b.String()
}

// freeAddr picks a free loopback port.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("release port %s: %v", addr, err)
	}
	return addr
}

// URL is the base URL of the HTTP API, e.g. "http://127.0.0.1:41234". It
// stays the same across Restart.
func (s *Server) URL() string { return "http://" + s.addr }

// Logs returns what Prometheus has written so far.
func (s *Server) Logs() string { return s.logs.String() }

// start launches the process and waits for its API. Errors are returned,
// not reported, so that Restart may be called from any test.
func (s *Server) start() error {
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return errors.New("prometheus is already running")
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("start prometheus: %w", err)
	}
	exited := make(chan struct{})
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.waitErr = err
		s.mu.Unlock()
		close(exited)
	}()
	if err := s.waitReady(exited); err != nil {
		return fmt.Errorf("prometheus at %s did not become ready: %w\nlog:\n%s", s.addr, err, s.logs.tail(4096))
	}
	return nil
}

// waitReady polls /-/ready until it answers 200, the process exits, or
// readyTimeout passes.
func (s *Server) waitReady(exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			s.mu.Lock()
			err := s.waitErr
			s.mu.Unlock()
			if err == nil {
				return errors.New("process exited with status 0")
			}
			return fmt.Errorf("process exited: %w", err)
		case <-tick.C:
		}
		resp, err := client.Get(s.URL() + "/-/ready")
		if err != nil {
			last = err
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("/-/ready answered %s", resp.Status)
	}
	return fmt.Errorf("timed out after %s: %v", readyTimeout, last)
}

// Stop terminates Prometheus (SIGTERM, then SIGKILL after 10 s) and waits
// for it to exit. Its data directory and port are kept for Restart.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Restart stops Prometheus if it runs and starts it again on the same port
// with the same data directory, returning once its API answers. Samples
// from before the restart are still there; new ones arrive after the
// first scrape (WaitForSeries with a timestamp() condition waits for it).
// It returns an error instead of failing the test, so that it may be
// called from subtests.
func (s *Server) Restart() error {
	s.Stop()
	return s.start()
}

// WaitForSeries polls query (an instant query at the current time) until
// it returns a non-empty vector or a finite scalar, and returns nil then.
// When ctx ends first it returns an error matching ErrNoData that says
// what the query returned last.
func (s *Server) WaitForSeries(ctx context.Context, query string) error {
	c, err := api.NewClient(api.Config{Address: s.URL()})
	if err != nil {
		return fmt.Errorf("prometheus client for %s: %w", s.URL(), err)
	}
	promAPI := v1.NewAPI(c)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := "nothing yet"
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		v, _, _, err := promAPI.Query(qctx, query, time.Now())
		cancel()
		switch {
		case err != nil:
			last = "error: " + err.Error()
		case hasData(v):
			return nil
		default:
			last = "empty result: " + v.String()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: last answer: %s (%w)", ErrNoData, query, last, ctx.Err())
		case <-tick.C:
		}
	}
}

func hasData(v model.Value) bool {
	switch r := v.(type) {
	case model.Vector:
		return len(r) > 0
	case *model.Scalar:
		f := float64(r.Value)
		return !math.IsNaN(f) && !math.IsInf(f, 0)
	case model.Matrix:
		return len(r) > 0
	}
	return false
}

// syncBuffer is a bytes.Buffer safe for the process's writers and readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) tail(n int) string {
	s := b.String()
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
