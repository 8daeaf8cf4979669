// Package test holds Sluice's end-to-end tests: real `sluice server`
// processes with on-disk Raft stores, real gRPC backends and grpc-go's own
// xDS client as the proxy.
package test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/api"
)

// sluiceBin is the binary built once for the whole package.
var sluiceBin string

// harnessAuthFile holds harnessToken (admin). Servers run with it unless a
// test passes its own --auth-file: every end-to-end test runs closed, as
// production does.
var harnessAuthFile string

const harnessToken = "e2e-harness-admin-token"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sluiceBin = filepath.Join(dir, "sluice")
	harnessAuthFile = filepath.Join(dir, "auth.yaml")
	if err := os.WriteFile(harnessAuthFile, []byte("tokens:\n  - {token: "+harnessToken+", user: e2e, roles: [admin]}\n"), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", sluiceBin, "../cmd/sluice")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build sluice:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback address with a port nothing listens on now.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// proc is one `sluice server` process. Its ports and data directory stay
// the same across restarts.
type proc struct {
	t        testing.TB
	id       string
	dataDir  string
	api      string
	xds      string
	raftAddr string
	args     []string
	// token authenticates the harness's own requests (admin) when the
	// cluster runs with --auth-file.
	token string
	// clientTLS, when set, is how the harness reaches a node over HTTPS.
	clientTLS *tls.Config

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs *logBuffer
}

type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuffer) add(s string) {
	b.mu.Lock()
	b.lines = append(b.lines, s)
	b.mu.Unlock()
}

// since returns the lines from index i on.
func (b *logBuffer) since(i int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i > len(b.lines) {
		return nil
	}
	return slices.Clone(b.lines[i:])
}

func (b *logBuffer) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.lines)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

func newProc(t testing.TB, id string, extra ...string) *proc {
	if !slices.Contains(extra, "--auth-file") && !slices.Contains(extra, "--insecure-no-auth") {
		extra = append([]string{"--auth-file", harnessAuthFile, "--token", harnessToken}, extra...)
	}
	p := &proc{t: t, id: id, dataDir: t.TempDir(), api: freePort(t), xds: freePort(t), raftAddr: freePort(t), args: extra, logs: &logBuffer{}}
	for i, a := range extra {
		if a == "--token" && i+1 < len(extra) {
			p.token = extra[i+1]
		}
	}
	return p
}

func (p *proc) start() {
	p.t.Helper()
	args := append([]string{"server", "--node-id", p.id, "--data-dir", p.dataDir,
		"--api-addr", p.api, "--xds-addr", p.xds, "--raft-addr", p.raftAddr, "--log-level", "debug",
		"--raft-heartbeat-timeout", harnessRaftTimeout, "--raft-election-timeout", harnessRaftTimeout, "--raft-leader-lease-timeout", harnessRaftLease}, p.args...)
	cmd := exec.Command(sluiceBin, args...)
	stderr, err := cmd.StderrPipe()
	require.NoError(p.t, err)
	cmd.Stdout = cmd.Stderr
	require.NoError(p.t, cmd.Start())
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.logs.add(sc.Text())
		}
		_ = cmd.Wait()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	p.t.Cleanup(func() { p.stop(syscall.SIGKILL) })
	p.t.Cleanup(func() {
		if p.t.Failed() {
			p.t.Logf("---- logs of %s ----\n%s", p.id, p.logs.String())
		}
	})
}

// The harness's Raft timeouts are longer than the server's 300 ms
// defaults (raft/DESIGN.md, "Timeouts"): on two cores busy with -race
// test builds and a CPU hog, leaders on 300 ms timeouts (and, earlier, a
// 150 ms lease) stepped down every few seconds, and the tests ran on a
// cluster that kept re-electing. The tests are about what holds across
// elections, not about how fast one is; the failover benchmark
// (make bench-failover) measures that on the defaults.
const (
	harnessRaftTimeout = "1s"
	harnessRaftLease   = "500ms"
)

// startFresh starts a process that has never run. freePort can only
// find a port that was free a moment ago: another process (a node of
// another test, Envoy, Prometheus) may bind it first. When the process
// exits because a port was taken, it gets new ports and a new data
// directory and starts again, up to three times.
func (p *proc) startFresh() {
	p.t.Helper()
	for attempt := 1; ; attempt++ {
		from := p.logs.len()
		p.start()
		if !p.lostPortRace(from) || attempt == 3 {
			return
		}
		p.t.Logf("%s: a port was taken before the process bound it (attempt %d); starting on new ports", p.id, attempt)
		api, xds, raftAddr := freePort(p.t), freePort(p.t), freePort(p.t)
		p.mu.Lock()
		p.dataDir = p.t.TempDir()
		p.api, p.xds, p.raftAddr = api, xds, raftAddr
		p.mu.Unlock()
	}
}

