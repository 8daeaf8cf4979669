package test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/demo"
	"github.com/sluicehq/sluice/test/envoytest"
	"github.com/sluicehq/sluice/xds"
)

// envoyNode is an Envoy's place in the fleet. Every Envoy of a test binds
// its gateway listeners to a loopback address of its own (127.0.0.2,
// 127.0.0.3, ...): Envoy sets SO_REUSEPORT on listeners, so two Envoys on
// one address and port would both bind it and share its connections.
type envoyNode struct {
	id, cluster, region, zone string
	gateway                   string // loopback IP the gateway listeners bind
	delta                     bool
	// tls, when set, puts the ADS stream on mutual TLS: CA, certificate
	// and key files.
	tls *envoyTLS
}

// envoyTLS are the files of a proxy's mutual TLS bootstrap.
type envoyTLS struct{ ca, cert, key string }

// group is the proxy group key Sluice gives the Envoy.
func (n envoyNode) group() string {
	return xds.Group{Cluster: n.cluster, Region: n.region, Zone: n.zone, GatewayAddress: n.gateway}.Key()
}

// envoyBootstrapFor prints a bootstrap with `sluice envoy bootstrap`, the
// command users run, listing every given node's xDS address, with the
// admin interface on a free port.
func envoyBootstrapFor(t testing.TB, procs []*proc, n envoyNode, format string) []byte {
	t.Helper()
	args := []string{"envoy", "bootstrap", "--node-id", n.id, "--cluster", n.cluster, "--region", n.region,
		"--zone", n.zone, "--admin", "127.0.0.1:0", "-o", format}
	for _, p := range procs {
		args = append(args, "--xds", p.xds)
	}
	if n.gateway != "" {
		args = append(args, "--gateway-address", n.gateway)
	}
	if n.delta {
		args = append(args, "--delta")
	}
	if n.tls != nil {
		args = append(args, "--tls-ca", n.tls.ca, "--tls-cert", n.tls.cert, "--tls-key", n.tls.key)
	}
	out, err := exec.Command(sluiceBin, args...).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("sluice %s: %v: %s", strings.Join(args, " "), err, ee.Stderr)
	}
	require.NoError(t, err)
	return out
}

// fleetEnvoy is a real Envoy in a test, with where it routes.
type fleetEnvoy struct {
	*envoytest.Proxy
	node envoyNode
}

// startEnvoy starts a real Envoy on a generated bootstrap for the nodes
// and waits until it is LIVE (its first listeners and clusters arrived).
func startEnvoy(t testing.TB, procs []*proc, n envoyNode) *fleetEnvoy {
	t.Helper()
	px := envoytest.Start(t, envoyBootstrapFor(t, procs, n, xds.FormatYAML))
	eventually(t, 60*time.Second, n.id+" ready", func() error { return px.Admin().Ready(context.Background()) })
	return &fleetEnvoy{Proxy: px, node: n}
}

// url is the Envoy's gateway listener for port.
func (e *fleetEnvoy) url(port int) string {
	return "http://" + net.JoinHostPort(e.node.gateway, strconv.Itoa(port)) + "/"
}

// httpLoad sends HTTP requests through the Envoy's gateway listener on
// port with the Host header host; rps 0 sends only when called.
func (e *fleetEnvoy) httpLoad(t testing.TB, port int, host string, headers map[string]string, rps float64) *demo.Load {
	t.Helper()
	l, err := demo.NewLoad(demo.LoadConfig{RPS: rps, Headers: headers, Timeout: 3 * time.Second,
		HTTP: &demo.HTTPTarget{URL: e.url(port), Host: host}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; l.Close() })
	return l
}

// send makes n requests (16 at a time) and returns what answered them.
func send(t testing.TB, l *demo.Load, n int) demo.Counts {
	t.Helper()
	before := l.Counts()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, _ = l.Call(context.Background())
		}()
	}
	wg.Wait()
	return l.Counts().Sub(before)
}

// allReach waits until 30 requests in a row through l are answered by
// version want.
func allReach(t testing.TB, l *demo.Load, want string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "every request answered by "+want, func() error {
		d := send(t, l, 30)
		if d.ByVersion[want] != 30 {
			return fmt.Errorf("answered by %v, failed %v", d.ByVersion, d.ByCode)
		}
		return nil
	})
}

// waitRouteVersion waits until the Envoy holds route configuration name
// at version or newer. The version is the Raft state index the snapshot
// was built from, and any later change to the state (a new leader
// recording itself as a member, say) builds a newer one, so "newer" is
// what a change that reached Envoy guarantees, not "equal".
func (e *fleetEnvoy) waitRouteVersion(t testing.TB, name string, version uint64) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("%s holds %s at version %d or newer", e.node.id, name, version), func() error {
		routes, err := e.Admin().Routes(context.Background())
		if err != nil {
			return err
		}
		got := routes[name].Version
		if v, err := strconv.ParseUint(got, 10, 64); err != nil || v < version {
			return fmt.Errorf("version %q", got)
		}
		return nil
	})
}

// waitRoute waits until the Envoy's route configuration name satisfies ok.
func (e *fleetEnvoy) waitRoute(t testing.TB, name string, ok func(envoytest.RouteConfig) error) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("%s holds the expected %s", e.node.id, name), func() error {
		routes, err := e.Admin().Routes(context.Background())
		if err != nil {
			return err
		}
		rc, found := routes[name]
		if !found {
			return fmt.Errorf("no route configuration %s", name)
		}
		return ok(rc)
	})
}

// connectedTo returns the nodes on which the Envoy's group has a stream.
func (e *fleetEnvoy) connectedTo(procs []*proc) []*proc {
	var out []*proc
	for _, p := range procs {
		st, err := p.client().XDSStatus(context.Background())
		if err != nil {
			continue
		}
		for _, g := range st.Groups {
			if g.Key == e.node.group() && g.Streams > 0 {
				out = append(out, p)
			}
		}
	}
	return out
}

// httpServiceYAML is an http Service on port with one domain, versions v1
// and v2 at the given weights on the demo backends.
func httpServiceYAML(name string, port int, w1, w2 int, backends map[string]*demo.Backend) string {
	return fmt.Sprintf(`apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: %[1]s}
spec:
  protocol: http
  port: %[2]d
  domains: [%[1]s.example.com]
  versions:
    - {name: v1, weight: %[3]d, endpoints: [{address: %[5]q, region: eu-west}]}
    - {name: v2, weight: %[4]d, endpoints: [{address: %[6]q, region: eu-west}]}
`, name, port, w1, w2, backends[name+"/v1"].HTTPAddr(), backends[name+"/v2"].HTTPAddr())
}

// freePortNumber is freePort's port.
func freePortNumber(t testing.TB) int {
	t.Helper()
	_, p, err := net.SplitHostPort(freePort(t))
	require.NoError(t, err)
	n, err := strconv.Atoi(p)
	require.NoError(t, err)
	return n
}
