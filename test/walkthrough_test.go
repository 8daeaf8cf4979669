package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// walkthroughAddrs are the fixed addresses the README's "One node" block
// uses (the server's defaults and the examples' backends).
var walkthroughAddrs = []string{"127.0.0.1:7070", "127.0.0.1:7071", "127.0.0.1:18000", "127.0.0.1:9090",
	"127.0.0.1:9101", "127.0.0.1:9102", "127.0.0.1:9111", "127.0.0.1:9112"}

// walkthroughReady says when a backgrounded line of the walkthrough is
// ready, as a person would see it: by a line it prints.
var walkthroughReady = map[string]*regexp.Regexp{
	"make one-node":  regexp.MustCompile(`(?m)^ready; Ctrl-C stops everything$`),
	"sluice server ": regexp.MustCompile(`sluice dev server: api`),
}

// readmeBlock returns the lines of the first sh block after heading in
// the README, without comments.
func readmeBlock(t *testing.T, heading string) []string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	s := string(data)
	i := strings.Index(s, "\n"+heading+"\n")
	require.GreaterOrEqual(t, i, 0, "README has no %q", heading)
	s = s[i:]
	start := strings.Index(s, "```sh\n")
	require.GreaterOrEqual(t, start, 0)
	s = s[start+len("```sh\n"):]
	s = s[:strings.Index(s, "```")]
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if j := strings.Index(l, "  #"); j >= 0 {
			l = l[:j]
		}
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// walkthroughShell runs a line of the walkthrough as a person's shell
// would, from the repository root, with its bin/ on PATH (the block's
// first line builds it and puts it there).
func walkthroughShell(ctx context.Context, root, line string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "bash", "-c", line)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(root, "bin")+":"+os.Getenv("PATH"), "NO_COLOR=", "SLUICE_ADDR=", "SLUICE_TOKEN=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Stopped as Ctrl-C or the end of a session would stop it: the whole
	// process group.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// TestWalkthrough follows the README's "One node" block literally: it
// builds, starts the example backends, Prometheus and a client (make
// one-node) and a dev server, applies the examples and starts a release,
// then watches it until the canary has been analysed on real traffic.
func TestWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus, backends and a server on fixed ports")
	}
	for _, a := range walkthroughAddrs {
		if c, err := net.DialTimeout("tcp", a, 200*time.Millisecond); err == nil {
			c.Close()
			t.Fatalf("%s is in use: the walkthrough needs the default ports the README names; stop what listens there", a)
		}
	}
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	lines := readmeBlock(t, "### One node")
	require.GreaterOrEqual(t, len(lines), 3)
	watch := lines[len(lines)-1]
	require.True(t, strings.HasPrefix(watch, "sluice release watch "), "the walkthrough ends with a watch: %q", watch)

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	outputs := map[string]string{}
	for _, line := range lines[:len(lines)-1] {
		if cmdLine, ok := strings.CutSuffix(line, "&"); ok {
			cmdLine = strings.TrimSpace(cmdLine)
			var ready *regexp.Regexp
			for prefix, re := range walkthroughReady {
				if strings.HasPrefix(cmdLine, prefix) {
					ready = re
				}
			}
			require.NotNil(t, ready, "the walkthrough starts %q in the background: say in walkthroughReady when it is ready", cmdLine)
			var out lockedBuffer
			c := walkthroughShell(ctx, root, cmdLine)
			c.Stdout, c.Stderr = &out, &out
			require.NoError(t, c.Start(), cmdLine)
			exited := make(chan struct{})
			go func() { _ = c.Wait(); close(exited) }()
			t.Cleanup(func() {
				cancel()
				<-exited
			})
			eventually(t, 90*time.Second, cmdLine+" to be ready", func() error {
				select {
				case <-exited:
					t.Fatalf("%s exited:\n%s", cmdLine, out.String())
				default:
				}
				if !ready.MatchString(out.String()) {
					return fmt.Errorf("output so far:\n%s", out.String())
				}
				return nil
			})
			continue
		}
		c := walkthroughShell(ctx, root, line)
		out, err := c.CombinedOutput()
		require.NoError(t, err, "%s:\n%s", line, out)
		outputs[line] = string(out)
	}
	require.Contains(t, outputs["sluice apply -f examples/services.yaml"], "Service/greeter created")
	require.Contains(t, outputs["sluice apply -f examples/policy.yaml"], "ReleasePolicy/default created")
	require.Regexp(t, `(?m)^greeter\s+grpc`, outputs["sluice get services"])
	require.Regexp(t, `release greeter-v2 created: greeter v1 -> v2, \d+ steps`, outputs["sluice release start greeter --to v2 --name greeter-v2"])

	// The watch, piped: one line per decision. It runs until the release
	// ends (minutes); the test stops it once the canary's traffic has
	// been analysed, as a person would press Ctrl-C.
	var out lockedBuffer
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	c := walkthroughShell(wctx, root, watch)
	c.Stdout, c.Stderr = &out, &out
	require.NoError(t, c.Start())
	eventually(t, 60*time.Second, "the watch to show the release started and its proxies' ACK", func() error {
		if !regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d  ack `).MatchString(out.String()) {
			return fmt.Errorf("watch so far:\n%s", out.String())
		}
		return nil
	})
	eventually(t, 60*time.Second, "the canary's requests to reach Prometheus and the analysis", func() error {
		st := walkthroughShell(ctx, root, "sluice release status greeter-v2 -o json")
		b, err := st.Output()
		if err != nil {
			return err
		}
		var r struct {
			Status struct {
				Phase       string          `json:"phase"`
				LastVerdict json.RawMessage `json:"lastVerdict"`
			} `json:"status"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		require.Equal(t, "Progressing", r.Status.Phase, "the release must not roll back on healthy backends: %s", b)
		var v struct{ Phase, Reason string }
		_ = json.Unmarshal(r.Status.LastVerdict, &v)
		switch v.Phase {
		case "Successful":
			return nil
		case "Inconclusive":
			// Step 1 sends 1% of 100 calls/s: the minimum sample takes
			// most of a minute to gather. Requests counted means the
			// whole path works: client -> xDS -> backend -> Prometheus.
			if regexp.MustCompile(`canary served [1-9]\d* `).MatchString(v.Reason) {
				return nil
			}
		}
		return fmt.Errorf("last verdict %s: %s", v.Phase, v.Reason)
	})
	stop()
	_ = c.Wait()
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "error:") {
			continue // the interrupt
		}
		require.Regexp(t, `^\d\d:\d\d:\d\d  \S+ +\S+ +step `, l, "piped watch prints plain decision lines")
		require.NotContains(t, l, "\x1b")
	}
}
