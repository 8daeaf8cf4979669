// Package dnstest is a small authoritative DNS server on loopback for
// tests: names answer the A and AAAA records set for them, with the TTL
// set, and can be made to fail.
package dnstest

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server answers over UDP and TCP on one loopback port.
type Server struct {
	udp, tcp *dns.Server
	addr     string

	mu      sync.Mutex
	records map[string]record
	queries int
}

type record struct {
	addrs []netip.Addr
	ttl   uint32
	rcode int
}

// Start serves on a free loopback port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dnstest: listen udp: %v", err)
	}
	l, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		t.Fatalf("dnstest: listen tcp: %v", err)
	}
	s := &Server{addr: pc.LocalAddr().String(), records: map[string]record{}}
	s.udp = &dns.Server{PacketConn: pc, Handler: s}
	s.tcp = &dns.Server{Listener: l, Handler: s}
	started := make(chan struct{}, 2)
	s.udp.NotifyStartedFunc = func() { started <- struct{}{} }
	s.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go s.udp.ActivateAndServe()
	go s.tcp.ActivateAndServe()
	<-started
	<-started
	t.Cleanup(func() {
		s.udp.Shutdown()
		s.tcp.Shutdown()
	})
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Set makes name answer addrs (IPv4 as A, IPv6 as AAAA) with ttl seconds.
func (s *Server) Set(name string, ttl uint32, addrs ...string) {
	r := record{ttl: ttl, rcode: dns.RcodeSuccess}
	for _, a := range addrs {
		r.addrs = append(r.addrs, netip.MustParseAddr(a))
	}
	s.mu.Lock()
	s.records[dns.Fqdn(strings.ToLower(name))] = r
	s.mu.Unlock()
}

// Fail makes name answer SERVFAIL.
func (s *Server) Fail(name string) {
	s.mu.Lock()
	s.records[dns.Fqdn(strings.ToLower(name))] = record{rcode: dns.RcodeServerFailure}
	s.mu.Unlock()
}

// Queries is how many questions the server has been asked.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// ServeDNS implements dns.Handler. A name never set answers NXDOMAIN.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	s.mu.Lock()
	s.queries++
	for _, q := range req.Question {
		rec, ok := s.records[strings.ToLower(q.Name)]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case rec.rcode != dns.RcodeSuccess:
			m.Rcode = rec.rcode
		}
		for _, a := range rec.addrs {
			hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: rec.ttl}
			switch {
			case a.Is4() && q.Qtype == dns.TypeA:
				hdr.Rrtype = dns.TypeA
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
			case a.Is6() && q.Qtype == dns.TypeAAAA:
				hdr.Rrtype = dns.TypeAAAA
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
			}
		}
	}
	s.mu.Unlock()
	w.WriteMsg(m)
}
