package test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/test/envoytest"
	"github.com/sluicehq/sluice/xds"
)

// TestEnvoyOverMutualTLS: a real Envoy whose bootstrap `sluice envoy
// bootstrap --tls-*` printed, with the proxy certificate `sluice tls init`
// issued for its cluster, receives its listeners and routes traffic; an
// Envoy presenting a certificate of another CA, and one whose certificate
// names another cluster, receive nothing and hold no stream.
func TestEnvoyOverMutualTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server and Envoy processes")
	}
	procs, dir := tlsCluster(t, 1)
	backends := startBackends(t, "shop")
	port := freePortNumber(t)
	_, err := procs[0].client().Apply(ctxT(t), "shop.yaml", []byte(httpServiceYAML("shop", port, 100, 0, backends)))
	require.NoError(t, err)

	files := func(d, name string) *envoyTLS {
		return &envoyTLS{ca: filepath.Join(dir, "ca.crt"), cert: filepath.Join(d, name+".crt"), key: filepath.Join(d, name+".key")}
	}
	web := startEnvoy(t, procs, envoyNode{id: "web-1", cluster: "web", region: "eu-west", zone: "a", gateway: "127.0.0.2", tls: files(dir, "proxy-web")})
	route := "http_" + strconv.Itoa(port)
	web.waitRoute(t, route, func(rc envoytest.RouteConfig) error {
		_, err := rc.Split("shop")
		return err
	})
	allReach(t, web.httpLoad(t, port, "shop.example.com", nil, 0), "v1", 30*time.Second)
	require.NotEmpty(t, web.connectedTo(procs), "the server holds web-1's stream")

	// Another CA's certificate for the same cluster: the handshake fails.
	other := t.TempDir()
	out, err := exec.Command(sluiceBin, "tls", "init", "--dir", other, "--node", "n1=127.0.0.1", "--proxy", "web", "--validity", "1h").CombinedOutput()
	require.NoError(t, err, string(out))
	intruder := refusedEnvoy(t, procs, envoyNode{id: "intruder", cluster: "web", region: "eu-west", zone: "b", gateway: "127.0.0.3", tls: files(other, "proxy-web")},
		"cluster.sluice_xds.ssl.connection_error")
	// A valid certificate of another cluster: the stream is refused.
	payments := refusedEnvoy(t, procs, envoyNode{id: "payments-as-web", cluster: "web", region: "eu-west", zone: "c", gateway: "127.0.0.4", tls: files(dir, "proxy-payments")},
		"cluster.sluice_xds.upstream_rq_total")
	eventually(t, 30*time.Second, "the server logging the refused stream", func() error {
		for _, l := range procs[0].logs.since(0) {
			if strings.Contains(l, "xds stream refused") && strings.Contains(l, "code=PermissionDenied") && strings.Contains(l, "proxy/payments") {
				return nil
			}
		}
		return errors.New("no refusal of the payments identity logged")
	})
	for _, e := range []*fleetEnvoy{intruder, payments} {
		ls, err := e.Admin().Listeners(context.Background())
		require.NoError(t, err)
		require.Empty(t, ls, "%s received listeners", e.node.id)
		require.Empty(t, e.connectedTo(procs), "%s holds a stream", e.node.id)
	}
	// web-1 is served on, at the same state as before.
	allReach(t, web.httpLoad(t, port, "shop.example.com", nil, 0), "v1", 30*time.Second)
}

// refusedEnvoy starts an Envoy the server must turn away and waits until
// it has tried more than once (stat, a counter of its attempts, above 1)
// while its control plane never counts as connected.
func refusedEnvoy(t *testing.T, procs []*proc, n envoyNode, stat string) *fleetEnvoy {
	t.Helper()
	px := envoytest.Start(t, envoyBootstrapFor(t, procs, n, xds.FormatYAML))
	eventually(t, 60*time.Second, n.id+" turned away more than once", func() error {
		st, err := px.Admin().Stats(context.Background(), `^(cluster\.sluice_xds\.(ssl\.connection_error|ssl\.handshake|upstream_rq_total|upstream_cx_total)|control_plane\.connected_state)$`)
		if err != nil {
			return err
		}
		if st["control_plane.connected_state"] != 0 {
			return errors.New("control plane connected")
		}
		if st[stat] < 2 {
			return fmt.Errorf("%s = %d; stats %v", stat, st[stat], st)
		}
		return nil
	})
	return &fleetEnvoy{Proxy: px, node: n}
}

