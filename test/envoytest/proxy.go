package envoytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long Start waits for the admin interface.
const startTimeout = 60 * time.Second

// stopTimeout is how long Stop waits after SIGTERM before it kills.
const stopTimeout = 10 * time.Second

// Options configure one Envoy process.
type Options struct {
	// Bin is the Envoy binary (Find's result).
	Bin string
	// Bootstrap is the configuration, YAML or JSON (`sluice envoy
	// bootstrap`). Its admin address may use port 0: the one Envoy takes
	// is read back from --admin-address-path.
	Bootstrap []byte
	// Dir holds the bootstrap file, the admin address file and the log.
	Dir string
	// Concurrency is the number of worker threads (default 1: tests run
	// many Envoys on two cores).
	Concurrency int
	// LogLevel is Envoy's log level (default "info").
	LogLevel string
}

// Proxy is a running (or stopped) Envoy process.
type Proxy struct {
	opts    Options
	cfgPath string
	logPath string
	admin   *Admin

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// Start runs an Envoy for a test and stops it when the test ends; the
// binary is Binary(t)'s, so the test fails without one (or skips under
// -short). It returns once the admin interface answers. Its log is
// printed when the test fails.
func Start(t testing.TB, bootstrap []byte) *Proxy {
	t.Helper()
	p, err := StartProcess(Options{Bin: Binary(t), Bootstrap: bootstrap, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("envoy log %s (last 6 KiB):\n%s", p.logPath, p.LogTail(6<<10))
		}
	})
	return p
}

// StartProcess runs an Envoy and returns once its admin interface answers.
// Every Envoy runs with --disable-hot-restart: without it, a second Envoy
// on the same host with the same --base-id fails on its shared memory
// ("unable to bind domain socket with base_id=0").
func StartProcess(opts Options) (*Proxy, error) {
	if opts.Bin == "" || opts.Dir == "" || len(opts.Bootstrap) == 0 {
		return nil, errors.New("envoytest: Options need Bin, Dir and Bootstrap")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	p := &Proxy{opts: opts, cfgPath: filepath.Join(opts.Dir, "envoy.yaml"), logPath: filepath.Join(opts.Dir, "envoy.log")}
	if err := os.WriteFile(p.cfgPath, opts.Bootstrap, 0o600); err != nil {
		return nil, fmt.Errorf("write bootstrap: %w", err)
	}
	if err := p.start(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Proxy) start() error {
	p.mu.Lock()
	if p.cmd != nil {
		p.mu.Unlock()
		return errors.New("envoy is already running")
	}
	adminPath := filepath.Join(p.opts.Dir, "admin-address")
	_ = os.Remove(adminPath)
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("open envoy log: %w", err)
	}
	cmd := exec.Command(p.opts.Bin, "-c", p.cfgPath, "--admin-address-path", adminPath,
		"--disable-hot-restart", "--concurrency", fmt.Sprint(p.opts.Concurrency), "-l", p.opts.LogLevel)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		logFile.Close()
		return fmt.Errorf("start envoy: %w", err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logFile.Close()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(exited)
	}()
	addr, err := waitAdmin(adminPath, exited)
	if err != nil {
		p.Stop()
		return fmt.Errorf("envoy did not start: %w\nlog:\n%s", err, p.LogTail(4<<10))
	}
	p.admin = NewAdmin(addr)
	return nil
}

// waitAdmin waits for Envoy to write its admin address, and for the admin
// interface to answer.
func waitAdmin(path string, exited <-chan struct{}) (string, error) {
	deadline := time.Now().Add(startTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return "", errors.New("process exited")
		case <-tick.C:
		}
		b, err := os.ReadFile(path)
		if err != nil || len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		addr := strings.TrimSpace(string(b))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err = NewAdmin(addr).get(ctx, "/server_info")
		cancel()
		if err == nil {
			return addr, nil
		}
	}
	return "", fmt.Errorf("no admin interface within %s", startTimeout)
}

// Admin is the proxy's admin interface.
func (p *Proxy) Admin() *Admin { return p.admin }

// Running reports whether the process has not exited.
func (p *Proxy) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Pid is the process id (0 when stopped).
func (p *Proxy) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Stop terminates Envoy (SIGTERM, then SIGKILL) and waits for it.
// Stopping a stopped proxy does nothing.
func (p *Proxy) Stop() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
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

// Log returns what Envoy has logged so far.
func (p *Proxy) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// LogTail returns the last n bytes of the log.
func (p *Proxy) LogTail(n int) string {
	s := p.Log()
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
