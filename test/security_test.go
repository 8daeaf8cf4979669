package test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/xds"

	"github.com/sluicehq/sluice/certs"
	"github.com/sluicehq/sluice/raft"
	"github.com/sluicehq/sluice/state"
)

// tlsCluster starts n real server processes with certificates written by
// `sluice tls init`: HTTPS on the API, mutual TLS on Raft, and mutual TLS
// on xDS with proxy identities bound to their clusters.
func tlsCluster(t *testing.T, n int) ([]*proc, string) {
	t.Helper()
	return tlsClusterWith(t, n, nil)
}

// tlsClusterWith is tlsCluster whose nodes take the proxies' CA bundle
// (--xds-client-ca) from the file clientCA returns, given the directory
// of the certificates; nil takes the cluster's CA.
func tlsClusterWith(t *testing.T, n int, clientCA func(dir string) string) ([]*proc, string) {
	t.Helper()
	dir := t.TempDir()
	args := []string{"tls", "init", "--dir", dir, "--proxy", "web", "--proxy", "payments", "--validity", "1h"}
	for i := 1; i <= n; i++ {
		args = append(args, "--node", fmt.Sprintf("n%d=127.0.0.1", i))
	}
	out, err := exec.Command(sluiceBin, args...).CombinedOutput()
	require.NoError(t, err, string(out))
	ca := filepath.Join(dir, "ca.crt")
	pem, err := os.ReadFile(ca)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	clientTLS := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	xdsClientCA := ca
	if clientCA != nil {
		xdsClientCA = clientCA(dir)
	}

	procs := make([]*proc, n)
	for i := range procs {
		id := fmt.Sprintf("n%d", i+1)
		extra := []string{"--tls-cert", filepath.Join(dir, "node-"+id+".crt"), "--tls-key", filepath.Join(dir, "node-"+id+".key"),
			"--tls-ca", ca, "--xds-client-ca", xdsClientCA}
		if i == 0 {
			extra = append(extra, "--bootstrap")
		} else {
			extra = append(extra, "--join", procs[0].api)
		}
		procs[i] = newProc(t, id, extra...)
		procs[i].clientTLS = clientTLS
		procs[i].startFresh()
		if i == 0 {
			waitReady(t, procs[0])
		}
	}
	waitMembers(t, procs, n)
	for _, p := range procs {
		waitReady(t, p)
	}
	return procs, dir
}

// grpcService is a gRPC service whose one version runs at addr.
func grpcService(addr string) string {
	return fmt.Sprintf(`apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: greeter}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: %q, region: eu-west, zone: a}]}
`, addr)
}

// mtlsBootstrap is a grpc-go xDS bootstrap with "tls" channel credentials
// (the file-watcher certificate provider) presenting proxy cert.
func mtlsBootstrap(xdsAddr, cluster, dir, cert string) []byte {
	b, _ := json.Marshal(map[string]any{
		"xds_servers": []any{map[string]any{
			"server_uri": xdsAddr,
			"channel_creds": []any{map[string]any{"type": "tls", "config": map[string]any{
				"ca_certificate_file": filepath.Join(dir, "ca.crt"),
				"certificate_file":    filepath.Join(dir, cert+".crt"),
				"private_key_file":    filepath.Join(dir, cert+".key"),
				"refresh_interval":    "1s",
			}}},
			"server_features": []string{"xds_v3"},
		}},
		"node": map[string]any{"id": cluster + "-client", "cluster": cluster, "locality": map[string]any{"region": "eu-west", "zone": "a"}},
	})
	return b
}

