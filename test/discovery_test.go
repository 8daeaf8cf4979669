package test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/demo"
	"github.com/sluicehq/sluice/discovery/dnstest"
	"github.com/sluicehq/sluice/state"
)

// Discovered backends listen on loopback addresses of their own
// (127.0.1.x) on one port, as the hosts a DNS name resolves to would.
const (
	hostA = "127.0.1.1"
	hostB = "127.0.1.2"
	hostC = "127.0.1.3" // nothing listens here: its port is closed
)

// sharedPort is a port free on every given loopback address.
func sharedPort(t *testing.T, hosts ...string) int {
	t.Helper()
	for range 50 {
		p := freePortNumber(t)
		ok := true
		for _, h := range hosts {
			l, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(p)))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatalf("no port free on %v", hosts)
	return 0
}

// discoveredBackend is a demo backend answering "<service>/<label>" over
// HTTP and gRPC at host, on the given ports.
func discoveredBackend(t *testing.T, service, label, host string, httpPort, grpcPort int) *demo.Backend {
	t.Helper()
	b, err := demo.StartBackend(demo.BackendConfig{Service: service, Version: label,
		HTTPAddr: net.JoinHostPort(host, strconv.Itoa(httpPort)), GRPCAddr: net.JoinHostPort(host, strconv.Itoa(grpcPort)), Seed: 1})
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	return b
}

// endpointsOf reads a version's recorded endpoint set through the API.
func endpointsOf(t *testing.T, p *proc, service, version string) (*state.EndpointSet, error) {
	t.Helper()
	resp, err := p.client().ServiceEndpoints(context.Background(), service)
	if err != nil {
		return nil, err
	}
	for _, v := range resp.Versions {
		if v.Version == version {
			if v.Set == nil {
				return nil, fmt.Errorf("%s/%s: not observed yet", service, version)
			}
			return v.Set, nil
		}
	}
	return nil, fmt.Errorf("%s has no discovered version %s: %+v", service, version, resp)
}

