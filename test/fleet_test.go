package test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/state"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// TestGRPCClientKeepsConfigWhenItsNodeDies: a grpc-go xDS client whose
// bootstrap reaches every node keeps receiving routes after the node it is
// connected to is killed: a rollback (all traffic back to v1) reaches it
// from another node.
//
// grpc-go moves to the next entry of xds_servers only while a resource
// it watches is not cached yet (gRFC A71): a client that already holds
// its routes stays on a dead primary. So the first entry is one target
// that resolves to every node (in production a DNS name with one address
// per node); the xDS channel then reconnects to a live node by itself.
// The entries after it, one per node, serve a client that starts while
// that name does not resolve.
func TestGRPCClientKeepsConfigWhenItsNodeDies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	procs := startCluster(t, 3)
	leader, followers := splitLeader(t, procs)
	v1, v2 := startBackend(t, "v1"), startBackend(t, "v2")
	_, err := leader.client().Apply(ctxT(t), "greeter.yaml", []byte(grpcServiceYAML("greeter", 0, 100, []string{v1.addr}, []string{v2.addr})))
	require.NoError(t, err)

	// The client prefers the first follower; it knows the other nodes.
	first := followers[0]
	nodes := []string{first.xds, followers[1].xds, leader.xds}
	boot := bootstrapJSON("client-f", nodeLocality{"e2e", "eu-west", "eu-west-1"}, append([]string{everyNode(t, nodes)}, nodes...)...)
	c := newXDSClientOf(t, "greeter", boot)
	c.waitAll(t, 30*time.Second, "all traffic on v2", func(l string) bool { return l == "v2" })
	eventually(t, 10*time.Second, "the client's stream is on "+first.id, func() error {
		return groupOn(first, 1)
	})

	first.stop(syscall.SIGKILL)
	_, err = leader.client().Apply(ctxT(t), "greeter.yaml", []byte(grpcServiceYAML("greeter", 100, 0, []string{v1.addr}, []string{v2.addr})))
	require.NoError(t, err)
	c.waitAll(t, 30*time.Second, "the rollback reaches the client through another node", func(l string) bool { return l == "v1" })

	// A client that starts while its first listed node is down falls
	// back to the next entry (nothing is cached yet).
	late := newXDSClientOf(t, "greeter", bootstrapJSON("client-late", nodeLocality{"e2e", "us-east", "us-east-1"}, nodes...))
	late.waitAll(t, 30*time.Second, "a new client falls back past the dead node", func(l string) bool { return l == "v1" })
}

// groupOn says whether p serves n proxy groups with a stream.
func groupOn(p *proc, n int) error {
	s, err := p.client().XDSStatus(context.Background())
	if err != nil {
		return err
	}
	got := 0
	for _, g := range s.Groups {
		if g.Streams > 0 {
			got++
		}
	}
	if got != n {
		return fmt.Errorf("%s holds %d group(s) with streams, want %d", p.id, got, n)
	}
	return nil
}

// everyNode registers a resolver that lists every node's address, in
// order, as a DNS name with one address per node would, and returns a
// target that uses it.
func everyNode(t testing.TB, addrs []string) string {
	scheme := "sluice-nodes-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	r := manual.NewBuilderWithScheme(scheme)
	st := resolver.State{}
	for _, a := range addrs {
		st.Addresses = append(st.Addresses, resolver.Address{Addr: a})
	}
	r.InitialState(st)
	resolver.Register(r)
	return scheme + ":///sluice-xds"
}

