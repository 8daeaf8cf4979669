// Package xdsload is a load client for Sluice's xDS server and the fan-out
// benchmark built on it.
//
// The client opens many ADS streams, state of the world or delta
// (Options.Delta), multiplexed over a few gRPC connections. Each stream
// subscribes the way grpc-go's xDS client does for a dial target (LDS for
// the target, RDS for the route its api_listener names, CDS and EDS for the
// clusters that route uses), ACKs every response, and records when it ACKed
// a RouteConfiguration, with the version and the weights the route really
// carries. On delta the version is the response's system_version_info:
// Sluice sends its Raft index there (per-resource versions are content
// hashes), go-control-plane's SnapshotCache the snapshot's version of the
// type. Await then tells, per stream, when it first held given weights at a
// given version or newer.
package xdsload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

// ErrStreamFailed is returned by Await and WaitSynced when a stream ended or
// received configuration it could not use.
var ErrStreamFailed = errors.New("xdsload: stream failed")

// ErrBadOptions is returned by Dial for unusable Options.
var ErrBadOptions = errors.New("xdsload: invalid options")

// Options configure a Client.
type Options struct {
	// Addr is the xDS server, host:port.
	Addr string
	// Streams is the number of ADS streams.
	Streams int
	// StreamsPerConn is how many streams share one gRPC connection
	// (default 100).
	StreamsPerConn int
	// Target is the dial target every stream resolves: the Listener name
	// it subscribes to.
	Target string
	// NodePrefix prefixes node ids; stream i is "<NodePrefix>-<i>".
	NodePrefix string
	// Cluster, Region and Zone place every stream's node in one proxy
	// group, so that all streams share one snapshot.
	Cluster, Region, Zone string
	// Delta opens DeltaAggregatedResources streams instead of
	// StreamAggregatedResources ones.
	Delta bool
}

// Weights maps cluster names to the weight a route gives them.
type Weights map[string]uint32

// key is a canonical string for the weights: names sorted.
func (w Weights) key() string {
	names := make([]string, 0, len(w))
	for n := range w {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(strconv.FormatUint(uint64(w[n]), 10))
	}
	return b.String()
}

// Type indexes, in subscription order.
const (
	tLDS = iota
	tRDS
	tCDS
	tEDS
	nTypes
)

var typeURLs = [nTypes]string{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType}

func typeIndex(url string) int {
	for i, u := range typeURLs {
		if u == url {
			return i
		}
	}
	return -1
}

// routeState is what a stream held after its latest RDS ACK.
type routeState struct {
	version uint64
	key     string
	at      int64 // ns since Client.base, when the ACK was sent
}

// typeState is one resource type of one stream.
type typeState struct {
	names   []string
	version string
	nonce   string
	acked   bool
}

type stream struct {
	id    int
	node  *core.Node
	types [nTypes]typeState
	// listenerBytes and routeBytes are the last resources decoded, so an
	// unchanged resource sent again is recognised without decoding it.
	listenerBytes []byte
	routeBytes    []byte
	routeKey      string
	ready         bool
	cur           atomic.Pointer[routeState]
}

// round is one Await in progress.
type round struct {
	minVersion uint64
	key        string
	since      int64
	at         []atomic.Int64 // 0: not yet; else ns since base + 1
	left       atomic.Int64
	done       chan struct{}
}

func (r *round) offer(i int, rs *routeState) {
	if rs == nil || rs.version < r.minVersion || rs.key != r.key || rs.at < r.since {
		return
	}
	if r.at[i].CompareAndSwap(0, rs.at+1) && r.left.Add(-1) == 0 {
		close(r.done)
	}
}

// Client is a set of ACKing ADS streams.
type Client struct {
	opts    Options
	base    time.Time
	conns   []*grpc.ClientConn
	streams []*stream
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	ready   atomic.Int64
	readyCh chan struct{}
	round   atomic.Pointer[round]
	// responses counts responses received, by type.
	responses [nTypes]atomic.Int64

	failOnce sync.Once
	failed   chan struct{}
	err      error
	closing  atomic.Bool
}

// Dial opens the connections and starts every stream; it does not wait for
// configuration (see WaitSynced).
func Dial(opts Options) (*Client, error) {
	if opts.StreamsPerConn <= 0 {
		opts.StreamsPerConn = 100
	}
	if opts.NodePrefix == "" {
		opts.NodePrefix = "xdsload"
	}
	if opts.Addr == "" || opts.Target == "" || opts.Streams <= 0 {
		return nil, fmt.Errorf("%w: need Addr, Target and Streams > 0 (got %q, %q, %d)", ErrBadOptions, opts.Addr, opts.Target, opts.Streams)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{opts: opts, base: time.Now(), cancel: cancel, readyCh: make(chan struct{}), failed: make(chan struct{})}
	nConns := (opts.Streams + opts.StreamsPerConn - 1) / opts.StreamsPerConn
	for range nConns {
		conn, err := grpc.NewClient(opts.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("xdsload: dial %s: %w", opts.Addr, err)
		}
		conn.Connect()
		c.conns = append(c.conns, conn)
	}
	c.streams = make([]*stream, opts.Streams)
	for i := range c.streams {
		c.streams[i] = &stream{id: i, node: &core.Node{
			Id:            opts.NodePrefix + "-" + strconv.Itoa(i),
			Cluster:       opts.Cluster,
			Locality:      &core.Locality{Region: opts.Region, Zone: opts.Zone},
			UserAgentName: "sluice-xdsload",
		}}
	}
	for i, st := range c.streams {
		conn := c.conns[i/opts.StreamsPerConn]
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if err := c.run(ctx, conn, st); err != nil && !c.closing.Load() {
				c.fail(fmt.Errorf("%w: stream %d (node %s): %w", ErrStreamFailed, st.id, st.node.GetId(), err))
			}
		}()
	}
	return c, nil
}

