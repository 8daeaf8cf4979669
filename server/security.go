package server

import (
	"crypto/tls"
	"net/http"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/certs"
	"github.com/sluicehq/sluice/raft"
	"github.com/sluicehq/sluice/xds"
)

// transportSecurity is what a node's TLS configuration becomes on each
// port. Every field is nil (plaintext) without a certificate.
type transportSecurity struct {
	// api is the HTTPS listener's config.
	api *tls.Config
	// raft is the mutual TLS of the Raft transport: peers must present a
	// node certificate of the cluster's CA.
	raft *raft.TLS
	// xdsCreds secure the xDS port; xdsAuthz binds proxy identities to
	// groups when proxies must present certificates.
	xdsCreds credentials.TransportCredentials
	xdsAuthz xds.Authorizer
	// peer dials other members' APIs (forwarding, join, ACK collection):
	// it verifies their node certificate, hostname included.
	peer   *tls.Config
	scheme string
	token  string
	actor  string
}

func newTransportSecurity(cfg Config) *transportSecurity {
	t := &transportSecurity{scheme: "http", token: cfg.JoinToken, actor: "system:" + cfg.NodeID}
	store := cfg.TLS
	if store == nil {
		return t
	}
	t.scheme = "https"
	t.api = store.ServerConfig(certs.ServerOptions{})
	t.raft = &raft.TLS{
		Server: store.ServerConfig(certs.ServerOptions{RequireClientCert: true, VerifyPeer: certs.RequireNode}),
		Client: store.ClientConfig(certs.ClientOptions{SkipHostname: true, VerifyPeer: certs.RequireNode}),
	}
	t.peer = store.ClientConfig(certs.ClientOptions{VerifyPeer: certs.RequireNode})
	if cfg.XDSClientCerts != nil {
		t.xdsCreds = credentials.NewTLS(cfg.XDSClientCerts.ServerConfig(certs.ServerOptions{RequireClientCert: true}))
		t.xdsAuthz = cfg.XDSAuthorizer
		if t.xdsAuthz == nil {
			t.xdsAuthz = xds.ClusterIdentity{}
		}
	} else {
		t.xdsCreds = credentials.NewTLS(store.ServerConfig(certs.ServerOptions{}))
	}
	return t
}

// httpClient is an HTTP client for other members' APIs.
func (t *transportSecurity) httpClient(timeout time.Duration) *http.Client {
	c := &http.Client{Timeout: timeout}
	if t.peer != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = t.peer
		c.Transport = tr
	}
	return c
}

// peerClient is an API client for another member, authenticated with this
// node's own token.
func (n *Node) peerClient(addr string) *api.Client {
	c := api.NewClientWith(addr, api.ClientOptions{TLS: n.peers.peer})
	c.Token, c.Actor = n.peers.token, n.peers.actor
	return c
}