// lostPortRace waits until the process has bound its ports (it logs
// "sluice node started") or exited, and reports whether it exited because
// an address was in use. Log lines from index from on are this start's.
func (p *proc) lostPortRace(from int) bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	deadline := time.After(60 * time.Second)
	for {
		exited := false
		select {
		case <-done:
			exited = true
		case <-deadline:
			return false
		case <-time.After(20 * time.Millisecond):
		}
		lines := p.logs.since(from)
		for _, l := range lines {
			if strings.Contains(l, "sluice node started") {
				return false
			}
		}
		if exited {
			for _, l := range lines {
				if strings.Contains(l, "address already in use") {
					p.mu.Lock()
					p.cmd = nil
					p.mu.Unlock()
					return true
				}
			}
			return false
		}
	}
}

// stop sends sig and waits for the process to exit.
func (p *proc) stop(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// signal sends sig (SIGSTOP, SIGCONT) without waiting for anything.
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// pid is the running process's id, 0 when it is not running.
func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// raftTarget is the address the process's Raft transport listens on
// (it changes only when startFresh retries on new ports).
func (p *proc) raftTarget() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.raftAddr
}

func (p *proc) client() *api.Client {
	c := api.NewClientWith(p.api, api.ClientOptions{TLS: p.clientTLS})
	c.Actor = "e2e"
	c.Token = p.token
	return c
}

// as returns a client that authenticates with token.
func (p *proc) as(token string) *api.Client {
	c := api.NewClientWith(p.api, api.ClientOptions{TLS: p.clientTLS})
	c.Token = token
	return c
}

// eventually polls cond every 50ms until it returns nil or the deadline
// passes, then fails with the last error.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = cond(); last == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startCluster starts n processes: the first bootstraps, the others join
// it; extra flags go to every process.
func startCluster(t testing.TB, n int, extra ...string) []*proc {
	t.Helper()
	return startClusterWith(t, n, nil, extra...)
}

// startClusterWith is startCluster with prepare called on each process
// before it first starts (nil: nothing).
func startClusterWith(t testing.TB, n int, prepare func(*proc), extra ...string) []*proc {
	t.Helper()
	if prepare == nil {
		prepare = func(*proc) {}
	}
	procs := make([]*proc, n)
	procs[0] = newProc(t, "n1", append([]string{"--bootstrap"}, extra...)...)
	prepare(procs[0])
	procs[0].startFresh()
	waitReady(t, procs[0])
	for i := 1; i < n; i++ {
		procs[i] = newProc(t, fmt.Sprintf("n%d", i+1), append([]string{"--join", procs[0].api}, extra...)...)
		prepare(procs[i])
		procs[i].startFresh()
	}
	waitMembers(t, procs, n)
	for _, p := range procs {
		waitReady(t, p)
	}
	return procs
}

func waitReady(t testing.TB, p *proc) {
	t.Helper()
	eventually(t, 30*time.Second, p.id+" ready", func() error {
		if !p.client().Ready(context.Background()) {
			return fmt.Errorf("/readyz not 200")
		}
		return nil
	})
}

// waitMembers waits until every process sees n members with addresses
// and agrees on one leader.
func waitMembers(t testing.TB, procs []*proc, n int) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("%d members", n), func() error {
		leaders := map[string]bool{}
		for _, p := range procs {
			m, err := p.client().Members(context.Background())
			if err != nil {
				return err
			}
			if len(m.Members) != n {
				return fmt.Errorf("%s sees %d members", p.id, len(m.Members))
			}
			for _, mm := range m.Members {
				if mm.APIAddr == "" {
					return fmt.Errorf("%s: member %s has no API address yet", p.id, mm.ID)
				}
			}
			leaders[m.Leader] = true
		}
		if len(leaders) != 1 || leaders[""] {
			return fmt.Errorf("leaders seen: %v", leaders)
		}
		return nil
	})
}

// leaderOf returns the process that leads, as seen by the live ones.
func leaderOf(t testing.TB, procs []*proc) *proc {
	t.Helper()
	var leader *proc
	eventually(t, 30*time.Second, "a leader", func() error {
		for _, p := range procs {
			m, err := p.client().Members(context.Background())
			if err != nil {
				continue
			}
			for _, q := range procs {
				if q.id != m.Leader {
					continue
				}
				// A follower may still name a leader that has been
				// deposed: only one that says so of itself counts.
				if own, err := q.client().Members(context.Background()); err == nil && own.Leader == q.id {
					leader = q
					return nil
				}
			}
		}
		return fmt.Errorf("no live process reports a live leader that agrees it leads")
	})
	return leader
}

// splitLeader returns the process that leads and the others, in order.
func splitLeader(t testing.TB, procs []*proc) (*proc, []*proc) {
	t.Helper()
	leader := leaderOf(t, procs)
	var followers []*proc
	for _, p := range procs {
		if p != leader {
			followers = append(followers, p)
		}
	}
	return leader, followers
}
