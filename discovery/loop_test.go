package discovery

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/discovery/dnstest"
	"github.com/sluicehq/sluice/state"
)

// fakeCluster applies commands to an in-memory state, as the one leader.
type fakeCluster struct {
	leader  atomic.Bool
	leaders chan bool
	mu      sync.Mutex
	st      *state.State
	index   uint64
	applied []*state.ObserveEndpoints
	subs    []chan struct{}
}

func newFakeCluster(t *testing.T, docs string) *fakeCluster {
	t.Helper()
	parsed, err := config.Parse("t.yaml", []byte(docs))
	if err != nil {
		t.Fatal(err)
	}
	c := &fakeCluster{st: state.New(), leaders: make(chan bool, 1)}
	c.leader.Store(true)
	cmd, err := state.NewCommand(state.CmdApply, time.Now(), "test", state.ApplyPayload{Documents: parsed})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *fakeCluster) State() *state.State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

func (c *fakeCluster) IsLeader() bool { return c.leader.Load() }

// lead changes leadership and tells the loop.
func (c *fakeCluster) lead(on bool) {
	c.leader.Store(on)
	c.leaders <- on
}

func (c *fakeCluster) Apply(_ context.Context, cmd state.Command) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.index++
	next, res, err := state.Apply(c.st, c.index, cmd)
	if err != nil {
		return nil, err
	}
	c.st = next
	if cmd.Type == state.CmdObserveEndpoints {
		if set, ok := res.(*state.EndpointSet); ok {
			c.applied = append(c.applied, &state.ObserveEndpoints{Service: set.Service, Version: set.Version, Endpoints: set.Endpoints, Failure: set.Failure})
		}
	}
	for _, s := range c.subs {
		select {
		case s <- struct{}{}:
		default:
		}
	}
	return res, nil
}

func (c *fakeCluster) LeaderChanges() (<-chan bool, func()) { return c.leaders, func() {} }

func (c *fakeCluster) Subscribe() (<-chan struct{}, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan struct{}, 1)
	c.subs = append(c.subs, ch)
	return ch, func() {}
}

func (c *fakeCluster) set(key string) *state.EndpointSet { return c.State().Endpoints[key] }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func addrsOf(set *state.EndpointSet) string {
	if set == nil {
		return "<none>"
	}
	var parts []string
	for _, e := range set.Endpoints {
		parts = append(parts, e.Address+"="+string(e.Health))
	}
	return strings.Join(parts, ",")
}

