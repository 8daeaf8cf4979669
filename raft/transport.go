package raft

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"

	"github.com/sluicehq/sluice/certs"
)

// TLS makes the Raft transport mutual TLS. hashicorp/raft has no TLS of
// its own: it speaks msgpack over any StreamLayer, so this package gives it
// one whose listener only completes handshakes with peers that present a
// certificate the Server config accepts, and whose dialler presents this
// node's certificate and verifies the peer's. Nothing a peer sends is
// decoded before its handshake succeeds, so a forged AppendEntries from
// anyone without a cluster certificate never reaches Raft.
type TLS struct {
	// Server accepts peers. It must require and verify client
	// certificates (tls.RequireAndVerifyClientCert, directly or from
	// GetConfigForClient); Open cannot check that for GetConfigForClient.
	Server *tls.Config
	// Client dials peers, presenting this node's certificate.
	Client *tls.Config
}

// Errors of newTLSTransport, as NewTCPTransport reports them.
var (
	errNotTCP          = errors.New("local address is not a TCP address")
	errNotAdvertisable = errors.New("local bind address is not advertisable: set an advertise address")
)

// tlsStreamLayer implements hraft.StreamLayer over TLS.
type tlsStreamLayer struct {
	net.Listener
	advertise net.Addr
	client    *tls.Config
}

// Accept hands out connections whose handshake has not run yet: the
// transport's first read runs it, and closes the connection when it fails.
// Handshaking here instead would let one silent client stall Accept.
func (s *tlsStreamLayer) Accept() (net.Conn, error) { return s.Listener.Accept() }

// Dial opens a TLS connection to a peer and completes the handshake.
func (s *tlsStreamLayer) Dial(address hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	conn, err := tls.DialWithDialer(d, "tcp", string(address), s.client)
	if err != nil {
		return nil, fmt.Errorf("raft: dial %s over TLS: %w", address, err)
	}
	return conn, nil
}

// Addr is the address advertised to peers.
func (s *tlsStreamLayer) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.Listener.Addr()
}

// newTLSTransport is NewTCPTransport's counterpart over mutual TLS.
func newTLSTransport(bind string, advertise net.Addr, t *TLS, logger hclog.Logger) (*hraft.NetworkTransport, error) {
	trans, _, err := newTLSTransportDialer(bind, advertise, t, logger)
	return trans, err
}

// dialer opens a connection to a peer as the transport would.
type dialer func(addr string, timeout time.Duration) (net.Conn, error)

func tcpDial(addr string, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, timeout)
}

func newTLSTransportDialer(bind string, advertise net.Addr, t *TLS, logger hclog.Logger) (*hraft.NetworkTransport, dialer, error) {
	if t.Server == nil || t.Client == nil {
		return nil, nil, fmt.Errorf("%w: TLS needs both a server and a client config", ErrConfig)
	}
	lis, err := tls.Listen("tcp", bind, t.Server)
	if err != nil {
		return nil, nil, err
	}
	layer := &tlsStreamLayer{Listener: lis, advertise: advertise, client: t.Client}
	addr, ok := layer.Addr().(*net.TCPAddr)
	switch {
	case !ok:
		lis.Close()
		return nil, nil, errNotTCP
	case addr.IP == nil || addr.IP.IsUnspecified():
		lis.Close()
		return nil, nil, errNotAdvertisable
	}
	dial := func(a string, timeout time.Duration) (net.Conn, error) {
		return layer.Dial(hraft.ServerAddress(a), timeout)
	}
	return hraft.NewNetworkTransportWithLogger(layer, transportMaxPool, transportTimeout, logger), dial, nil
}

// ErrPeerUnreachable is returned by ProbePeer when no Raft transport
// answers at the address (or, over TLS, its handshake fails).
var ErrPeerUnreachable = errors.New("no Raft peer answers at that address")

// ErrPeerIdentity is returned by ProbePeer over TLS when the peer's
// certificate names another node than the one asking to join.
var ErrPeerIdentity = errors.New("the peer's certificate names another node")

// probeTimeout bounds ProbePeer.
const probeTimeout = 5 * time.Second

// ProbePeer checks, before a node is added to the configuration, that a
// Raft transport answers at addr: over TLS that it completes a mutual
// handshake with a node certificate naming id. Adding a voter nobody
// answers for would cost the cluster its quorum (a one-node cluster that
// adds an unreachable voter can no longer commit anything), so the API
// refuses such a join instead.
func (n *Node) ProbePeer(ctx context.Context, id, addr string) error {
	timeout := probeTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	conn, err := n.dial(addr, timeout)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrPeerUnreachable, addr, err)
	}
	defer conn.Close()
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return nil
	}
	peers := tc.ConnectionState().PeerCertificates
	if len(peers) == 0 {
		return fmt.Errorf("%w: %s sent no certificate", ErrPeerIdentity, addr)
	}
	names := certs.IdentityOf(peers[0]).Named(certs.KindNode)
	if !slices.Contains(names, id) {
		return fmt.Errorf("%w: %s presents node identity %v, not %q", ErrPeerIdentity, addr, names, id)
	}
	return nil
}