// TestEnvoyRotatesItsCertificateWithoutRestart: an Envoy whose bootstrap
// `sluice envoy bootstrap --tls-*` printed takes its client certificate
// through file-based SDS. Its certificate and key are replaced on disk
// (in one rename, as a Kubernetes secret volume does) by ones of a new CA, while the node trusts
// both CAs, and its CA file becomes a bundle of both; Envoy loads them
// without a restart. The node then stops
// trusting the old CA and restarts: the rotated Envoy reconnects and
// receives a change, and an Envoy that kept the old certificate is
// refused.
func TestEnvoyRotatesItsCertificateWithoutRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server and Envoy processes")
	}
	var clients string
	procs, dir := tlsClusterWith(t, 1, func(dir string) string {
		clients = filepath.Join(dir, "xds-clients.crt")
		replaceFile(t, clients, readFile(t, filepath.Join(dir, "ca.crt")))
		return clients
	})
	node := procs[0]
	dirB := t.TempDir()
	out, err := exec.Command(sluiceBin, "tls", "init", "--dir", dirB, "--node", "n1=127.0.0.1", "--proxy", "web", "--validity", "1h").CombinedOutput()
	require.NoError(t, err, string(out))

	backends := startBackends(t, "shop")
	port := freePortNumber(t)
	_, err = node.client().Apply(ctxT(t), "shop.yaml", []byte(httpServiceYAML("shop", port, 100, 0, backends)))
	require.NoError(t, err)
	// Each Envoy has its own copies of the files, as on its own host, laid
	// out as a Kubernetes secret volume is: the names are links into
	// ..data, itself a link to the current version's directory, so a new
	// certificate and key arrive together in one rename.
	ownFiles := func() *envoyTLS {
		d := t.TempDir()
		publishFiles(t, d, "v1", map[string][]byte{
			"ca.crt":        readFile(t, filepath.Join(dir, "ca.crt")),
			"proxy-web.crt": readFile(t, filepath.Join(dir, "proxy-web.crt")),
			"proxy-web.key": readFile(t, filepath.Join(dir, "proxy-web.key")),
		})
		return &envoyTLS{ca: filepath.Join(d, "ca.crt"), cert: filepath.Join(d, "proxy-web.crt"), key: filepath.Join(d, "proxy-web.key")}
	}
	rotatedFiles := ownFiles()
	rotated := startEnvoy(t, procs, envoyNode{id: "web-rotated", cluster: "web", region: "eu-west", zone: "a", gateway: "127.0.0.2", tls: rotatedFiles})
	stale := startEnvoy(t, procs, envoyNode{id: "web-stale", cluster: "web", region: "eu-west", zone: "b", gateway: "127.0.0.3", tls: ownFiles()})
	allReach(t, rotated.httpLoad(t, port, "shop.example.com", nil, 0), "v1", 30*time.Second)
	serialA := certSerial(t, filepath.Join(dir, "proxy-web.crt"))
	require.Contains(t, heldChains(t, rotated), serialA)

	// The node trusts both CAs while proxies move; the rotated Envoy's
	// certificate and key are replaced together.
	bundle := append(readFile(t, filepath.Join(dir, "ca.crt")), readFile(t, filepath.Join(dirB, "ca.crt"))...)
	replaceFile(t, clients, bundle)
	publishFiles(t, filepath.Dir(rotatedFiles.cert), "v2", map[string][]byte{
		"ca.crt":        bundle,
		"proxy-web.crt": readFile(t, filepath.Join(dirB, "proxy-web.crt")),
		"proxy-web.key": readFile(t, filepath.Join(dirB, "proxy-web.key")),
	})
	serialB := certSerial(t, filepath.Join(dirB, "proxy-web.crt"))
	eventually(t, 30*time.Second, "web-rotated holds the new certificate", func() error {
		if got := heldChains(t, rotated); !slices.Contains(got, serialB) || slices.Contains(got, serialA) {
			return fmt.Errorf("holds %v, want %s instead of %s", got, serialB, serialA)
		}
		return nil
	})
	require.Contains(t, heldChains(t, stale), serialA, "the other Envoy keeps its certificate")
	caB := certSerial(t, filepath.Join(dirB, "ca.crt"))
	eventually(t, 30*time.Second, "web-rotated trusts the new CA bundle", func() error {
		if _, cas, err := rotated.Admin().CertSerials(context.Background()); err != nil || !slices.Contains(cas, caB) {
			return fmt.Errorf("trusts %v (%v), want %s among them", cas, err, caB)
		}
		return nil
	})

	// The node stops trusting the old CA and restarts: every Envoy
	// reconnects with the certificate it holds now.
	replaceFile(t, clients, readFile(t, filepath.Join(dirB, "ca.crt")))
	node.stop(syscall.SIGTERM)
	staleTries := envoyStat(t, stale, "cluster.sluice_xds.upstream_cx_total")
	node.start()
	waitReady(t, node)
	eventually(t, 60*time.Second, "web-rotated reconnected", func() error {
		if len(rotated.connectedTo(procs)) == 0 {
			return errors.New("no stream of web-rotated on the node")
		}
		return nil
	})
	_, err = node.client().Apply(ctxT(t), "shop.yaml", []byte(httpServiceYAML("shop", port, 0, 100, backends)))
	require.NoError(t, err)
	allReach(t, rotated.httpLoad(t, port, "shop.example.com", nil, 0), "v2", 30*time.Second)

	eventually(t, 60*time.Second, "web-stale tried again", func() error {
		if n := envoyStat(t, stale, "cluster.sluice_xds.upstream_cx_total"); n < staleTries+2 {
			return fmt.Errorf("%d connections, %d before the restart", n, staleTries)
		}
		return nil
	})
	require.Empty(t, stale.connectedTo(procs), "the old certificate's CA is no longer trusted")
	require.Zero(t, envoyStat(t, stale, "control_plane.connected_state"))
	allReach(t, stale.httpLoad(t, port, "shop.example.com", nil, 0), "v1", 30*time.Second)
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return b
}

