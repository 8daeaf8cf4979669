package xds

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"sync"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// ErrFetchUnsupported is returned for REST (fetch) xDS requests: Sluice
// serves streaming xDS only.
var ErrFetchUnsupported = errors.New("xds: REST fetch is not supported, use a gRPC stream")

// The resource types Sluice serves, in the order a client needs them.
var servedTypes = [...]string{
	"type.googleapis.com/envoy.config.listener.v3.Listener",
	"type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
	"type.googleapis.com/envoy.config.cluster.v3.Cluster",
	"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
}

// entry is one resource, marshalled once for every stream that receives it.
type entry struct {
	// hash is the content hash; it is the per-resource version the cache
	// hands to the server's subscription bookkeeping, so "has this stream
	// got this content?" is a string comparison.
	hash string
	any  *anypb.Any
}

// typeSnapshot is one resource type of one group's snapshot.
type typeSnapshot struct {
	url     string
	entries map[string]*entry
	names   []string // sorted
	// fullState: LDS and CDS responses must carry every subscribed resource.
	fullState bool
	// answers and deltaAnswers are the answers Sluice's own stream
	// handlers built from this type snapshot, shared by every stream.
	answers      answers
	deltaAnswers deltaAnswers
}

// groupSnapshot is what every proxy of one group receives.
type groupSnapshot struct {
	index   uint64 // Raft index of the state it was built from
	version string // strconv(index): the version_info every node sends for this state
	types   map[string]*typeSnapshot
	// byIndex holds the same type snapshots by position in servedTypes,
	// so watches find theirs without hashing a type URL.
	byIndex [len(servedTypes)]*typeSnapshot
}

// servedIndex is the position of a type URL in servedTypes, or -1.
func servedIndex(url string) int {
	for i, u := range servedTypes {
		if u == url {
			return i
		}
	}
	return -1
}

// typeAt returns the type snapshot at position i of servedTypes, or nil.
func (snap *groupSnapshot) typeAt(i int) *typeSnapshot {
	if i < 0 {
		return nil
	}
	return snap.byIndex[i]
}

func newGroupSnapshot(index uint64, res *Resources) (*groupSnapshot, error) {
	snap := &groupSnapshot{index: index, version: strconv.FormatUint(index, 10), types: map[string]*typeSnapshot{}}
	lists := [...][]types.Resource{res.Listeners, res.Routes, res.Clusters, res.Endpoints}
	for i, url := range servedTypes {
		ts := &typeSnapshot{url: url, entries: make(map[string]*entry, len(lists[i])), fullState: cachev3.ResourceRequiresFullStateInSotw(url)}
		for _, r := range lists[i] {
			name := cachev3.GetResourceName(r)
			b, err := cachev3.MarshalResource(r)
			if err != nil {
				return nil, fmt.Errorf("marshal %s %q: %w", url, name, err)
			}
			if _, dup := ts.entries[name]; dup {
				return nil, fmt.Errorf("%w: duplicate %s %q", ErrInvalidResource, url, name)
			}
			ts.entries[name] = &entry{hash: cachev3.HashResource(b), any: &anypb.Any{TypeUrl: url, Value: b}}
			ts.names = append(ts.names, name)
		}
		sort.Strings(ts.names)
		snap.types[url] = ts
		snap.byIndex[i] = ts
	}
	return snap, nil
}

// change computes what a subscription lacks: resources whose content it
// does not have, and resources it knows that are gone or unsubscribed.
// Both lists are sorted; nothing is allocated when nothing changed.
func (ts *typeSnapshot) change(sub cachev3.Subscription) (changed, removed []string) {
	known := sub.ReturnedResources()
	if sub.IsWildcard() {
		for _, name := range ts.names {
			if v, ok := known[name]; !ok || v != ts.entries[name].hash {
				changed = append(changed, name)
			}
		}
		for name := range known {
			if _, ok := ts.entries[name]; !ok {
				removed = append(removed, name)
			}
		}
		sort.Strings(removed)
		return changed, removed
	}
	subscribed := sub.SubscribedResources()
	for name := range subscribed {
		e, exists := ts.entries[name]
		v, isKnown := known[name]
		switch {
		case !exists && isKnown:
			removed = append(removed, name)
		case exists && (!isKnown || v != e.hash):
			changed = append(changed, name)
		}
	}
	for name := range known {
		if _, ok := subscribed[name]; !ok {
			removed = append(removed, name)
		}
	}
	sort.Strings(changed)
	sort.Strings(removed)
	return changed, removed
}