// Streams returns the number of streams.
func (c *Client) Streams() int { return len(c.streams) }

// Responses returns how many responses of each type (LDS, RDS, CDS, EDS)
// the streams received so far.
func (c *Client) Responses() [4]int64 {
	var out [4]int64
	for i := range out {
		out[i] = c.responses[i].Load()
	}
	return out
}

func (c *Client) fail(err error) {
	c.failOnce.Do(func() {
		c.err = err
		close(c.failed)
	})
}

// Err returns the first stream failure, or nil.
func (c *Client) Err() error {
	select {
	case <-c.failed:
		return c.err
	default:
		return nil
	}
}

// Close ends every stream and connection.
func (c *Client) Close() error {
	c.closing.Store(true)
	c.cancel()
	var errs []error
	for _, conn := range c.conns {
		if err := conn.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	c.wg.Wait()
	return errors.Join(errs...)
}

// WaitSynced waits until every stream has ACKed all four types and holds a
// route with want.
func (c *Client) WaitSynced(ctx context.Context, want Weights) error {
	select {
	case <-c.readyCh:
	case <-c.failed:
		return c.err
	case <-ctx.Done():
		return fmt.Errorf("xdsload: %d of %d streams have configuration: %w", c.ready.Load(), len(c.streams), ctx.Err())
	}
	_, err := c.Await(ctx, time.Time{}, 0, want)
	return err
}

// Await returns, for every stream, when it sent the ACK of a route
// configuration with version_info (on delta: system_version_info) >=
// minVersion whose weighted clusters
// are exactly want, at or after since. A stream that already holds such a
// route counts with the time it ACKed it. Only one Await may run at a time.
func (c *Client) Await(ctx context.Context, since time.Time, minVersion uint64, want Weights) ([]time.Time, error) {
	r := &round{minVersion: minVersion, key: want.key(), at: make([]atomic.Int64, len(c.streams)), done: make(chan struct{})}
	if !since.IsZero() {
		r.since = since.Sub(c.base).Nanoseconds()
	} else {
		r.since = -1 << 62
	}
	r.left.Store(int64(len(c.streams)))
	if !c.round.CompareAndSwap(nil, r) {
		return nil, fmt.Errorf("%w: another Await is running", ErrBadOptions)
	}
	defer c.round.Store(nil)
	for i, st := range c.streams {
		r.offer(i, st.cur.Load())
	}
	select {
	case <-r.done:
	case <-c.failed:
		return nil, c.err
	case <-ctx.Done():
		return nil, fmt.Errorf("xdsload: %d of %d streams hold %s at version >= %d: %w",
			int64(len(c.streams))-r.left.Load(), len(c.streams), r.key, minVersion, ctx.Err())
	}
	out := make([]time.Time, len(c.streams))
	for i := range out {
		out[i] = c.base.Add(time.Duration(r.at[i].Load() - 1))
	}
	return out, nil
}

// run drives one stream until it ends.
func (c *Client) run(ctx context.Context, conn *grpc.ClientConn, st *stream) error {
	var tr transport
	var err error
	if c.opts.Delta {
		tr, err = openDelta(ctx, conn, st)
	} else {
		tr, err = openSotw(ctx, conn, st)
	}
	if err != nil {
		return err
	}
	return c.follow(tr, st)
}

// follow subscribes st to the target, then reads, ACKs and records every
// response on tr until the stream ends or st cannot use one.
func (c *Client) follow(tr transport, st *stream) error {
	if err := tr.request(tLDS, []string{c.opts.Target}, st.node); err != nil {
		return fmt.Errorf("send LDS request: %w", err)
	}
	for {
		r, err := tr.recv()
		if err != nil {
			return err
		}
		t := r.typ
		c.responses[t].Add(1)
		var next []string // new names for the dependent type(s)
		var decodeErr error
		switch t {
		case tLDS:
			next, decodeErr = st.listener(c.opts.Target, r)
		case tRDS:
			next, decodeErr = st.route(c.opts.Target, r)
		}
		if decodeErr != nil {
			// NACK, as a real client would, and stop: the benchmark
			// cannot go on with configuration it cannot read.
			_ = tr.nack(r, decodeErr)
			return fmt.Errorf("rejected %s version %s: %w", typeURLs[t], r.version, decodeErr)
		}
		if err := tr.ack(r); err != nil {
			return fmt.Errorf("send ACK: %w", err)
		}
		st.types[t].acked = true
		if t == tRDS {
			c.recordRoute(st, r.version)
		}
		if next != nil {
			deps := []int{tRDS}
			if t == tRDS {
				deps = []int{tCDS, tEDS}
			}
			for _, d := range deps {
				if slices.Equal(st.types[d].names, next) {
					continue
				}
				if err := tr.request(d, next, nil); err != nil {
					return fmt.Errorf("send %s request: %w", typeURLs[d], err)
				}
			}
		}
		if !st.ready && st.types[tLDS].acked && st.types[tRDS].acked && st.types[tCDS].acked && st.types[tEDS].acked {
			st.ready = true
			if c.ready.Add(1) == int64(len(c.streams)) {
				close(c.readyCh)
			}
		}
	}
}

func (c *Client) recordRoute(st *stream, version string) {
	v, _ := strconv.ParseUint(version, 10, 64)
	prev := st.cur.Load()
	if prev != nil && prev.version == v && prev.key == st.routeKey {
		return // the same again: the stream has held it since then
	}
	rs := &routeState{version: v, key: st.routeKey, at: time.Since(c.base).Nanoseconds()}
	st.cur.Store(rs)
	if r := c.round.Load(); r != nil {
		r.offer(st.id, rs)
	}
}

// listener reads the target's Listener and returns the route name its
// api_listener uses, or nil when it is unchanged.
func (st *stream) listener(target string, r *reply) ([]string, error) {
	if slices.Contains(r.removed, target) {
		return nil, fmt.Errorf("listener %q removed", target)
	}
	for _, a := range r.resources {
		if st.listenerBytes != nil && bytes.Equal(a.GetValue(), st.listenerBytes) {
			return nil, nil
		}
		var l listenerv3.Listener
		if err := proto.Unmarshal(a.GetValue(), &l); err != nil {
			return nil, fmt.Errorf("decode Listener: %w", err)
		}
		if l.GetName() != target {
			continue
		}
		var hcm hcmv3.HttpConnectionManager
		if err := l.GetApiListener().GetApiListener().UnmarshalTo(&hcm); err != nil {
			return nil, fmt.Errorf("listener %q: decode api_listener: %w", target, err)
		}
		rds := hcm.GetRds().GetRouteConfigName()
		if rds == "" {
			return nil, fmt.Errorf("listener %q: api_listener does not use RDS", target)
		}
		st.listenerBytes = a.GetValue()
		return []string{rds}, nil
	}
	return nil, fmt.Errorf("listener %q missing from the response", target)
}

// route reads the subscribed RouteConfiguration: the weighted clusters of
// the last route of the virtual host matching target. It returns the
// cluster names when the route was decoded (nil when unchanged).
func (st *stream) route(target string, r *reply) ([]string, error) {
	want := st.types[tRDS].names
	if len(want) > 0 && slices.Contains(r.removed, want[0]) {
		return nil, fmt.Errorf("route %q removed", want[0])
	}
	for _, a := range r.resources {
		if st.routeBytes != nil && bytes.Equal(a.GetValue(), st.routeBytes) {
			return nil, nil
		}
		var rc routev3.RouteConfiguration
		if err := proto.Unmarshal(a.GetValue(), &rc); err != nil {
			return nil, fmt.Errorf("decode RouteConfiguration: %w", err)
		}
		if len(want) == 0 || rc.GetName() != want[0] {
			continue
		}
		w, err := routeWeights(&rc, target)
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(w))
		for n := range w {
			names = append(names, n)
		}
		slices.Sort(names)
		st.routeBytes, st.routeKey = a.GetValue(), w.key()
		return names, nil
	}
	// RDS answers carry only what changed; absence is not deletion.
	return nil, nil
}

// routeWeights returns the weights of the catch-all (last) route of the
// virtual host whose domains include target.
func routeWeights(rc *routev3.RouteConfiguration, target string) (Weights, error) {
	for _, vh := range rc.GetVirtualHosts() {
		if !slices.Contains(vh.GetDomains(), target) {
			continue
		}
		routes := vh.GetRoutes()
		if len(routes) == 0 {
			return nil, fmt.Errorf("route %q: virtual host %q has no routes", rc.GetName(), vh.GetName())
		}
		wc := routes[len(routes)-1].GetRoute().GetWeightedClusters()
		if wc == nil {
			return nil, fmt.Errorf("route %q: last route of %q has no weighted_clusters", rc.GetName(), vh.GetName())
		}
		w := Weights{}
		var sum uint64
		for _, cw := range wc.GetClusters() {
			w[cw.GetName()] = cw.GetWeight().GetValue()
			sum += uint64(cw.GetWeight().GetValue())
		}
		if sum == 0 {
			return nil, fmt.Errorf("route %q: weighted_clusters sum to 0", rc.GetName())
		}
		return w, nil
	}
	return nil, fmt.Errorf("route %q: no virtual host for %q", rc.GetName(), target)
}
