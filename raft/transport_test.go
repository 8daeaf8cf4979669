package raft

import (
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/certs"
)

// pki is a development CA with node certificates n1..n3 and a proxy
// certificate, plus a node certificate from another CA.
type pki struct{ dir, otherDir string }

func newPKI(t *testing.T) pki {
	t.Helper()
	p := pki{dir: t.TempDir(), otherDir: t.TempDir()}
	nodes := map[string][]string{"n1": {"127.0.0.1"}, "n2": {"127.0.0.1"}, "n3": {"127.0.0.1"}}
	_, err := certs.Init(certs.InitOptions{Dir: p.dir, Now: time.Now(), Validity: time.Hour, Nodes: nodes, Proxies: []string{"web"}})
	require.NoError(t, err)
	_, err = certs.Init(certs.InitOptions{Dir: p.otherDir, Now: time.Now(), Validity: time.Hour, Nodes: map[string][]string{"n9": {"127.0.0.1"}}})
	require.NoError(t, err)
	return p
}

// tlsFor is the Raft TLS of a holder of dir/name.crt, as server.Start
// builds it: mutual TLS, peers must be nodes.
func tlsFor(t *testing.T, dir, name string) *TLS {
	t.Helper()
	s, err := certs.Load(certs.Files{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key"), CA: filepath.Join(dir, "ca.crt")}, certs.Options{})
	require.NoError(t, err)
	return &TLS{
		Server: s.ServerConfig(certs.ServerOptions{RequireClientCert: true, VerifyPeer: certs.RequireNode}),
		Client: s.ClientConfig(certs.ClientOptions{SkipHostname: true, VerifyPeer: certs.RequireNode}),
	}
}

// forgeDelete sends the single-node cluster n an AppendEntries of its own
// making: one term up, claiming leadership, carrying "delete Service
// victim" and a commit index that covers it. It returns the transport's
// error (nil when the RPC was answered).
func forgeDelete(t *testing.T, n *Node, trans hraft.Transport) error {
	t.Helper()
	st := n.Stats()
	cmd := deleteCmd(t, "victim")
	data, err := cmd.Encode()
	require.NoError(t, err)
	req := &hraft.AppendEntriesRequest{
		RPCHeader:         hraft.RPCHeader{ProtocolVersion: hraft.ProtocolVersionMax, ID: []byte("intruder"), Addr: []byte(trans.LocalAddr())},
		Term:              st.Term + 1,
		PrevLogEntry:      st.LastLogIndex,
		PrevLogTerm:       st.LastLogTerm,
		Entries:           []*hraft.Log{{Index: st.LastLogIndex + 1, Term: st.Term + 1, Type: hraft.LogCommand, Data: data}},
		LeaderCommitIndex: st.LastLogIndex + 1,
	}
	var resp hraft.AppendEntriesResponse
	return trans.AppendEntries(hraft.ServerID(n.ID()), hraft.ServerAddress(n.Addr()), req, &resp)
}

func quietHCLog() hclog.Logger { return hclog.New(&hclog.LoggerOptions{Output: io.Discard}) }

// startVictim opens a single-node cluster holding Service "victim".
func startVictim(t *testing.T, tlsConf *TLS) *Node {
	t.Helper()
	cfg := testConfig(t, "n1", t.TempDir(), "127.0.0.1:0", true)
	cfg.TLS = tlsConf
	n := openNode(t, cfg)
	require.Eventually(t, n.IsLeader, waitTimeout, waitTick)
	applyServices(t, n, "victim")
	return n
}

// TestForgedAppendEntriesOnPlainTCP shows the attack the TLS transport
// stops: on plain TCP anyone who reaches the Raft port can commit a
// command past every API check.
func TestForgedAppendEntriesOnPlainTCP(t *testing.T) {
	n := startVictim(t, nil)
	attacker, err := hraft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 1, 5*time.Second, quietHCLog())
	require.NoError(t, err)
	defer attacker.Close()
	require.NoError(t, forgeDelete(t, n, attacker))
	require.Eventually(t, func() bool { _, ok := n.State().Services["victim"]; return !ok },
		waitTimeout, waitTick, "the forged delete is applied on plain TCP")
}

// TestForgedAppendEntriesRefusedOverMutualTLS: with the TLS transport the
// same forged RPC fails, whether sent in plaintext, with a proxy's
// certificate of the cluster's own CA or with a node certificate of
// another CA; the state and term are untouched and the node still leads.
func TestForgedAppendEntriesRefusedOverMutualTLS(t *testing.T) {
	p := newPKI(t)
	n := startVictim(t, tlsFor(t, p.dir, "node-n1"))
	term := n.Stats().Term

	plain, err := hraft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 1, 5*time.Second, quietHCLog())
	require.NoError(t, err)
	defer plain.Close()
	require.Error(t, forgeDelete(t, n, plain), "plaintext")

	for _, who := range []struct{ dir, name string }{{p.dir, "proxy-web"}, {p.otherDir, "node-n9"}} {
		s, err := certs.Load(certs.Files{Cert: filepath.Join(who.dir, who.name+".crt"), Key: filepath.Join(who.dir, who.name+".key"),
			CA: filepath.Join(p.dir, "ca.crt")}, certs.Options{})
		require.NoError(t, err)
		// The intruder trusts the cluster's CA (so its side of the
		// handshake succeeds) and presents its own certificate.
		client := s.ClientConfig(certs.ClientOptions{SkipHostname: true})
		attacker, err := newTLSTransport("127.0.0.1:0", nil, &TLS{Server: s.ServerConfig(certs.ServerOptions{}), Client: client}, quietHCLog())
		require.NoError(t, err)
		require.Error(t, forgeDelete(t, n, attacker), who.name)
		attacker.Close()
	}

	_, ok := n.State().Services["victim"]
	require.True(t, ok, "the victim service is still there")
	require.Equal(t, term, n.Stats().Term, "no forged term was adopted")
	require.True(t, n.IsLeader())
	applyServices(t, n, "after")
}

