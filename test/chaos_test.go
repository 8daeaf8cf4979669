package test

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/demo"
	"github.com/sluicehq/sluice/state"
)

var chaosRounds = flag.Int("chaos.rounds", 0, "rounds of the full chaos suite (make chaos); 0 runs the short version of make test")

// chaosEnv is a release environment whose Raft links pass through
// raftLinks, with linearizability clients running on every node and the
// figures of the run.
type chaosEnv struct {
	*releaseEnv
	links    *raftLinks
	hist     *history
	loads    map[string]*demo.Load
	attached map[string]*proc  // the node each service's load is attached to
	current  map[string]string // each service's stable version
	started  map[string]string // release name -> service
	faults   map[string]int    // fault kind -> times injected
	kills    []failover
	rollback []time.Duration
}

// failover is one kill -9 of the leader.
type failover struct {
	release, phase, old string
	at                  time.Time
	election            time.Duration
}

// stepFault is injected once the release is in step Step.
type stepFault struct {
	step int
	do   func(c *chaosEnv, release string)
}

const chaosBakes = "[{weight: 20, bake: 2s}, {weight: 50, bake: 2s}, {weight: 80, bake: 2s}]"

func newChaosEnv(t *testing.T, services ...string) *chaosEnv {
	var mu sync.Mutex
	var procs []*proc
	links := newRaftLinks(t, func(local, remote int) string {
		mu.Lock()
		ps := slices.Clone(procs)
		mu.Unlock()
		return portOwner(ps, local, remote)
	})
	prepare := func(p *proc) {
		mu.Lock()
		procs = append(procs, p)
		mu.Unlock()
		links.front(p)
	}
	e := newReleaseEnvPrepared(t, prepare, nil, services...)
	c := &chaosEnv{releaseEnv: e, links: links, hist: newHistory(), loads: map[string]*demo.Load{}, attached: map[string]*proc{},
		current: map[string]string{}, started: map[string]string{}, faults: map[string]int{}}
	require.NoError(t, e.backends["fail/v2"].SetFaults(demo.Faults{ErrorRatio: 0.2, Latency: time.Millisecond}))
	for i, svc := range services {
		bakes := chaosBakes
		if svc == "fail" {
			bakes = "[{weight: 20, bake: 30s}, {weight: 60, bake: 30s}]"
		}
		_, err := e.procs[0].client().Apply(ctxT(t), svc+".yaml", []byte(e.releaseYAML(svc, bakes)))
		require.NoError(t, err)
		// The last node serves no proxies: the partition cuts it off
		// (see partitionLeader).
		c.attached[svc] = e.procs[i%(len(e.procs)-1)]
		c.loads[svc] = e.load(svc, c.attached[svc], 40)
		c.current[svc] = "v1"
	}
	for _, svc := range services {
		eventually(t, 30*time.Second, "prometheus scrapes "+svc, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return e.prom.WaitForSeries(ctx, fmt.Sprintf(`requests_total{service=%q}`, svc))
		})
		waitTraffic(t, c.loads[svc], "v1")
	}
	return c
}

// TestChaos runs releases through faults on a real cluster, Prometheus
// and xDS clients: leader kill -9 in every phase, leader SIGSTOP, a
// Prometheus outage, a full restart, the loss of the node clients are
// attached to, and a Raft partition of the leader. Meanwhile clients on
// every node write and read through the API; the history must be
// linearizable and every release's record must keep the release
// invariants. `make chaos` runs -chaos.rounds=N of it; without the flag it
// runs one short round.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and server processes")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the Raft partition finds which node dialled through /proc")
	}
	c := newChaosEnv(t, "mixa", "mixb", "part", "fail", "phases")
	ctx, stopClients := context.WithCancel(context.Background())
	var clients sync.WaitGroup
	for i, p := range c.procs {
		clients.Add(1)
		go func() { defer clients.Done(); c.hist.run(ctx, i, p.client(), []string{"lin-a", "lin-b"}) }()
	}
	rounds := max(*chaosRounds, 1)
	for round := range rounds {
		c.runRelease("mixa", round, stepFault{0, killLeader("step 1 baking")}, stepFault{1, stopLeader}, stepFault{2, prometheusOutage})
		c.runRelease("mixb", round, stepFault{0, fullRestart}, stepFault{1, nodeLoss})
		c.runRelease("part", round, stepFault{0, partitionLeader})
		c.runRelease("fail", round, stepFault{0, killLeader("failing step analysed")})
		if *chaosRounds > 0 {
			c.runRelease("phases", round, stepFault{-1, killLeader("start")}, stepFault{0, killLeader("step 1")},
				stepFault{1, killLeader("step 2")}, stepFault{2, killLeader("step 3")})
		}
	}
	stopClients()
	clients.Wait()
	c.checkReleases()
	ops, unknown := c.hist.check(t)
	c.report(rounds, ops, unknown)
}

