package raft

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
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
	if t.Server == nil || t.Client == nil {
		return nil, fmt.Errorf("%w: TLS needs both a server and a client config", ErrConfig)
	}
	lis, err := tls.Listen("tcp", bind, t.Server)
	if err != nil {
		return nil, err
	}
	layer := &tlsStreamLayer{Listener: lis, advertise: advertise, client: t.Client}
	addr, ok := layer.Addr().(*net.TCPAddr)
	switch {
	case !ok:
		lis.Close()
		return nil, errNotTCP
	case addr.IP == nil || addr.IP.IsUnspecified():
		lis.Close()
		return nil, errNotAdvertisable
	}
	return hraft.NewNetworkTransportWithLogger(layer, transportMaxPool, transportTimeout, logger), nil
}
