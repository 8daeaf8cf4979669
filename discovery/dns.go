package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// ErrNoServers is returned by NewResolver when neither the caller nor
// resolv.conf names a DNS server.
var ErrNoServers = errors.New("no DNS server configured")

// defaultResolvConf is where the system's DNS servers are read from.
const defaultResolvConf = "/etc/resolv.conf"

// maxAnswers bounds the addresses kept from one answer.
const maxAnswers = state.MaxObservedEndpoints

// Resolver looks names up with the DNS servers it is given, reading the
// records' TTLs (which the standard library's resolver does not expose).
type Resolver struct {
	// Servers are host:port addresses, tried in order.
	Servers []string
	// Timeout bounds one exchange with one server.
	Timeout time.Duration
}

// NewResolver returns a resolver for servers ("host:port", or a host for
// port 53); with none, for the servers in /etc/resolv.conf.
func NewResolver(servers ...string) (*Resolver, error) {
	if len(servers) == 0 {
		cc, err := dns.ClientConfigFromFile(defaultResolvConf)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoServers, err)
		}
		for _, s := range cc.Servers {
			servers = append(servers, net.JoinHostPort(s, cc.Port))
		}
	}
	if len(servers) == 0 {
		return nil, ErrNoServers
	}
	out := make([]string, len(servers))
	for i, s := range servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			s = net.JoinHostPort(s, "53")
		}
		out[i] = s
	}
	return &Resolver{Servers: out, Timeout: 2 * time.Second}, nil
}

// Answer is what a lookup found: the addresses (sorted) and the shortest
// TTL among their records.
type Answer struct {
	Addrs []netip.Addr
	TTL   time.Duration
}

// LookupError is a lookup that gave no answer; Kind says whether the name
// failed to resolve (state.FailureLookup) or resolved to no address
// (state.FailureEmpty).
type LookupError struct {
	Kind state.FailureKind
	Name string
	Err  error
}

func (e *LookupError) Error() string { return fmt.Sprintf("lookup %s: %v", e.Name, e.Err) }

func (e *LookupError) Unwrap() error { return e.Err }

// errNoAddress is the error of an answer without A or AAAA records.
var errNoAddress = errors.New("the answer has no A or AAAA record")

// Lookup resolves name to its A and AAAA records.
func (r *Resolver) Lookup(ctx context.Context, name string) (Answer, error) {
	fqdn := dns.Fqdn(strings.ToLower(name))
	var ans Answer
	var ttl uint32
	first := true
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		msg, err := r.exchange(ctx, fqdn, qtype)
		if err != nil {
			return Answer{}, &LookupError{Kind: state.FailureLookup, Name: name, Err: err}
		}
		for _, rr := range msg.Answer {
			var addr netip.Addr
			switch rec := rr.(type) {
			case *dns.A:
				addr, _ = netip.AddrFromSlice(rec.A.To4())
			case *dns.AAAA:
				addr, _ = netip.AddrFromSlice(rec.AAAA)
			default:
				continue
			}
			if !addr.IsValid() || len(ans.Addrs) >= maxAnswers {
				continue
			}
			ans.Addrs = append(ans.Addrs, addr.Unmap())
			if first || rr.Header().Ttl < ttl {
				ttl, first = rr.Header().Ttl, false
			}
		}
	}
	if len(ans.Addrs) == 0 {
		return Answer{}, &LookupError{Kind: state.FailureEmpty, Name: name, Err: errNoAddress}
	}
	slices.SortFunc(ans.Addrs, netip.Addr.Compare)
	ans.Addrs = slices.Compact(ans.Addrs)
	ans.TTL = time.Duration(ttl) * time.Second
	return ans, nil
}

// exchange asks each server in turn, over TCP when the UDP answer was
// truncated; NXDOMAIN and other failure codes are errors.
func (r *Resolver) exchange(ctx context.Context, fqdn string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(fqdn, qtype)
	q.RecursionDesired = true
	var errs []error
	for _, server := range r.Servers {
		msg, err := r.exchangeWith(ctx, "udp", q, server)
		if err == nil && msg.Truncated {
			msg, err = r.exchangeWith(ctx, "tcp", q, server)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", server, err))
			continue
		}
		if msg.Rcode != dns.RcodeSuccess {
			errs = append(errs, fmt.Errorf("%s: %s", server, dns.RcodeToString[msg.Rcode]))
			if msg.Rcode == dns.RcodeNameError {
				break // the name does not exist: another server says the same
			}
			continue
		}
		return msg, nil
	}
	return nil, errors.Join(errs...)
}

func (r *Resolver) exchangeWith(ctx context.Context, network string, q *dns.Msg, server string) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: r.Timeout}
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	msg, _, err := c.ExchangeContext(ctx, q, server)
	return msg, err
}

// nextLookup is when a name is looked up again: after its TTL, within
// the version's bounds.
func nextLookup(ttl time.Duration, b config.ResolveBounds) time.Duration {
	return min(max(ttl, b.Min), b.Max)
}

// dnsSource is a version's DNS name as a source.
type dnsSource struct {
	spec     *config.DNSDiscovery
	resolver Lookuper
}

// Lookuper resolves names (Resolver; tests inject their own).
type Lookuper interface {
	Lookup(ctx context.Context, name string) (Answer, error)
}

func (s *dnsSource) look(ctx context.Context) lookResult {
	b := s.spec.ResolveBounds()
	ans, err := s.resolver.Lookup(ctx, s.spec.Name)
	if err != nil {
		kind := state.FailureLookup
		var le *LookupError
		if errors.As(err, &le) {
			kind = le.Kind
		}
		return lookResult{failure: &state.SourceFailure{Kind: kind, Message: err.Error()}, again: b.Min}
	}
	found := make([]state.ObservedEndpoint, len(ans.Addrs))
	for i, a := range ans.Addrs {
		found[i] = state.ObservedEndpoint{
			Address: net.JoinHostPort(a.String(), fmt.Sprint(s.spec.Port)),
			Region:  s.spec.Region, Zone: s.spec.Zone, Health: state.Healthy,
		}
	}
	return lookResult{found: found, again: nextLookup(ans.TTL, b)}
}

// noResolver is the resolver of a node started without one: every lookup
// fails, and the failure is recorded.
type noResolver struct{}

func (noResolver) Lookup(_ context.Context, name string) (Answer, error) {
	return Answer{}, &LookupError{Kind: state.FailureLookup, Name: name, Err: ErrNoServers}
}