// runRelease starts svc's next release and injects each fault once the
// release is in its step (-1: right after the start), then waits for the
// release to end.
func (c *chaosEnv) runRelease(svc string, round int, faults ...stepFault) {
	t := c.t
	to := "v2"
	if svc != "fail" && c.current[svc] == "v2" {
		to = "v1"
	}
	name := fmt.Sprintf("%s-r%d-%s", svc, round, to)
	eventually(t, 60*time.Second, "start "+name, func() error {
		cl := c.anyClient()
		if _, err := cl.Release(context.Background(), name); err == nil {
			return nil
		}
		_, err := cl.StartRelease(context.Background(), releaseSpec(name, svc, to))
		return err
	})
	c.started[name] = svc
	for _, f := range faults {
		if f.step >= 0 {
			c.waitRelease(c.procs[0], name, 90*time.Second, fmt.Sprintf("in step %d", f.step+1), func(r *state.Release) bool {
				return r.Status.Phase.Terminal() || (r.Status.Step == f.step && r.Status.Acked)
			})
		}
		f.do(c, name)
	}
	r := c.waitConsistent(name, 120*time.Second, "ended", func(r *state.Release) bool { return r.Status.Phase.Terminal() })
	if r.Status.Phase == state.PhasePromoted {
		c.current[svc] = to
	}
	if svc == "fail" {
		c.rollback = append(c.rollback, r.Status.EndedAt.Sub(r.Status.StartedAt))
	}
}

// leader returns the node that reports itself the leader.
func (c *chaosEnv) leader() *proc {
	c.t.Helper()
	var leader *proc
	eventually(c.t, 30*time.Second, "a node that leads", func() error {
		for _, p := range c.procs {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			m, err := p.client().Members(ctx)
			cancel()
			if err == nil && m.Leader == p.id {
				leader = p
				return nil
			}
		}
		return fmt.Errorf("no node says it leads")
	})
	return leader
}

// anyClient is a client of the leader, its reads consistent.
func (c *chaosEnv) anyClient() *api.Client {
	cl := c.leader().client()
	cl.Consistent = true
	return cl
}

// waitConsistent polls a release with consistent reads through whichever
// node leads until cond holds.
func (c *chaosEnv) waitConsistent(name string, timeout time.Duration, what string, cond func(*state.Release) bool) *state.Release {
	c.t.Helper()
	var last *state.Release
	eventually(c.t, timeout, name+": "+what, func() error {
		for _, p := range c.procs {
			cl := p.client()
			cl.Consistent = true
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			r, err := cl.Release(ctx, name)
			cancel()
			if err != nil {
				continue
			}
			last = r
			if cond(r) {
				return nil
			}
			return fmt.Errorf("phase %s step %d", r.Status.Phase, r.Status.Step)
		}
		return fmt.Errorf("no node answers a consistent read")
	})
	return last
}