// sotwResponse builds the state-of-the-world answer to a watch, or nil when
// the subscriber already has everything (and force is false).
func (ts *typeSnapshot) sotwResponse(w *sotwWatch, version string, force bool) *response {
	changed, removed := ts.change(w.sub)
	if len(changed) == 0 && len(removed) == 0 && !force {
		return nil
	}
	var names []string
	switch {
	case !ts.fullState:
		// RDS and EDS: only what changed; absence is not deletion.
		if len(changed) == 0 && !force {
			return nil
		}
		names = changed
	case w.sub.IsWildcard():
		names = ts.names
	default:
		// LDS and CDS: every subscribed resource that exists, in name
		// order; walk whichever of the two sets is smaller.
		subscribed := w.sub.SubscribedResources()
		if len(subscribed) < len(ts.names) {
			for name := range subscribed {
				if _, ok := ts.entries[name]; ok {
					names = append(names, name)
				}
			}
			sort.Strings(names)
		} else {
			for _, name := range ts.names {
				if _, ok := subscribed[name]; ok {
					names = append(names, name)
				}
			}
		}
	}
	returned := maps.Clone(w.sub.ReturnedResources())
	if returned == nil {
		returned = make(map[string]string, len(names))
	}
	anys := make([]*anypb.Any, 0, len(names))
	for _, name := range names {
		e := ts.entries[name]
		anys = append(anys, e.any)
		returned[name] = e.hash
	}
	for _, name := range removed {
		delete(returned, name)
	}
	return &response{
		req:      w.req,
		resp:     &discovery.DiscoveryResponse{VersionInfo: version, Resources: anys, TypeUrl: ts.url},
		returned: returned,
	}
}

// deltaResponse builds the incremental answer to a delta watch, or nil.
func (ts *typeSnapshot) deltaResponse(w *deltaWatch, version string) *deltaResponse {
	out, returned := ts.deltaDiff(w.sub, version)
	if out == nil {
		return nil
	}
	return &deltaResponse{req: w.req, resp: out, returned: returned}
}

// deltaDiff builds the delta response that brings sub up to date with ts
// (nil when it lacks nothing) and the resource versions sub holds after
// it; sub's own map is left alone.
func (ts *typeSnapshot) deltaDiff(sub cachev3.Subscription, version string) (*discovery.DeltaDiscoveryResponse, map[string]string) {
	changed, removed := ts.change(sub)
	if len(changed) == 0 && len(removed) == 0 {
		return nil, nil
	}
	returned := maps.Clone(sub.ReturnedResources())
	if returned == nil {
		returned = make(map[string]string, len(changed))
	}
	out := &discovery.DeltaDiscoveryResponse{SystemVersionInfo: version, TypeUrl: ts.url, RemovedResources: removed}
	for _, name := range changed {
		e := ts.entries[name]
		out.Resources = append(out.Resources, &discovery.Resource{Name: name, Version: e.hash, Resource: e.any})
		returned[name] = e.hash
	}
	for _, name := range removed {
		delete(returned, name)
	}
	return out, returned
}

// A watch is registered only while its subscriber lacks nothing; seen is
// the type snapshot it was last found up to date with. The server never
// changes a subscription while its watch is open, so a watch whose seen is
// the type snapshot being published still lacks nothing: SetGroup skips it
// without comparing (see sameContent).
type sotwWatch struct {
	req    *cachev3.Request
	sub    cachev3.Subscription
	ch     chan cachev3.Response
	stream int64
	typ    int // position in servedTypes, -1 for a type not served
	seen   *typeSnapshot
}