func callOnce(t *testing.T, bootstrap []byte, timeout time.Duration) (string, error) {
	t.Helper()
	res, err := xds.NewXDSResolverWithConfigForTesting(bootstrap)
	require.NoError(t, err)
	conn, err := grpc.NewClient("xds:///greeter", grpc.WithResolvers(res), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r, err := testgrpc.NewTestServiceClient(conn).UnaryCall(ctx, &testgrpc.SimpleRequest{}, grpc.WaitForReady(true))
	if err != nil {
		return "", err
	}
	return r.GetHostname(), nil
}

// servedSerial is the serial number of the certificate a node's API
// presents now.
func servedSerial(t *testing.T, p *proc) string {
	t.Helper()
	c, err := tls.Dial("tcp", p.api, &tls.Config{RootCAs: p.clientTLS.RootCAs, MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestTLSClusterOnRealNodes: three processes with certificates from
// `sluice tls init` join each other over HTTPS and mutual TLS, forward
// writes, serve grpc-go's xDS client over mutual TLS (and nothing to a
// proxy asking for a cluster its certificate does not name), answer the
// CLI only over verified HTTPS, and pick up a rotated certificate without
// a restart.
func TestTLSClusterOnRealNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	procs, dir := tlsCluster(t, 3)
	_, followers := splitLeader(t, procs)
	b := startBackend(t, "v1")
	_, err := followers[0].client().Apply(ctxT(t), "greeter.yaml", []byte(grpcService(b.addr)))
	require.NoError(t, err, "a write forwarded between members over HTTPS")

	got, err := callOnce(t, mtlsBootstrap(followers[1].xds, "web", dir, "proxy-web"), 30*time.Second)
	require.NoError(t, err)
	require.Equal(t, "v1", got)
	_, err = callOnce(t, mtlsBootstrap(followers[1].xds, "web", dir, "proxy-payments"), 3*time.Second)
	require.Error(t, err, "a payments proxy gets nothing for cluster web")

	cli := func(extra ...string) ([]byte, error) {
		args := append([]string{"--server", followers[0].api, "--token", harnessToken}, extra...)
		return exec.Command(sluiceBin, append(args, "cluster", "members")...).CombinedOutput()
	}
	out, err := cli("--ca-file", filepath.Join(dir, "ca.crt"))
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "n3")
	out, err = cli()
	require.Error(t, err, "plain HTTP to an HTTPS API: %s", out)

	// Rotate n2's certificate in place: new handshakes present it.
	p := procs[1]
	before := servedSerial(t, p)
	ca, err := certs.LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	require.NoError(t, err)
	now := time.Now()
	c, k, err := ca.Issue(certs.Request{Kind: certs.KindNode, Name: "n2", Hosts: []string{"127.0.0.1"}, NotBefore: now.Add(-time.Minute), NotAfter: now.Add(2 * time.Hour)})
	require.NoError(t, err)
	require.NoError(t, certs.WritePair(filepath.Join(dir, "node-n2.crt"), c, filepath.Join(dir, "node-n2.key"), k))
	eventually(t, 30*time.Second, "n2 serving its rotated certificate", func() error {
		if s := servedSerial(t, p); s == before {
			return fmt.Errorf("still serial %s", s)
		}
		return nil
	})
	_, err = p.client().Apply(ctxT(t), "greeter.yaml", []byte(strings.Replace(grpcService(b.addr), "zone: a", "zone: b", 1)))
	require.NoError(t, err, "the cluster works on with the rotated certificate")
}

// TestSnapshotSaveRestoreOnRealNodes: a backup saved with the CLI from a
// follower of one three-node cluster and restored through a follower of a
// fresh one gives every node of the new cluster the same state (its own
// membership aside), and the new cluster takes writes.
func TestSnapshotSaveRestoreOnRealNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	a := startCluster(t, 3)
	_, aFollowers := splitLeader(t, a)
	_, err := aFollowers[0].client().Apply(ctxT(t), "shop.yaml", []byte(serviceYAML("shop", 8080, 70)))
	require.NoError(t, err)
	_, err = aFollowers[1].client().Apply(ctxT(t), "cart.yaml", []byte(serviceYAML("cart", 8081, 40)))
	require.NoError(t, err)

	file := filepath.Join(t.TempDir(), "a.backup")
	out, err := exec.Command(sluiceBin, "--server", aFollowers[0].api, "--token", harnessToken, "snapshot", "save", file).CombinedOutput()
	require.NoError(t, err, string(out))
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	saved, header, err := raft.ReadBackup(data)
	require.NoError(t, err)
	require.Contains(t, saved.Services, "cart", "the backup holds every committed change")

	b := startCluster(t, 3)
	_, bFollowers := splitLeader(t, b)
	out, err = exec.Command(sluiceBin, "--server", bFollowers[1].api, "--token", harnessToken, "snapshot", "restore", file).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), fmt.Sprintf("at index %d", header.StateIndex))

	want := stateWithoutMembers(t, saved)
	for _, p := range b {
		eventually(t, 30*time.Second, p.id+" holding the restored state", func() error {
			raw, err := p.client().Snapshot(context.Background(), true)
			if err != nil {
				return err
			}
			st, _, err := raft.ReadBackup(raw)
			if err != nil {
				return err
			}
			if got := stateWithoutMembers(t, st); got != want {
				return fmt.Errorf("state differs:\n got %.300s\nwant %.300s", got, want)
			}
			if len(st.Members) != 3 || st.Members[p.id] == nil || st.Members[p.id].APIAddr != p.api {
				return fmt.Errorf("members are not the new cluster's: %v", st.Members)
			}
			return nil
		})
	}
	// A second restore into the now non-empty cluster needs --force.
	out, err = exec.Command(sluiceBin, "--server", b[0].api, "--token", harnessToken, "snapshot", "restore", file).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "already holds objects")
	_, err = b[2].client().Apply(ctxT(t), "shop.yaml", []byte(serviceYAML("shop", 8080, 20)))
	require.NoError(t, err)
	waitWeightEverywhere(t, b, "shop", 20)
}

func stateWithoutMembers(t *testing.T, s *state.State) string {
	t.Helper()
	c := *s
	c.Members = nil
	b, err := json.Marshal(&c)
	require.NoError(t, err)
	return string(b)
}