func runLoop(t *testing.T, c *fakeCluster, opts Options) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { New(c, opts).Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestLoopFollowsADNSNameAndItsHealth(t *testing.T) {
	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	_, port, _ := net.SplitHostPort(open.Addr().String())
	srv := dnstest.Start(t)
	// 127.0.0.2 has nothing listening on the port: its probe fails.
	srv.Set("greeter-v2.internal", 1, "127.0.0.1", "127.0.0.2")
	c := newFakeCluster(t, fmt.Sprintf(`apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: greeter}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: "10.0.0.1:80"}]}
    - name: v2
      discovery:
        dns: {name: greeter-v2.internal, port: %s, minInterval: 1s, maxInterval: 1s}
        healthCheck: {tcp: {}, interval: 200ms, timeout: 100ms, healthyThreshold: 1, unhealthyThreshold: 1}
`, port))
	r, _ := NewResolver(srv.Addr())
	runLoop(t, c, Options{Resolver: r})

	key := state.EndpointKey("greeter", "v2")
	want := fmt.Sprintf("127.0.0.1:%s=healthy,127.0.0.2:%s=unhealthy", port, port)
	waitFor(t, "resolved, with health", func() error {
		if got := addrsOf(c.set(key)); got != want {
			return fmt.Errorf("set = %s, want %s", got, want)
		}
		return nil
	})
	if n := len(c.set(key).History); n != 1 {
		t.Errorf("the first set was recorded in %d entries, want 1 (probed before it was proposed)", n)
	}

	srv.Set("greeter-v2.internal", 1, "127.0.0.1")
	want = fmt.Sprintf("127.0.0.1:%s=healthy", port)
	waitFor(t, "the new answer after the TTL", func() error {
		if got := addrsOf(c.set(key)); got != want {
			return fmt.Errorf("set = %s, want %s", got, want)
		}
		return nil
	})

	srv.Fail("greeter-v2.internal")
	waitFor(t, "a failure keeps the set", func() error {
		set := c.set(key)
		if set.Failure == nil || set.Failure.Kind != state.FailureLookup {
			return fmt.Errorf("failure = %+v", set.Failure)
		}
		if got := addrsOf(set); got != want {
			return fmt.Errorf("set = %s, want %s kept", got, want)
		}
		return nil
	})

	open.Close()
	srv.Set("greeter-v2.internal", 1, "127.0.0.1")
	waitFor(t, "the port closed", func() error {
		set := c.set(key)
		if got, want := addrsOf(set), fmt.Sprintf("127.0.0.1:%s=unhealthy", port); got != want || set.Failure != nil {
			return fmt.Errorf("set = %s (failure %v), want %s", got, set.Failure, want)
		}
		return nil
	})
}

func TestLoopReloadsATargetsFileAndKeepsTheLastGoodSet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "targets.yaml")
	write := func(text string) {
		t.Helper()
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("- targets: [10.0.0.5:8080]\n  labels: {region: eu}\n")
	c := newFakeCluster(t, `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: greeter}
spec:
  protocol: grpc
  versions:
    - name: v1
      discovery: {file: {path: `+path+`, interval: 100ms}}
`)
	runLoop(t, c, Options{})
	key := state.EndpointKey("greeter", "v1")
	waitFor(t, "the file read", func() error {
		if got := addrsOf(c.set(key)); got != "10.0.0.5:8080=healthy" {
			return fmt.Errorf("set = %s", got)
		}
		return nil
	})
	write("- targets: [10.0.0.5:8080, 10.0.0.6:8080]\n- targets: [10.0.0.7:8080]\n  labels: {health: unhealthy}\n")
	waitFor(t, "the file reloaded", func() error {
		if got := addrsOf(c.set(key)); got != "10.0.0.5:8080=healthy,10.0.0.6:8080=healthy,10.0.0.7:8080=unhealthy" {
			return fmt.Errorf("set = %s", got)
		}
		return nil
	})
	write("- targets: [10.0.0.5:8080]\n- targets: [web-1:8080]\n")
	waitFor(t, "a bad file refused", func() error {
		set := c.set(key)
		if set.Failure == nil || set.Failure.Kind != state.FailureParse || !strings.Contains(set.Failure.Message, path+":2:13") {
			return fmt.Errorf("failure = %+v, want a parse failure at %s:2:13", set.Failure, path)
		}
		if len(set.Endpoints) != 3 {
			return fmt.Errorf("set = %s, want the last good set", addrsOf(set))
		}
		return nil
	})
	last := c.set(key).History
	if !slices.ContainsFunc(last, func(d state.Decision) bool { return strings.Contains(d.Message, "keeping the last good set of 3") }) {
		t.Errorf("history does not record the refusal: %+v", last)
	}
}

func TestLoopWatchesOnlyWhileLeading(t *testing.T) {
	path := filepath.Join(t.TempDir(), "targets.json")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path+".tmp", []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write(`[{"targets": ["10.0.0.5:8080"]}]`)
	c := newFakeCluster(t, `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: greeter}
spec:
  protocol: grpc
  versions:
    - name: v1
      discovery: {file: {path: `+path+`, interval: 100ms}}
`)
	runLoop(t, c, Options{})
	key := state.EndpointKey("greeter", "v1")
	waitFor(t, "the file read while leading", func() error {
		if got := addrsOf(c.set(key)); got != "10.0.0.5:8080=healthy" {
			return fmt.Errorf("set = %s", got)
		}
		return nil
	})
	c.lead(false)
	time.Sleep(300 * time.Millisecond) // let the term end
	write(`[{"targets": ["10.0.0.6:8080"]}]`)
	time.Sleep(time.Second) // ten polls of a watcher that would still run
	if got := addrsOf(c.set(key)); got != "10.0.0.5:8080=healthy" {
		t.Fatalf("a follower proposed: set = %s", got)
	}
	c.lead(true)
	waitFor(t, "the change seen by the new term", func() error {
		if got := addrsOf(c.set(key)); got != "10.0.0.6:8080=healthy" {
			return fmt.Errorf("set = %s", got)
		}
		return nil
	})
}