// TestReleaseAdvancesPastAHungMember: with one follower stopped (SIGSTOP:
// its sockets accept, nothing answers), a release is still ACKed step by
// step and promoted; each ACK names the hung member as unreachable.
func TestReleaseAdvancesPastAHungMember(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and server processes")
	}
	e := newReleaseEnv(t, "hung")
	eventually(t, 30*time.Second, "prometheus scrapes the backends", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return e.prom.WaitForSeries(ctx, `requests_total{service="hung"}`)
	})
	leader, followers := splitLeader(t, e.procs)
	_, err := leader.client().Apply(ctxT(t), "hung.yaml", []byte(e.releaseYAML("hung", "[{weight: 20, bake: 3s}, {weight: 60, bake: 3s}]")))
	require.NoError(t, err)
	l := e.load("hung", followers[0], 100)
	waitTraffic(t, l, "v1")

	hung := followers[1]
	hung.signal(syscall.SIGSTOP)
	t.Cleanup(func() { hung.signal(syscall.SIGCONT) })
	_, err = leader.client().StartRelease(ctxT(t), releaseSpec("hung-v2", "hung", "v2"))
	require.NoError(t, err)
	r := e.waitRelease(leader, "hung-v2", 90*time.Second, "promoted", phaseIs(state.PhasePromoted))
	checkDecisions(t, r)
	acks := 0
	for _, d := range r.Status.Decisions {
		if d.Action == state.DecisionAck {
			acks++
			require.Contains(t, d.Message, "unreachable node(s), their proxies reconnect elsewhere: "+hung.id)
			require.NotContains(t, d.Message, " 0 proxy group(s)")
		}
	}
	require.Equal(t, 2, acks)
	waitTraffic(t, l, "v2")
}

// TestFirstStepWaitsForItsGroupAfterALeaderKill: the leader records the
// proxy groups that hold a service's config. A release started right
// after the leader is killed, while its one client (which knows only the
// killed node) has not reconnected, does not pass step 1 with 0 proxy
// groups: the step waits for the recorded group for the policy's
// ackTimeout, and the ACK then says the group is no longer expected.
func TestFirstStepWaitsForItsGroupAfterALeaderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and server processes")
	}
	const ackTimeout = 20 * time.Second
	e := newReleaseEnv(t, "first")
	leader, followers := splitLeader(t, e.procs)
	doc := strings.Replace(e.releaseYAML("first", "[{weight: 20, bake: 3s}, {weight: 60, bake: 3s}]"), "ackTimeout: 10s", fmt.Sprintf("ackTimeout: %s", ackTimeout), 1)
	_, err := leader.client().Apply(ctxT(t), "first.yaml", []byte(doc))
	require.NoError(t, err)
	l := e.load("first", leader, 50) // its bootstrap lists the leader only
	waitTraffic(t, l, "v1")
	const group = "e2e/r1/"
	eventually(t, 60*time.Second, "the leader records "+group+" as serving first", func() error {
		ls, err := followers[0].client().List(context.Background(), "services")
		if err != nil {
			return err
		}
		if got := ls.Live["first"].Served; !slices.Contains(got, group) {
			return fmt.Errorf("served by %v", got)
		}
		return nil
	})

	leader.stop(syscall.SIGKILL)
	next := leaderOf(t, followers)
	_, err = next.client().StartRelease(ctxT(t), releaseSpec("first-v2", "first", "v2"))
	require.NoError(t, err)
	r := e.waitRelease(next, "first-v2", 30*time.Second, "step 1 entered", func(r *state.Release) bool {
		return r.Status.Phase == state.PhaseProgressing
	})
	require.Equal(t, []string{group}, r.Status.ExpectedGroups, "step 1 expects the group that served the service")
	r = e.waitRelease(next, "first-v2", 90*time.Second, "step 1 ACKed", func(r *state.Release) bool { return r.Status.Acked || r.Status.Step > 0 })
	var ack *state.Decision
	for i, d := range r.Status.Decisions {
		if d.Action == state.DecisionAck {
			ack = &r.Status.Decisions[i]
			break
		}
	}
	require.NotNil(t, ack)
	require.Contains(t, ack.Message, "step 1 (20%) applied: 0 proxy group(s)")
	require.Contains(t, ack.Message, fmt.Sprintf("; no longer expected (no stream on any live node within %s): %s", ackTimeout, group))
	require.GreaterOrEqual(t, ack.Time.Sub(r.Status.StartedAt), ackTimeout, "step 1 waited for the expected group")
}