// newLeaderWithout waits until a live node other than old reports a
// leader other than old, and returns it.
func (c *chaosEnv) newLeaderWithout(old *proc) *proc {
	c.t.Helper()
	var leader *proc
	eventually(c.t, 30*time.Second, "a leader other than "+old.id, func() error {
		for _, p := range c.procs {
			if p == old {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			m, err := p.client().Members(ctx)
			cancel()
			if err != nil || m.Leader == "" || m.Leader == old.id {
				continue
			}
			for _, q := range c.procs {
				if q.id == m.Leader {
					leader = q
					return nil
				}
			}
		}
		return fmt.Errorf("no new leader yet")
	})
	return leader
}

// killLeader kills the leader with SIGKILL, measures the election and
// restarts the killed node on its data directory.
func killLeader(phase string) func(*chaosEnv, string) {
	return func(c *chaosEnv, release string) {
		old := c.leader()
		at := time.Now()
		old.stop(syscall.SIGKILL)
		c.newLeaderWithout(old)
		c.kills = append(c.kills, failover{release: release, phase: phase, old: old.id, at: at, election: time.Since(at)})
		c.faults["leader kill -9"]++
		old.start()
		waitReady(c.t, old)
	}
}

// stopLeader freezes the leader with SIGSTOP until another node's
// controller has recorded a decision, then lets it run again: the
// deposed leader wakes up believing it leads, and the guards must refuse
// whatever it decided on its old view.
func stopLeader(c *chaosEnv, release string) {
	old := c.leader()
	at := time.Now()
	old.signal(syscall.SIGSTOP)
	c.newLeaderWithout(old)
	c.waitConsistent(release, 60*time.Second, "a decision by another controller", func(r *state.Release) bool {
		return r.Status.Phase.Terminal() || decidedAfter(r, at, old.id) != nil
	})
	old.signal(syscall.SIGCONT)
	c.faults["leader SIGSTOP"]++
	waitReady(c.t, old)
}

// prometheusOutage stops Prometheus until the release has recorded two
// more analysis errors, then brings it back.
func prometheusOutage(c *chaosEnv, release string) {
	before := c.waitConsistent(release, 10*time.Second, "read", func(*state.Release) bool { return true })
	c.prom.Stop()
	r := c.waitConsistent(release, 60*time.Second, "two analysis errors", func(r *state.Release) bool {
		return r.Status.Counters.Errors >= before.Status.Counters.Errors+2 || r.Status.Phase.Terminal()
	})
	require.Equal(c.t, before.Status.Step, r.Status.Step, "no step is taken without analysis")
	require.NoError(c.t, c.prom.Restart())
	c.faults["Prometheus outage"]++
}

// fullRestart kills every node and starts them again.
func fullRestart(c *chaosEnv, _ string) {
	for _, p := range c.procs {
		p.stop(syscall.SIGKILL)
	}
	for _, p := range c.procs {
		p.start()
	}
	waitMembers(c.t, c.procs, len(c.procs))
	c.faults["full restart"]++
}

// nodeLoss kills the node the release's clients are attached to: they
// keep routing on the configuration they have, without errors, and
// resume their stream when it returns.
func nodeLoss(c *chaosEnv, release string) {
	svc := c.started[release]
	p, l := c.attached[svc], c.loads[svc]
	before := l.Counts()
	p.stop(syscall.SIGKILL)
	eventually(c.t, 30*time.Second, "RPCs while "+p.id+" is down", func() error {
		if n := l.Counts().RPCs() - before.RPCs(); n < 80 {
			return fmt.Errorf("%d RPCs", n)
		}
		return nil
	})
	d := l.Counts().Sub(before)
	require.Zerof(c.t, d.Errors, "clients attached to a lost node keep working: %v", d.ByCode)
	p.start()
	waitReady(c.t, p)
	c.faults["node loss with clients attached"]++
}

// partitionLeader cuts one node's Raft links: the node that serves no
// proxies, made the leader first by killing the leader (up to three times)
// when it does not lead. The majority elects a leader and finishes the
// release; the minority's view of the release never moves while it is cut
// off, and it refuses consistent reads. Once healed it catches up.
//
// Only Raft is cut, so the minority still answers the leader's API; were
// proxies attached to it, the release would hold at their ACKs (they are
// served the minority's frozen configuration), as it must.
func partitionLeader(c *chaosEnv, release string) {
	t := c.t
	old := c.procs[len(c.procs)-1]
	for range 3 {
		if c.leader() == old {
			break
		}
		killLeader("before a partition")(c, release)
	}
	if c.leader() == old {
		c.faults["Raft partition of the leader"]++
	} else {
		c.faults["Raft partition of a follower"]++
	}
	c.links.isolate(old.id)
	c.newLeaderWithout(old)
	// A cut-off follower keeps forwarding consistent reads (over the API,
	// which is not cut) to the leader it last heard from until its
	// heartbeat timeout passes, and that leader's answers are
	// linearizable. The guarantee is about a node that knows it is alone:
	// once it names no leader, it must refuse.
	eventually(t, 30*time.Second, "the minority to lose its leader", func() error {
		m, err := old.client().Members(context.Background())
		if err != nil {
			return err
		}
		if m.Leader != "" {
			return fmt.Errorf("%s still names %s as leader", old.id, m.Leader)
		}
		return nil
	})
	frozen := c.release(old, release)
	cl := old.client()
	cl.Consistent = true
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	_, err := cl.Release(ctx, release)
	cancel()
	require.Error(t, err, "the minority must not answer a consistent read")
	r := c.waitConsistent(release, 120*time.Second, "ended on the majority", func(r *state.Release) bool { return r.Status.Phase.Terminal() })
	require.Equal(t, state.PhasePromoted, r.Status.Phase, r.Status.Reason)
	still := c.release(old, release)
	require.Equal(t, frozen.Status.Step, still.Status.Step, "the minority never advances")
	require.Len(t, still.Status.Decisions, len(frozen.Status.Decisions), "the minority records no decision")
	require.False(t, still.Status.Phase.Terminal(), "the minority never ends the release")
	c.links.heal()
	c.waitRelease(old, release, 60*time.Second, "caught up after the partition", phaseIs(state.PhasePromoted))
}

// decidedAfter returns the first controller decision recorded after at
// by a node other than old, or nil.
func decidedAfter(r *state.Release, at time.Time, old string) *state.Decision {
	for i, d := range r.Status.Decisions {
		if d.Time.After(at) && strings.HasPrefix(d.Actor, "controller:") && d.Actor != "controller:"+old {
			return &r.Status.Decisions[i]
		}
	}
	return nil
}