// TestDiscoveryDNSThroughEnvoyAndGRPC: versions named by DNS names, resolved
// by Sluice from a real DNS server on loopback, reach a real Envoy and
// grpc-go's xDS client; a new answer moves traffic without a release, and
// an endpoint whose port is closed is sent UNHEALTHY and gets no traffic.
func TestDiscoveryDNSThroughEnvoyAndGRPC(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server and Envoy processes")
	}
	dns := dnstest.Start(t)
	dns.Set("web-v2.internal", 1, hostA)
	dns.Set("greeter.internal", 1, hostA)
	httpPort, grpcPort := sharedPort(t, hostA, hostB, hostC), sharedPort(t, hostA, hostB, hostC)
	discoveredBackend(t, "web", "v2a", hostA, httpPort, grpcPort)
	discoveredBackend(t, "web", "v2b", hostB, httpPort, grpcPort)
	v1, err := demo.StartBackend(demo.BackendConfig{Service: "web", Version: "v1", HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", Seed: 2})
	require.NoError(t, err)
	t.Cleanup(func() { v1.Close() })

	procs := startCluster(t, 1, "--dns-server", dns.Addr())
	node := procs[0]
	gateway := freePortNumber(t)
	const check = `
        healthCheck: {tcp: {}, interval: 300ms, timeout: 200ms, healthyThreshold: 1, unhealthyThreshold: 1}`
	docs := fmt.Sprintf(`apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: web}
spec:
  protocol: http
  port: %d
  domains: [web.example.com]
  versions:
    - {name: v1, weight: 0, endpoints: [{address: %q}]}
    - name: v2
      weight: 100
      discovery:
        dns: {name: web-v2.internal, port: %d, minInterval: 1s, maxInterval: 2s}%s
---
apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: greeter}
spec:
  protocol: grpc
  versions:
    - name: v1
      discovery:
        dns: {name: greeter.internal, port: %d, minInterval: 1s, maxInterval: 2s}%s
`, gateway, v1.HTTPAddr(), httpPort, check, grpcPort, check)
	_, err = node.client().Apply(ctxT(t), "discovered.yaml", []byte(docs))
	require.NoError(t, err)

	envoy := startEnvoy(t, procs, envoyNode{id: "edge", cluster: "edge", region: "eu-west", zone: "eu-west-1a", gateway: "127.0.0.2"})
	load := envoy.httpLoad(t, gateway, "web.example.com", nil, 0)
	client := newXDSClient(t, node.xds, "greeter", "client-a", nodeLocality{"e2e", "eu-west", "eu-west-1"})

	// The names resolve to host A: Envoy and the gRPC client reach it.
	allReach(t, load, "v2a", 60*time.Second)
	client.waitAll(t, 60*time.Second, "gRPC on the resolved address", func(l string) bool { return l == "web/v2a" })

	// A new answer: traffic moves to host B, without a release.
	dns.Set("web-v2.internal", 1, hostB)
	dns.Set("greeter.internal", 1, hostB)
	allReach(t, load, "v2b", 30*time.Second)
	client.waitAll(t, 30*time.Second, "gRPC on the new address", func(l string) bool { return l == "web/v2b" })
	rels, err := node.client().Releases(ctxT(t))
	require.NoError(t, err)
	require.Empty(t, rels, "an endpoint change is not a release")
	set, err := endpointsOf(t, node, "web", "v2")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(set.History), 2, "each answer is recorded")
	require.Contains(t, set.History[len(set.History)-1].Message, "-"+net.JoinHostPort(hostA, strconv.Itoa(httpPort)))

	// Host C joins the answer with its port closed: sent UNHEALTHY, no traffic.
	dns.Set("web-v2.internal", 1, hostB, hostC)
	closed := net.JoinHostPort(hostC, strconv.Itoa(httpPort))
	eventually(t, 30*time.Second, "host C UNHEALTHY in Envoy's /clusters", func() error {
		flags, err := envoy.Admin().HealthFlags(context.Background())
		if err != nil {
			return err
		}
		if got := flags["web/v2"][closed]; !strings.Contains(got, "/failed_eds_health") {
			return fmt.Errorf("web/v2 hosts %v: %s has health_flags %q", flags["web/v2"], closed, got)
		}
		return nil
	})
	d := send(t, load, 60)
	require.Equal(t, uint64(60), d.ByVersion["v2b"], "every request on the healthy host: %+v", d)
	set, err = endpointsOf(t, node, "web", "v2")
	require.NoError(t, err)
	require.Contains(t, set.Endpoints, state.ObservedEndpoint{Address: closed, Health: state.Unhealthy})

	// The same for the gRPC client: host C is served UNHEALTHY to its group
	// and gets none of its RPCs.
	dns.Set("greeter.internal", 1, hostB, hostC)
	closedGRPC := net.JoinHostPort(hostC, strconv.Itoa(grpcPort))
	eventually(t, 30*time.Second, "host C served UNHEALTHY to the gRPC group", func() error {
		cfg, err := node.client().XDSConfig(context.Background(), "e2e/eu-west/eu-west-1")
		if err != nil {
			return err
		}
		for _, raw := range cfg.Resources {
			for _, r := range raw {
				if s := string(r); strings.Contains(s, `"greeter/v1"`) && strings.Contains(s, hostC) {
					if !strings.Contains(s, "UNHEALTHY") {
						return fmt.Errorf("greeter/v1 has %s without UNHEALTHY: %s", closedGRPC, s)
					}
					return nil
				}
			}
		}
		return fmt.Errorf("%s not served yet", closedGRPC)
	})
	require.Equal(t, map[string]int{"web/v2b": 60}, client.counts(t, 60), "no RPC to the closed port")

	// The name fails: the last good set is kept and the failure recorded.
	dns.Fail("web-v2.internal")
	eventually(t, 30*time.Second, "the lookup failure recorded", func() error {
		set, err := endpointsOf(t, node, "web", "v2")
		if err != nil {
			return err
		}
		if set.Failure == nil || set.Failure.Kind != state.FailureLookup {
			return fmt.Errorf("failure %+v", set.Failure)
		}
		return nil
	})
	d = send(t, load, 30)
	require.Equal(t, uint64(30), d.ByVersion["v2b"], "the last good set still serves: %+v", d)
}

