// Package certs loads, reloads and issues the X.509 certificates that
// secure Sluice's three ports: the API (HTTPS), Raft (mutual TLS between
// nodes) and xDS (TLS, optionally mutual, for proxies).
//
// One CA signs a cluster's certificates. What a certificate may do is in
// its identity, a SPIFFE-like URI SAN:
//
//	spiffe://<trust domain>/sluice/node/<node id>     a Sluice node (Raft, API, xDS server)
//	spiffe://<trust domain>/sluice/proxy/<cluster>    a proxy of xDS node cluster <cluster>
//
// so a proxy's certificate, issued by the same CA, can never speak Raft.
// Certificates and the CA bundle are read from files and reloaded when the
// files change, without a restart (Store). Issue and the `sluice tls init`
// command write a development CA and certificates in this shape; any CA
// that puts these URI SANs in its certificates works the same way.
package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrNotNode is returned when a peer's certificate does not name a Sluice
// node.
var ErrNotNode = errors.New("certificate does not identify a Sluice node")

// DefaultTrustDomain is the trust domain `sluice tls init` uses.
const DefaultTrustDomain = "sluice.local"

// Identity kinds, the path segment after /sluice/ in the URI SAN.
const (
	KindNode  = "node"
	KindProxy = "proxy"
)

// Identity is what a certificate says about its holder.
type Identity struct {
	// URIs are the certificate's URI SANs.
	URIs []string
	// CommonName is the subject's CN.
	CommonName string
}

// IdentityOf reads the identity of a certificate.
func IdentityOf(c *x509.Certificate) Identity {
	id := Identity{CommonName: c.Subject.CommonName}
	for _, u := range c.URIs {
		id.URIs = append(id.URIs, u.String())
	}
	return id
}

// String renders the identity for logs: the URIs, else the CN.
func (id Identity) String() string {
	if len(id.URIs) > 0 {
		return strings.Join(id.URIs, ",")
	}
	return "CN=" + id.CommonName
}

// Named returns the names an identity of kind carries: for
// spiffe://td/sluice/<kind>/<name>, each <name>.
func (id Identity) Named(kind string) []string {
	var out []string
	for _, raw := range id.URIs {
		if name, ok := nameIn(raw, kind); ok {
			out = append(out, name)
		}
	}
	return out
}

func nameIn(raw, kind string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "spiffe" || u.Host == "" {
		return "", false
	}
	name, ok := strings.CutPrefix(u.Path, "/sluice/"+kind+"/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", false
	}
	return name, true
}

// URI is the identity URI of a holder of kind and name.
func URI(trustDomain, kind, name string) *url.URL {
	return &url.URL{Scheme: "spiffe", Host: trustDomain, Path: "/sluice/" + kind + "/" + name}
}

// RequireNode checks that a verified peer certificate names a Sluice node.
func RequireNode(c *x509.Certificate) error {
	if len(IdentityOf(c).Named(KindNode)) == 0 {
		return fmt.Errorf("%w (identity %s)", ErrNotNode, IdentityOf(c))
	}
	return nil
}

// URIPrefix is the prefix every identity of kind shares in a trust domain,
// e.g. "spiffe://sluice.local/sluice/node/": what a proxy's bootstrap
// matches the xDS server's certificate against (Envoy's
// match_typed_subject_alt_names with a URI prefix).
func URIPrefix(trustDomain, kind string) string {
	return "spiffe://" + trustDomain + "/sluice/" + kind + "/"
}