type deltaWatch struct {
	req    *cachev3.DeltaRequest
	sub    cachev3.Subscription
	ch     chan cachev3.DeltaResponse
	stream int64
	typ    int // position in servedTypes, -1 for a type not served
	seen   *typeSnapshot
}

type group struct {
	snap         *groupSnapshot
	watches      map[uint64]*sotwWatch
	deltaWatches map[uint64]*deltaWatch
}

// StreamObserver learns, for ACK tracking, when the cache found a stream's
// type to be up to date with a snapshot without sending anything.
type StreamObserver interface {
	Current(stream int64, typeURL string, index uint64)
}

// BatchObserver is a StreamObserver that takes many streams at once; when
// the observer implements it, publishing a snapshot to N watches makes one
// call per type instead of N.
type BatchObserver interface {
	StreamObserver
	CurrentAll(streams []int64, typeURL string, index uint64)
}

// Cache serves one snapshot per proxy group to every stream of the group.
// It implements go-control-plane's cache.Cache for state-of-the-world and
// delta streams. Unlike the stock SnapshotCache it
//   - marshals each resource once per snapshot, for all streams;
//   - compares content, not version strings, so a stream only receives
//     types whose content changed for it, a NACKed snapshot is not resent
//     in a loop, and a subscriber asking for a subset (gRPC clients ask for
//     their own listener and the clusters they use) is answered at once;
//   - uses the Raft index of the state as version_info, so every node sends
//     the same version for the same state;
//   - forgets a group when its last stream closes (Forget).
type Cache struct {
	hash     func(*core.Node) string
	observer StreamObserver

	// streamOf hands the stream id from the request callback to
	// CreateWatch, which go-control-plane calls next with the same request.
	streamOf sync.Map // *discovery.DiscoveryRequest or *discovery.DeltaDiscoveryRequest -> int64

	mu     sync.Mutex
	groups map[string]*group
	nextID uint64
	onSet  func(key string, snap *groupSnapshot)
}

var _ cachev3.Cache = (*Cache)(nil)

// NewCache returns an empty cache; hash maps an xDS node to its group key.
func NewCache(hash func(*core.Node) string, observer StreamObserver) *Cache {
	return &Cache{hash: hash, observer: observer, groups: map[string]*group{}}
}

// NoteStream records which stream a request arrived on; call it from the
// server's request callbacks.
func (c *Cache) NoteStream(req any, stream int64) { c.streamOf.Store(req, stream) }

func (c *Cache) takeStream(req any) int64 {
	if v, ok := c.streamOf.LoadAndDelete(req); ok {
		return v.(int64)
	}
	return 0
}

func (c *Cache) groupLocked(key string) *group {
	g, ok := c.groups[key]
	if !ok {
		g = &group{watches: map[uint64]*sotwWatch{}, deltaWatches: map[uint64]*deltaWatch{}}
		c.groups[key] = g
	}
	return g
}

