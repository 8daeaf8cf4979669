package certs

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fixture is a temp dir with a CA, two nodes and a proxy from Init.
type fixture struct {
	dir string
	ca  *CA
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	_, err := Init(InitOptions{Dir: dir, Now: time.Now(), Validity: time.Hour,
		Nodes: map[string][]string{"n1": {"127.0.0.1", "localhost"}, "n2": {"127.0.0.1"}}, Proxies: []string{"web"}})
	require.NoError(t, err)
	ca, err := LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	require.NoError(t, err)
	return &fixture{dir: dir, ca: ca}
}

func (f *fixture) files(name string) Files {
	return Files{Cert: filepath.Join(f.dir, name+".crt"), Key: filepath.Join(f.dir, name+".key"), CA: filepath.Join(f.dir, "ca.crt")}
}

func (f *fixture) store(t *testing.T, name string) *Store {
	t.Helper()
	s, err := Load(f.files(name), Options{ReloadInterval: time.Millisecond})
	require.NoError(t, err)
	return s
}

// issueTo writes a certificate of another shape (other CA, expired) under
// name in the fixture's directory.
func (f *fixture) issueTo(t *testing.T, ca *CA, name, kind string, notBefore, notAfter time.Time) {
	t.Helper()
	c, k, err := ca.Issue(Request{Kind: kind, Name: name, Hosts: []string{"127.0.0.1"}, NotBefore: notBefore, NotAfter: notAfter})
	require.NoError(t, err)
	require.NoError(t, WritePair(filepath.Join(f.dir, name+".crt"), c, filepath.Join(f.dir, name+".key"), k))
}

// serve accepts TLS connections on a loopback port and answers "ok" to
// each that completes its handshake.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = c.Write([]byte("ok"))
				}
			}()
		}
	}()
	return lis.Addr().String()
}

// talk dials addr with cfg and returns what the server said, or the error.
func talk(addr string, cfg *tls.Config) (string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

// TestMutualTLSBetweenNodes: only holders of a node certificate of the
// cluster's CA get through; a proxy certificate of the same CA, another
// CA, an expired certificate, no certificate and plaintext are refused.
func TestMutualTLSBetweenNodes(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	other, err := NewCA("other", now, time.Hour)
	require.NoError(t, err)
	f.issueTo(t, other, "stranger", KindNode, now.Add(-time.Minute), now.Add(time.Hour))
	f.issueTo(t, f.ca, "expired", KindNode, now.Add(-2*time.Hour), now.Add(-time.Hour))

	server := f.store(t, "node-n1")
	addr := serve(t, server.ServerConfig(ServerOptions{RequireClientCert: true, VerifyPeer: RequireNode}))
	client := func(name string) *tls.Config {
		return f.store(t, name).ClientConfig(ClientOptions{SkipHostname: true, VerifyPeer: RequireNode})
	}

	got, err := talk(addr, client("node-n2"))
	require.NoError(t, err)
	require.Equal(t, "ok", got)

	for _, name := range []string{"proxy-web", "stranger", "expired"} {
		_, err := talk(addr, client(name))
		require.Error(t, err, "%s must be refused", name)
	}
	// No client certificate at all.
	_, err = talk(addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test is that the server refuses
	require.Error(t, err)
	// Plaintext: the server never answers "ok".
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	_, _ = c.Write([]byte("not a TLS client hello\r\n\r\n"))
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(c)
	c.Close()
	require.NotContains(t, string(b), "ok")
}

// TestClientRefusesBadServers: a client refuses a server certificate from
// another CA, an expired one, one that is not a node's, and one that does
// not name the address dialled.
func TestClientRefusesBadServers(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	other, err := NewCA("other", now, time.Hour)
	require.NoError(t, err)
	f.issueTo(t, other, "stranger", KindNode, now.Add(-time.Minute), now.Add(time.Hour))
	f.issueTo(t, f.ca, "expired", KindNode, now.Add(-2*time.Hour), now.Add(-time.Hour))
	f.issueTo(t, f.ca, "proxy-as-server", KindProxy, now.Add(-time.Minute), now.Add(time.Hour))

	client := f.store(t, "node-n1").ClientConfig(ClientOptions{VerifyPeer: RequireNode})
	for _, name := range []string{"stranger", "expired", "proxy-as-server"} {
		addr := serve(t, f.store(t, name).ServerConfig(ServerOptions{}))
		_, err := talk(addr, client.Clone())
		require.ErrorIs(t, err, ErrPeer, name)
	}
	// node-n2's certificate lists 127.0.0.1 but not "localhost".
	addr := serve(t, f.store(t, "node-n2").ServerConfig(ServerOptions{}))
	_, port, _ := net.SplitHostPort(addr)
	_, err = talk(net.JoinHostPort("localhost", port), client.Clone())
	require.ErrorIs(t, err, ErrPeer)
	got, err := talk(addr, client.Clone())
	require.NoError(t, err)
	require.Equal(t, "ok", got)
}

// TestReloadWithoutRestart: after the files are replaced, new handshakes
// present the new certificate and trust the new CA bundle; a broken file
// keeps the last good pair.
func TestReloadWithoutRestart(t *testing.T) {
	f := newFixture(t)
	server := f.store(t, "node-n1")
	addr := serve(t, server.ServerConfig(ServerOptions{}))
	serialSeen := func() string {
		var serial string
		cfg := f.store(t, "node-n2").ClientConfig(ClientOptions{})
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			serial = cs.PeerCertificates[0].SerialNumber.String()
			return nil
		}
		_, err := talk(addr, cfg)
		require.NoError(t, err)
		return serial
	}
	before := serialSeen()
	require.Equal(t, server.Leaf().SerialNumber.String(), before)

	now := time.Now()
	f.issueTo(t, f.ca, "node-n1", KindNode, now.Add(-time.Minute), now.Add(2*time.Hour))
	deadline := time.Now().Add(30 * time.Second)
	for serialSeen() == before {
		require.True(t, time.Now().Before(deadline), "the rotated certificate was never served")
		time.Sleep(20 * time.Millisecond)
	}
	rotated := serialSeen()

	// A half-written key keeps the last good pair.
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, "node-n1.key"), []byte("-----BEGIN"), 0o600))
	time.Sleep(5 * time.Millisecond) // past the 1ms reload interval
	require.Equal(t, rotated, serialSeen())
}

// TestIdentity reads names from URI SANs.
func TestIdentity(t *testing.T) {
	f := newFixture(t)
	leaf := func(name string) *x509.Certificate { return f.store(t, name).Leaf() }
	require.Equal(t, []string{"n1"}, IdentityOf(leaf("node-n1")).Named(KindNode))
	require.Empty(t, IdentityOf(leaf("node-n1")).Named(KindProxy))
	require.Equal(t, []string{"web"}, IdentityOf(leaf("proxy-web")).Named(KindProxy))
	require.NoError(t, RequireNode(leaf("node-n2")))
	require.ErrorIs(t, RequireNode(leaf("proxy-web")), ErrNotNode)
	require.Equal(t, "spiffe://sluice.local/sluice/proxy/web", IdentityOf(leaf("proxy-web")).String())
	require.True(t, strings.HasPrefix(IdentityOf(leaf("node-n1")).URIs[0], URIPrefix(DefaultTrustDomain, KindNode)))
}