// replaceFile puts data at name the way docs/security.md says to rotate
// a file: written beside it, then renamed over it.
func replaceFile(t *testing.T, name string, data []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(name+".tmp", data, 0o600))
	require.NoError(t, os.Rename(name+".tmp", name))
}

// certSerial is the serial number of a PEM certificate, as Envoy's /certs
// shows it.
func certSerial(t *testing.T, name string) string {
	t.Helper()
	block, _ := pem.Decode(readFile(t, name))
	require.NotNil(t, block, name)
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return c.SerialNumber.Text(16)
}

func heldChains(t *testing.T, e *fleetEnvoy) []string {
	t.Helper()
	chains, _, err := e.Admin().CertSerials(context.Background())
	require.NoError(t, err)
	return chains
}

func envoyStat(t *testing.T, e *fleetEnvoy, name string) uint64 {
	t.Helper()
	st, err := e.Admin().Stats(context.Background(), "^"+regexp.QuoteMeta(name)+"$")
	require.NoError(t, err)
	return st[name]
}

// publishFiles writes files into dir/..version and points dir/..data at
// it with one rename; the first version also links each name to
// ..data/name. It is how Kubernetes updates a secret volume, and what
// docs/security.md describes for a certificate and its key.
func publishFiles(t *testing.T, dir, version string, files map[string][]byte) {
	t.Helper()
	vdir := filepath.Join(dir, ".."+version)
	require.NoError(t, os.Mkdir(vdir, 0o700))
	for name, data := range files {
		require.NoError(t, os.WriteFile(filepath.Join(vdir, name), data, 0o600))
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
			require.NoError(t, os.Symlink(filepath.Join("..data", name), link))
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	require.NoError(t, os.Symlink(".."+version, tmp))
	require.NoError(t, os.Rename(tmp, filepath.Join(dir, "..data")))
}