// TestDiscoveryFileSource: a version whose endpoints come from a targets
// file; a grpc-go xDS client follows the file as it is rewritten, and a
// bad file is refused with file:line, the last good set kept.
func TestDiscoveryFileSource(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	a, b := startBackend(t, "a"), startBackend(t, "b")
	path := filepath.Join(t.TempDir(), "greeter-v1.json")
	write := func(text string) {
		t.Helper()
		tmp := path + ".tmp"
		require.NoError(t, os.WriteFile(tmp, []byte(text), 0o600))
		require.NoError(t, os.Rename(tmp, path))
	}
	write(fmt.Sprintf(`[{"targets": [%q], "labels": {"region": "eu-west"}}]`, a.addr))
	procs := startCluster(t, 1)
	node := procs[0]
	_, err := node.client().Apply(ctxT(t), "greeter.yaml", []byte(fmt.Sprintf(`apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: greeter}
spec:
  protocol: grpc
  versions:
    - name: v1
      discovery: {file: {path: %s, interval: 200ms}}
`, path)))
	require.NoError(t, err)
	client := newXDSClient(t, node.xds, "greeter", "client-a", nodeLocality{"e2e", "eu-west", "eu-west-1"})
	client.waitAll(t, 60*time.Second, "RPCs reach the file's target", func(l string) bool { return l == "a" })

	write(fmt.Sprintf("[{\"targets\": [%q]}]\n", b.addr))
	client.waitAll(t, 30*time.Second, "RPCs follow the rewritten file", func(l string) bool { return l == "b" })

	write(fmt.Sprintf("[{\"targets\": [%q]},\n {\"targets\": [\"greeter-3:8080\"]}]\n", a.addr))
	var failure *state.SourceFailure
	eventually(t, 30*time.Second, "the bad file refused", func() error {
		set, err := endpointsOf(t, node, "greeter", "v1")
		if err != nil {
			return err
		}
		if set.Failure == nil || set.Failure.Kind != state.FailureParse {
			return fmt.Errorf("failure %+v, endpoints %+v", set.Failure, set.Endpoints)
		}
		if len(set.Endpoints) != 1 || set.Endpoints[0].Address != b.addr {
			return fmt.Errorf("endpoints %+v, want the last good set", set.Endpoints)
		}
		failure = set.Failure
		return nil
	})
	require.Contains(t, failure.Message, path+":2:15", "the refusal says where")
	got := client.counts(t, 40)
	require.Equal(t, map[string]int{"b": 40}, got, "the last good set still serves")

	// The command line shows the same.
	out, err := exec.Command(sluiceBin, "endpoints", "greeter", "--server", node.api, "--token", node.token).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "last look failed (parse): invalid targets file: "+path+":2:15")
	require.Contains(t, string(out), b.addr)
	out, err = exec.Command(sluiceBin, "get", "services", "--server", node.api, "--token", node.token).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "v1=100% (file:"+path+")")
}

// TestDiscoveryAfterFailover: the file is on every node; when the leader
// is killed, the new leader keeps the recorded set and follows the file.
func TestDiscoveryAfterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	a, b := startBackend(t, "a"), startBackend(t, "b")
	path := filepath.Join(t.TempDir(), "greeter-v1.json")
	write := func(addr string) {
		t.Helper()
		require.NoError(t, os.WriteFile(path+".tmp", []byte(fmt.Sprintf(`[{"targets": [%q]}]`, addr)), 0o600))
		require.NoError(t, os.Rename(path+".tmp", path))
	}
	write(a.addr)
	procs := startCluster(t, 3)
	leader, followers := splitLeader(t, procs)
	_, err := followers[0].client().Apply(ctxT(t), "greeter.yaml", []byte(fmt.Sprintf(`apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: greeter}
spec:
  protocol: grpc
  versions:
    - name: v1
      discovery: {file: {path: %s, interval: 200ms}}
`, path)))
	require.NoError(t, err)
	client := newXDSClient(t, followers[1].xds, "greeter", "client-a", nodeLocality{"e2e", "eu-west", "eu-west-1"})
	client.waitAll(t, 60*time.Second, "RPCs reach the file's target", func(l string) bool { return l == "a" })
	before, err := endpointsOf(t, followers[1], "greeter", "v1")
	require.NoError(t, err)

	leader.stop(syscall.SIGKILL)
	next := leaderOf(t, followers)
	write(b.addr)
	client.waitAll(t, 60*time.Second, "RPCs follow the file under the new leader", func(l string) bool { return l == "b" })
	after, err := endpointsOf(t, followers[1], "greeter", "v1")
	require.NoError(t, err)
	last := after.History[len(after.History)-1]
	require.Equal(t, "discovery:"+next.id, last.Actor, "the new leader recorded the change")
	require.Len(t, after.History, len(before.History)+1, "the new leader did not record the unchanged set again")
}
