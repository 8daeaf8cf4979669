package discovery

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/discovery/dnstest"
	"github.com/sluicehq/sluice/state"
)

func lookup(t *testing.T, r *Resolver, name string) (Answer, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.Lookup(ctx, name)
}

func TestResolverAnswersWithTheShortestTTL(t *testing.T) {
	srv := dnstest.Start(t)
	srv.Set("greeter-v2.internal", 30, "10.0.0.2", "10.0.0.1", "2001:db8::1")
	r, err := NewResolver(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	ans, err := lookup(t, r, "Greeter-V2.internal")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("2001:db8::1")}
	if !slices.Equal(ans.Addrs, want) {
		t.Errorf("addrs = %v, want %v", ans.Addrs, want)
	}
	if ans.TTL != 30*time.Second {
		t.Errorf("ttl = %s, want 30s", ans.TTL)
	}
}

func TestResolverFailures(t *testing.T) {
	srv := dnstest.Start(t)
	srv.Set("empty.internal", 30)
	srv.Fail("broken.internal")
	r, err := NewResolver(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	for name, kind := range map[string]state.FailureKind{
		"missing.internal": state.FailureLookup, // NXDOMAIN
		"broken.internal":  state.FailureLookup, // SERVFAIL
		"empty.internal":   state.FailureEmpty,
	} {
		_, err := lookup(t, r, name)
		var le *LookupError
		if !errors.As(err, &le) || le.Kind != kind {
			t.Errorf("%s: err = %v, want a LookupError of kind %s", name, err, kind)
		}
	}
}

func TestResolverWithoutAServerFails(t *testing.T) {
	r := &Resolver{Servers: []string{"127.0.0.1:1"}, Timeout: 200 * time.Millisecond}
	_, err := lookup(t, r, "greeter.internal")
	var le *LookupError
	if !errors.As(err, &le) || le.Kind != state.FailureLookup {
		t.Fatalf("err = %v, want a lookup failure", err)
	}
}

func TestNextLookupFollowsTheTTLWithinBounds(t *testing.T) {
	b := config.ResolveBounds{Min: 5 * time.Second, Max: time.Minute}
	for ttl, want := range map[time.Duration]time.Duration{
		0:                5 * time.Second,
		30 * time.Second: 30 * time.Second,
		time.Hour:        time.Minute,
	} {
		if got := nextLookup(ttl, b); got != want {
			t.Errorf("nextLookup(%s) = %s, want %s", ttl, got, want)
		}
	}
}

func TestDNSSourceLooksAgainAfterTheTTL(t *testing.T) {
	srv := dnstest.Start(t)
	srv.Set("a.internal", 7, "10.0.0.1")
	r, _ := NewResolver(srv.Addr())
	src := &dnsSource{spec: &config.DNSDiscovery{Name: "a.internal", Port: 8080, Region: "eu", MinInterval: config.Duration(time.Second)}, resolver: r}
	got := src.look(context.Background())
	if got.failure != nil || got.again != 7*time.Second {
		t.Fatalf("look = %+v, want a set and again in 7s", got)
	}
	want := []state.ObservedEndpoint{{Address: "10.0.0.1:8080", Region: "eu", Health: state.Healthy}}
	if !slices.Equal(got.found, want) {
		t.Errorf("found = %v, want %v", got.found, want)
	}
	srv.Fail("a.internal")
	got = src.look(context.Background())
	if got.failure == nil || got.failure.Kind != state.FailureLookup || got.again != time.Second {
		t.Errorf("look after SERVFAIL = %+v, want a lookup failure and again after minInterval", got)
	}
}