// TestClusterOverMutualTLS: three nodes with node certificates elect a
// leader and replicate; a node whose certificate is from another CA cannot
// take part.
func TestClusterOverMutualTLS(t *testing.T) {
	p := newPKI(t)
	open := func(id, dir, certName string, boot bool) *Node {
		cfg := testConfig(t, id, t.TempDir(), "127.0.0.1:0", boot)
		cfg.TLS = tlsFor(t, dir, certName)
		return openNode(t, cfg)
	}
	n1 := open("n1", p.dir, "node-n1", true)
	require.Eventually(t, n1.IsLeader, waitTimeout, waitTick)
	n2 := open("n2", p.dir, "node-n2", false)
	n3 := open("n3", p.dir, "node-n3", false)
	require.NoError(t, n1.AddVoter(ctxT(t), "n2", n2.Addr()))
	require.NoError(t, n1.AddVoter(ctxT(t), "n3", n3.Addr()))
	applyServices(t, n1, "a")
	waitService(t, "a", n2, n3)

	// A stranger added as a non-voter never receives the log.
	stranger := open("n9", p.otherDir, "node-n9", false)
	require.NoError(t, n1.AddNonvoter(ctxT(t), "n9", stranger.Addr()))
	applyServices(t, n1, "b")
	waitService(t, "b", n2, n3)
	require.Never(t, func() bool { _, ok := stranger.State().Services["a"]; return ok }, 2*time.Second, 50*time.Millisecond)
}

// TestProbePeer: a join is only considered for a node that answers on its
// Raft address, over TLS with a node certificate naming the id it joins as.
func TestProbePeer(t *testing.T) {
	p := newPKI(t)
	open := func(id string) *Node {
		cfg := testConfig(t, id, t.TempDir(), "127.0.0.1:0", id == "n1")
		cfg.TLS = tlsFor(t, p.dir, "node-"+id)
		return openNode(t, cfg)
	}
	n1, n2 := open("n1"), open("n2")
	require.NoError(t, n1.ProbePeer(ctxT(t), "n2", n2.Addr()))
	require.ErrorIs(t, n1.ProbePeer(ctxT(t), "n3", n2.Addr()), ErrPeerIdentity, "n2's certificate does not name n3")
	require.ErrorIs(t, n1.ProbePeer(ctxT(t), "n2", "127.0.0.1:1"), ErrPeerUnreachable)

	plain := openNode(t, testConfig(t, "p1", t.TempDir(), "127.0.0.1:0", false))
	require.ErrorIs(t, n1.ProbePeer(ctxT(t), "p1", plain.Addr()), ErrPeerUnreachable, "a plaintext node fails the handshake")
	require.NoError(t, plain.ProbePeer(ctxT(t), "p1", plain.Addr()), "on plain TCP a listening transport is enough")
}
