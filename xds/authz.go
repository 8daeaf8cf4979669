package xds

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/sluicehq/sluice/certs"
	"github.com/sluicehq/sluice/config"
)

// ErrGroupDenied is returned when a proxy's certificate identity may not
// receive the proxy group its xDS node names.
var ErrGroupDenied = errors.New("proxy identity may not receive this proxy group")

// Authorizer binds proxy identities to the proxy groups they may receive.
// With mutual TLS on the xDS port, every stream is checked before its first
// request reaches the cache: a proxy without an allowed identity gets no
// resource at all, only a PermissionDenied status.
type Authorizer interface {
	Authorize(id certs.Identity, g Group) error
}

// ClusterIdentity is the default binding: a proxy certificate names the xDS
// node cluster it belongs to, in its URI SAN
// (spiffe://<domain>/sluice/proxy/<cluster>, as `sluice tls init` issues
// them), and receives every group of that cluster, any region and zone.
type ClusterIdentity struct{}

// Authorize implements Authorizer.
func (ClusterIdentity) Authorize(id certs.Identity, g Group) error {
	for _, c := range id.Named(certs.KindProxy) {
		if c == g.Cluster {
			return nil
		}
	}
	return fmt.Errorf("%w: %s may receive groups of cluster(s) %v, not %s", ErrGroupDenied, id, id.Named(certs.KindProxy), g.Key())
}

// GroupRules is a binding SREs write when their certificates come from
// their own CA (SPIFFE IDs of a mesh, or CNs): each rule names an identity
// and the groups it may receive. The first rule whose identity matches
// decides.
//
//	rules:
//	  - identity: "spiffe://prod.example/ns/shop/sa/*"   # a URI SAN; * matches any run of characters
//	    groups: ["shop/*/*"]                            # cluster/region/zone; * matches one segment
//	  - identity: "CN=edge-eu"                           # the subject common name
//	    groups: ["edge/eu-west/*", "edge-canary"]       # a bare cluster means cluster/*/*
type GroupRules struct {
	Rules []GroupRule `json:"rules"`
}

// GroupRule is one identity and the groups it may receive.
type GroupRule struct {
	Identity string   `json:"identity"`
	Groups   []string `json:"groups"`
}

// LoadGroupRules reads and checks a rules file (YAML or JSON).
func LoadGroupRules(path string) (*GroupRules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read xDS identity rules: %w", err)
	}
	var r GroupRules
	if err := config.DecodeStrict(path, data, &r); err != nil {
		return nil, err
	}
	if err := r.check(path); err != nil {
		return nil, err
	}
	return &r, nil
}