// SetGroup publishes a snapshot built from state index for a group and
// answers every open watch whose subscription lacks some of its content.
// A snapshot older than the one the group holds is ignored, so concurrent
// builders can never move a group back in time. It reports whether the
// snapshot was taken.
//
// Types whose content did not change keep the previous snapshot's
// typeSnapshot, so their watches are found up to date without comparing;
// watches that stay open are reported to the observer in one batch per
// type.
func (c *Cache) SetGroup(key string, index uint64, res *Resources) (bool, error) {
	snap, err := newGroupSnapshot(index, res)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groupLocked(key)
	if g.snap != nil && g.snap.index > index {
		return false, nil
	}
	if g.snap != nil {
		snap.reuse(g.snap)
	}
	g.snap = snap
	if c.onSet != nil {
		c.onSet(key, snap)
	}
	var current map[*typeSnapshot][]int64
	if c.observer != nil {
		current = make(map[*typeSnapshot][]int64, len(snap.types))
	}
	for id, w := range g.watches {
		ts := snap.typeAt(w.typ)
		if ts == nil {
			continue
		}
		if w.seen != ts {
			if r := ts.sotwResponse(w, snap.version, false); r != nil {
				w.ch <- r
				delete(g.watches, id)
				continue
			}
			w.seen = ts
		}
		if current != nil {
			current[ts] = append(current[ts], w.stream)
		}
	}
	for id, w := range g.deltaWatches {
		ts := snap.typeAt(w.typ)
		if ts == nil {
			continue
		}
		if w.seen != ts {
			if r := ts.deltaResponse(w, snap.version); r != nil {
				w.ch <- r
				delete(g.deltaWatches, id)
				continue
			}
			w.seen = ts
		}
		if current != nil {
			current[ts] = append(current[ts], w.stream)
		}
	}
	c.observe(current, index)
	return true, nil
}

// observe tells the observer which streams hold each type at index.
func (c *Cache) observe(current map[*typeSnapshot][]int64, index uint64) {
	if c.observer == nil {
		return
	}
	b, batch := c.observer.(BatchObserver)
	for ts, streams := range current {
		if batch {
			b.CurrentAll(streams, ts.url, index)
			continue
		}
		for _, stream := range streams {
			c.observer.Current(stream, ts.url, index)
		}
	}
}

// reuse makes snap share prev's type snapshots wherever the content is the
// same, so that watches found up to date with prev's are known to be up to
// date with snap's.
func (snap *groupSnapshot) reuse(prev *groupSnapshot) {
	for i, ts := range snap.byIndex {
		if old := prev.byIndex[i]; old != nil && sameContent(old, ts) {
			snap.byIndex[i] = old
			snap.types[ts.url] = old
		}
	}
}

// sameContent reports whether two type snapshots hold the same resources
// with the same content hashes.
func sameContent(a, b *typeSnapshot) bool {
	if a.url != b.url || len(a.names) != len(b.names) {
		return false
	}
	for i, name := range a.names {
		if b.names[i] != name || a.entries[name].hash != b.entries[name].hash {
			return false
		}
	}
	return true
}

// current returns a group's snapshot, nil if it has none.
func (c *Cache) current(key string) *groupSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g, ok := c.groups[key]; ok {
		return g.snap
	}
	return nil
}

// notifyOnSet sets a function called whenever a group takes a snapshot, with
// the cache's lock held (so in the order the snapshots were taken); it
// must not block or call into the cache. Set it before use.
func (c *Cache) notifyOnSet(fn func(key string, snap *groupSnapshot)) { c.onSet = fn }

// Index returns the state index of a group's snapshot, or false.
func (c *Cache) Index(key string) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.groups[key]
	if !ok || g.snap == nil {
		return 0, false
	}
	return g.snap.index, true
}

// indexes returns the snapshot index of every group holding a snapshot.
func (c *Cache) indexes() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.groups))
	for k, g := range c.groups {
		if g.snap != nil {
			out[k] = g.snap.index
		}
	}
	return out
}

// Groups returns the keys of groups holding a snapshot, sorted.
func (c *Cache) Groups() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.groups))
	for k, g := range c.groups {
		if g.snap != nil {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// Forget drops a group's snapshot and watches (its last stream closed).
func (c *Cache) Forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.groups, key)
}

// CreateWatch implements cache.ConfigWatcher for state-of-the-world streams.
func (c *Cache) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, ch chan cachev3.Response) (func(), error) {
	key := c.hash(req.GetNode())
	w := &sotwWatch{req: req, sub: sub, ch: ch, stream: c.takeStream(req), typ: servedIndex(req.GetTypeUrl())}
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groupLocked(key)
	if g.snap != nil {
		if ts := g.snap.typeAt(w.typ); ts != nil {
			// A first request (no version, not answering a response) is
			// always answered, even if empty: it tells the client what
			// does not exist. A NACK of a first response also has no
			// version, but must not bring the rejected content back.
			first := req.GetVersionInfo() == "" && req.GetResponseNonce() == ""
			if r := ts.sotwResponse(w, g.snap.version, first); r != nil {
				ch <- r
				return func() {}, nil
			}
			if c.observer != nil {
				c.observer.Current(w.stream, ts.url, g.snap.index)
			}
		}
	}
	c.nextID++
	id := c.nextID
	g.watches[id] = w
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if g, ok := c.groups[key]; ok {
			delete(g.watches, id)
		}
	}, nil
}

