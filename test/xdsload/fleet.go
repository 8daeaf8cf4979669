package xdsload

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The fan-out benchmark's configuration: one proxy group, one benchmark
// service among others, its weights alternating between two splits.
const (
	// BenchService is the gRPC service whose weights every round changes;
	// it is also the target every stream dials.
	BenchService = "bench"
	// GroupCluster, GroupRegion and GroupZone place every benchmark stream
	// in one proxy group.
	GroupCluster = "bench"
	GroupRegion  = "eu-west"
	GroupZone    = "eu-west-1"
)

// Splits are the two weight splits (v1, v2) the rounds alternate between;
// the fleet starts at Splits[0].
var Splits = [2][2]uint32{{90, 10}, {10, 90}}

// SplitWeights is the route content a stream holds at split i.
func SplitWeights(i int) Weights {
	return Weights{BenchService + "/v1": Splits[i][0], BenchService + "/v2": Splits[i][1]}
}

// FleetOptions are the client options of an n-stream benchmark fleet; the
// address is filled in when the fleet opens.
func FleetOptions(n, perConn int) Options {
	return Options{
		Streams:        n,
		StreamsPerConn: perConn,
		Target:         BenchService,
		NodePrefix:     "bench",
		Cluster:        GroupCluster,
		Region:         GroupRegion,
		Zone:           GroupZone,
	}
}

// Fleet is the set of streams one path of a fan-out run drives. LocalFleet
// runs them in this process; cmd/sluice-bench runs them in a child process
// so that the server's memory is measured alone.
type Fleet interface {
	// Open connects every stream to addr and returns once each has ACKed
	// all four resource types and holds a route with want.
	Open(ctx context.Context, addr string, want Weights) error
	// Await is Client.Await over the fleet's streams.
	Await(ctx context.Context, since time.Time, minVersion uint64, want Weights) ([]time.Time, error)
	// Close closes every stream.
	Close() error
}

// LocalFleet is a Fleet in this process.
type LocalFleet struct {
	opts Options
	c    *Client
}

// NewLocalFleet returns a fleet that dials with opts once opened.
func NewLocalFleet(opts Options) *LocalFleet { return &LocalFleet{opts: opts} }

// Open implements Fleet.
func (f *LocalFleet) Open(ctx context.Context, addr string, want Weights) error {
	if f.c != nil {
		return fmt.Errorf("%w: fleet already open", ErrBadOptions)
	}
	o := f.opts
	o.Addr = addr
	c, err := Dial(o)
	if err != nil {
		return err
	}
	f.c = c
	return c.WaitSynced(ctx, want)
}

// Await implements Fleet.
func (f *LocalFleet) Await(ctx context.Context, since time.Time, minVersion uint64, want Weights) ([]time.Time, error) {
	if f.c == nil {
		return nil, fmt.Errorf("%w: fleet not open", ErrBadOptions)
	}
	return f.c.Await(ctx, since, minVersion, want)
}

// Close implements Fleet.
func (f *LocalFleet) Close() error {
	if f.c == nil {
		return nil
	}
	err := f.c.Close()
	f.c = nil
	return err
}

// Client returns the open client, or nil.
func (f *LocalFleet) Client() *Client { return f.c }

// FleetYAML is the configuration a run applies first: services gRPC
// services of two versions (the benchmark service at Splits[0], the others
// at 90/10), three endpoints per version over two localities.
func FleetYAML(services int) []byte {
	var b strings.Builder
	writeService(&b, 0, BenchService, Splits[0])
	for i := 1; i < services; i++ {
		b.WriteString("---\n")
		writeService(&b, i, fmt.Sprintf("svc-%03d", i), [2]uint32{90, 10})
	}
	return []byte(b.String())
}

// BenchServiceYAML is the benchmark service at split i: what a round
// applies.
func BenchServiceYAML(i int) []byte {
	var b strings.Builder
	writeService(&b, 0, BenchService, Splits[i])
	return []byte(b.String())
}

func writeService(b *strings.Builder, idx int, name string, w [2]uint32) {
	fmt.Fprintf(b, "apiVersion: sluice.dev/v1alpha1\nkind: Service\nmetadata:\n  name: %s\nspec:\n  protocol: grpc\n  domains: [%s.internal]\n  versions:\n", name, name)
	for v := range 2 {
		fmt.Fprintf(b, "    - name: v%d\n      weight: %d\n      endpoints:\n", v+1, w[v])
		for e := range 3 {
			region := [2]string{"eu-west", "us-east"}[e%2]
			fmt.Fprintf(b, "        - {address: \"10.%d.%d.%d:8080\", region: %s, zone: %s-1}\n",
				idx/250, idx%250, v*10+e+1, region, region)
		}
	}
}