func (r *GroupRules) check(file string) error {
	var errs config.Errors
	add := func(field, format string, args ...any) {
		errs = append(errs, config.FieldError{Pos: config.Position{File: file}, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if len(r.Rules) == 0 {
		add("rules", "at least one rule is required")
	}
	for i, rule := range r.Rules {
		if strings.TrimSpace(rule.Identity) == "" {
			add(fmt.Sprintf("rules[%d].identity", i), "required: a URI SAN pattern or CN=<name>")
		}
		if len(rule.Groups) == 0 {
			add(fmt.Sprintf("rules[%d].groups", i), "at least one group pattern is required")
		}
		for j, g := range rule.Groups {
			if n := len(strings.Split(g, "/")); g == "" || (n != 1 && n != 3) {
				add(fmt.Sprintf("rules[%d].groups[%d]", i, j), "%q: want cluster or cluster/region/zone", g)
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// Authorize implements Authorizer.
func (r *GroupRules) Authorize(id certs.Identity, g Group) error {
	for _, rule := range r.Rules {
		if !identityMatches(rule.Identity, id) {
			continue
		}
		for _, p := range rule.Groups {
			if groupMatches(p, g) {
				return nil
			}
		}
		return fmt.Errorf("%w: %s may receive %v, not %s", ErrGroupDenied, id, rule.Groups, g.Key())
	}
	return fmt.Errorf("%w: no rule names %s", ErrGroupDenied, id)
}

func identityMatches(pattern string, id certs.Identity) bool {
	if cn, ok := strings.CutPrefix(pattern, "CN="); ok {
		return id.CommonName != "" && glob(cn, id.CommonName)
	}
	for _, u := range id.URIs {
		if glob(pattern, u) {
			return true
		}
	}
	return false
}

func groupMatches(pattern string, g Group) bool {
	parts := strings.Split(pattern, "/")
	if len(parts) == 1 {
		parts = append(parts, "*", "*")
	}
	for i, v := range []string{g.Cluster, g.Region, g.Zone} {
		if parts[i] != "*" && parts[i] != v {
			return false
		}
	}
	return true
}

// glob matches s against a pattern in which * stands for any run of
// characters (including none); nothing else is special.
func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// StreamInterceptor enforces an Authorizer on every xDS stream: the client
// must have presented a verified certificate, its first request must name
// its node, and the node's group must be one the identity may receive. A
// stream may not change node later. Refusals are PermissionDenied (or
// Unauthenticated without a certificate) and end the stream before the
// request reaches the cache.
func StreamInterceptor(a Authorizer) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		leaf, err := peerLeaf(ss)
		if err != nil {
			return err
		}
		as := &authorizedStream{ServerStream: ss, authz: a, id: certs.IdentityOf(leaf)}
		err = handler(srv, as)
		if as.denied != nil {
			// go-control-plane ends the stream without the receive error;
			// the client is told why.
			return as.denied
		}
		return err
	}
}

// logRefusals logs every stream next refuses (PermissionDenied or
// Unauthenticated) with the client's address and why, so a proxy turned
// away shows in the server's log, not only in its own.
func logRefusals(log *slog.Logger, next grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		err := next(srv, ss, info, handler)
		if c := status.Code(err); c == codes.PermissionDenied || c == codes.Unauthenticated {
			addr := ""
			if p, ok := peer.FromContext(ss.Context()); ok && p.Addr != nil {
				addr = p.Addr.String()
			}
			log.Warn("xds stream refused", "peer", addr, "code", c.String(), "err", err)
		}
		return err
	}
}

func peerLeaf(ss grpc.ServerStream) (*x509.Certificate, error) {
	p, ok := peer.FromContext(ss.Context())
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "xds: no peer information")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil, status.Error(codes.Unauthenticated, "xds: a verified client certificate is required")
	}
	return info.State.VerifiedChains[0][0], nil
}

// authorizedStream checks the node of every request it receives.
type authorizedStream struct {
	grpc.ServerStream
	authz Authorizer
	id    certs.Identity
	group *Group
	// denied is the refusal, once a request was refused.
	denied error
}

func (s *authorizedStream) RecvMsg(m any) error {
	if s.denied != nil {
		return s.denied
	}
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if err := s.check(m); err != nil {
		s.denied = err
		return err
	}
	return nil
}

func (s *authorizedStream) check(m any) error {
	var node *core.Node
	switch req := m.(type) {
	case *discovery.DiscoveryRequest:
		node = req.GetNode()
	case *discovery.DeltaDiscoveryRequest:
		node = req.GetNode()
	default:
		return status.Errorf(codes.PermissionDenied, "xds: unexpected message %T", m)
	}
	if node == nil {
		if s.group == nil {
			return status.Error(codes.PermissionDenied, "xds: the first request of a stream must carry its node")
		}
		return nil
	}
	g := GroupOf(node)
	if s.group != nil {
		if g != *s.group {
			return status.Errorf(codes.PermissionDenied, "xds: a stream may not change its node's group (%s, then %s)", s.group.Key(), g.Key())
		}
		return nil
	}
	if err := s.authz.Authorize(s.id, g); err != nil {
		return status.Errorf(codes.PermissionDenied, "xds: %v", err)
	}
	s.group = &g
	return nil
}