// CreateDeltaWatch implements cache.ConfigWatcher for delta streams.
func (c *Cache) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, ch chan cachev3.DeltaResponse) (func(), error) {
	key := c.hash(req.GetNode())
	w := &deltaWatch{req: req, sub: sub, ch: ch, stream: c.takeStream(req), typ: servedIndex(req.GetTypeUrl())}
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groupLocked(key)
	if g.snap != nil {
		if ts := g.snap.typeAt(w.typ); ts != nil {
			if r := ts.deltaResponse(w, g.snap.version); r != nil {
				ch <- r
				return func() {}, nil
			}
			w.seen = ts
			if c.observer != nil {
				c.observer.Current(w.stream, ts.url, g.snap.index)
			}
		}
	}
	c.nextID++
	id := c.nextID
	g.deltaWatches[id] = w
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if g, ok := c.groups[key]; ok {
			delete(g.deltaWatches, id)
		}
	}, nil
}

// Fetch implements cache.ConfigFetcher; REST xDS is not served.
func (c *Cache) Fetch(context.Context, *cachev3.Request) (cachev3.Response, error) {
	return nil, ErrFetchUnsupported
}

// response is a prepared state-of-the-world response. The resources are
// shared between all streams; the DiscoveryResponse itself is per stream
// because the server stamps a nonce into it.
type response struct {
	req      *discovery.DiscoveryRequest
	resp     *discovery.DiscoveryResponse
	returned map[string]string
}

func (r *response) GetDiscoveryResponse() (*discovery.DiscoveryResponse, error) { return r.resp, nil }
func (r *response) GetRequest() *discovery.DiscoveryRequest                     { return r.req }
func (r *response) GetVersion() (string, error)                                 { return r.resp.VersionInfo, nil }
func (r *response) GetResponseVersion() string                                  { return r.resp.VersionInfo }
func (r *response) GetReturnedResources() map[string]string                     { return r.returned }
func (r *response) GetContext() context.Context                                 { return context.Background() }

type deltaResponse struct {
	req      *discovery.DeltaDiscoveryRequest
	resp     *discovery.DeltaDiscoveryResponse
	returned map[string]string
}

func (r *deltaResponse) GetDeltaDiscoveryResponse() (*discovery.DeltaDiscoveryResponse, error) {
	return r.resp, nil
}
func (r *deltaResponse) GetDeltaRequest() *discovery.DeltaDiscoveryRequest { return r.req }
func (r *deltaResponse) GetSystemVersion() (string, error)                 { return r.resp.SystemVersionInfo, nil }
func (r *deltaResponse) GetResponseVersion() string                        { return r.resp.SystemVersionInfo }
func (r *deltaResponse) GetNextVersionMap() map[string]string              { return r.returned }
func (r *deltaResponse) GetReturnedResources() map[string]string           { return r.returned }
func (r *deltaResponse) GetContext() context.Context                       { return context.Background() }

// Dump returns every resource a group is served, by type URL, in name
// order, with the state index they were built from.
func (c *Cache) Dump(key string) (uint64, map[string][]*anypb.Any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.groups[key]
	if !ok || g.snap == nil {
		return 0, nil, false
	}
	out := map[string][]*anypb.Any{}
	for url, ts := range g.snap.types {
		for _, name := range ts.names {
			out[url] = append(out[url], ts.entries[name].any)
		}
	}
	return g.snap.index, out, true
}
