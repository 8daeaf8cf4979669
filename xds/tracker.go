package xds

import (
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// typeAck is what one stream has done with one resource type.
type typeAck struct {
	// pendingNonce is set while a response is on its way and not yet
	// answered; pendingIndex is the state index it carries.
	pendingNonce string
	// lastNonce is the nonce of the last response sent; a request naming
	// another one is stale and the state-of-the-world server skips it.
	lastNonce    string
	pendingIndex uint64
	// current is the newest state index the stream is known to hold for
	// this type: it ACKed a response built from it, or the cache found it
	// had nothing to send from that snapshot.
	current uint64
	// nacked is set while the stream's last answer for this type was a
	// NACK; nackIndex and nackMsg say what it rejected and why.
	nacked    bool
	nackIndex uint64
	nackMsg   string
	// heldAfter is the newest state index found to have the same content
	// for this type as the response in flight (a flush from a newer
	// snapshot found nothing new to send while it was pending): once that
	// response is ACKed, the stream holds heldAfter too.
	heldAfter uint64
}

// upToDate records that the stream holds, or has in flight, this type's
// content as of index: with a response in flight it will hold index once
// that is ACKed (even after an earlier NACK); with nothing in flight it
// holds index, unless it rejected its last response.
func (ta *typeAck) upToDate(index uint64) {
	switch {
	case ta.pendingNonce != "":
		ta.heldAfter = max(ta.heldAfter, index)
	case !ta.nacked:
		ta.current = max(ta.current, index)
	}
}

type streamInfo struct {
	id     int64
	group  string
	nodeID string
	delta  bool
	// proxyless is set for a client that is not Envoy (Proxyless).
	proxyless bool
	since     time.Time
	types     map[string]*typeAck
	// served holds the entries of types for the served types by position
	// in servedTypes, so the per-watch bookkeeping skips hashing URLs;
	// they point into servedAcks, which keeps them in the stream's own
	// allocation (a flush of every stream touches each one's).
	served     [len(servedTypes)]*typeAck
	servedAcks [len(servedTypes)]typeAck
}

// summarise adds the stream to its group's status in one pass over its
// types: it is synced when it holds the group's snapshot index or newer
// for every type it subscribes to, with nothing in flight and nothing
// rejected; the oldest index it holds counts toward AckedIndex (0 while
// anything is in flight or rejected); and its NACKs.
func (s *streamInfo) summarise(g *GroupStatus) {
	synced, busy := len(s.types) > 0, false
	var m uint64
	first := true
	for url, ta := range s.types {
		if ta.nacked {
			g.NACKs = append(g.NACKs, NACK{Group: s.group, NodeID: s.nodeID, Stream: s.id, TypeURL: url, Index: ta.nackIndex, Message: ta.nackMsg})
		}
		if ta.pendingNonce != "" || ta.nacked {
			synced, busy = false, true
			continue
		}
		if ta.current < g.SnapshotIndex {
			synced = false
		}
		if first || ta.current < m {
			m, first = ta.current, false
		}
	}
	if synced {
		g.Synced++
	}
	if busy || len(s.types) == 0 {
		m = 0
	}
	if m < g.AckedIndex {
		g.AckedIndex = m
	}
}

// NACK describes a rejection by a proxy.
type NACK struct {
	Group   string `json:"group"`
	NodeID  string `json:"nodeId"`
	Stream  int64  `json:"stream"` // negative for delta streams (see deltaStream)
	TypeURL string `json:"typeUrl"`
	// Index is the state index of the rejected snapshot.
	Index   uint64 `json:"index"`
	Message string `json:"message"`
}

// GroupStatus summarises the proxies of one group on this node.
type GroupStatus struct {
	Key string `json:"key"`
	// SnapshotIndex is the state index of the snapshot the group is served.
	SnapshotIndex uint64 `json:"snapshotIndex"`
	Streams       int    `json:"streams"`
	// Synced counts streams that hold SnapshotIndex for every type.
	Synced int `json:"synced"`
	// AckedIndex is the newest state index every stream of the group holds
	// (0 while some stream has something in flight or rejected).
	AckedIndex uint64 `json:"ackedIndex"`
	// Proxyless counts the streams of clients that are not Envoy
	// (proxyless gRPC), which do not mirror requests.
	Proxyless int    `json:"proxyless,omitempty"`
	NACKs     []NACK `json:"nacks,omitempty"`
	// Error is the last translation error for the group; the previous
	// good snapshot is still being served.
	Error string `json:"error,omitempty"`
}

// Tracker records ACKs and NACKs per stream and type. It is fed by the
// server callbacks and by the cache (StreamObserver).
type Tracker struct {
	mu      sync.Mutex
	streams map[int64]*streamInfo
	// perGroup counts the open streams of each group.
	perGroup map[string]int
	events   TrackerEvents
	// acks counts accepted responses, for a cheap "has anything been
	// ACKed since" check (ACKs).
	acks atomic.Uint64
}

var _ BatchObserver = (*Tracker)(nil)

// TrackerEvents receives counts for metrics; any field may be nil.
type TrackerEvents struct {
	Push func(typeURL string)
	ACK  func(typeURL string)
	NACK func(group, typeURL string)
}

// NewTracker returns an empty tracker.
func NewTracker(ev TrackerEvents) *Tracker {
	return &Tracker{streams: map[int64]*streamInfo{}, perGroup: map[string]int{}, events: ev}
}

// Open registers a stream in a group; it is idempotent.
func (t *Tracker) Open(stream int64, group, nodeID string, delta bool, now time.Time) (first bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.streams[stream]; ok {
		return false
	}
	t.streams[stream] = &streamInfo{id: stream, group: group, nodeID: nodeID, delta: delta, since: now, types: map[string]*typeAck{}}
	t.perGroup[group]++
	return true
}

// has reports whether a stream is registered.
func (t *Tracker) has(stream int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.streams[stream]
	return ok
}

// Close forgets a stream and reports its group and whether it was the
// group's last stream.
func (t *Tracker) Close(stream int64) (group string, last bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.streams[stream]
	if !ok {
		return "", false
	}
	delete(t.streams, stream)
	t.perGroup[s.group]--
	if t.perGroup[s.group] > 0 {
		return s.group, false
	}
	delete(t.perGroup, s.group)
	return s.group, true
}

func (t *Tracker) typeOf(stream int64, typeURL string) *typeAck {
	s, ok := t.streams[stream]
	if !ok {
		return nil
	}
	return s.typeAck(typeURL)
}

// entry returns a stream's record (nil if it is not open), for a handler
// that keeps it so that its requests and flushes skip the lookup by id.
// Writing to a record after Close is harmless: nothing reads it again.
func (t *Tracker) entry(stream int64) *streamInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.streams[stream]
}

// typeAck returns the stream's entry for a type, creating it; the
// tracker's lock must be held.
func (s *streamInfo) typeAck(typeURL string) *typeAck {
	i := servedIndex(typeURL)
	if i >= 0 && s.served[i] != nil {
		return s.served[i]
	}
	if i >= 0 {
		ta := &s.servedAcks[i]
		s.types[typeURL], s.served[i] = ta, ta
		return ta
	}
	ta, ok := s.types[typeURL]
	if !ok {
		ta = &typeAck{}
		s.types[typeURL] = ta
	}
	return ta
}

// Request records a request: the first for a type subscribes it; one that
// answers the pending response is an ACK or, with error detail, a NACK.
// It reports whether the request is stale: it names a nonce other than
// the last one sent, so a state-of-the-world server ignores it.
func (t *Tracker) Request(stream int64, typeURL, nonce string, errMsg *string) (stale bool) {
	t.mu.Lock()
	return t.request(t.streams[stream], typeURL, nonce, errMsg)
}

// requestOn is Request on a record the caller kept (entry).
func (t *Tracker) requestOn(s *streamInfo, typeURL, nonce string, errMsg *string) (stale bool) {
	t.mu.Lock()
	return t.request(s, typeURL, nonce, errMsg)
}

// request is Request on s (nil when the stream is not open); it is called
// with the tracker's lock held and releases it.
func (t *Tracker) request(s *streamInfo, typeURL, nonce string, errMsg *string) (stale bool) {
	var ta *typeAck
	if s != nil {
		ta = s.typeAck(typeURL)
	}
	if ta != nil && ta.lastNonce != "" && nonce != ta.lastNonce {
		stale = true
	}
	if ta == nil || nonce == "" || nonce != ta.pendingNonce {
		t.mu.Unlock()
		return stale
	}
	ta.pendingNonce = ""
	if errMsg != nil {
		ta.nacked, ta.nackIndex, ta.nackMsg = true, ta.pendingIndex, *errMsg
	} else {
		ta.nacked, ta.nackMsg = false, ""
		ta.current = max(ta.current, ta.pendingIndex, ta.heldAfter)
	}
	ta.heldAfter = 0
	t.mu.Unlock()
	if errMsg != nil && t.events.NACK != nil {
		t.events.NACK(s.group, typeURL) // group is fixed at Open
	} else if errMsg == nil {
		t.acks.Add(1)
		if t.events.ACK != nil {
			t.events.ACK(typeURL)
		}
	}
	return false
}

// Response records a response about to be sent.
func (t *Tracker) Response(stream int64, typeURL, nonce, version string) {
	idx, _ := strconv.ParseUint(version, 10, 64)
	t.mu.Lock()
	if ta := t.typeOf(stream, typeURL); ta != nil {
		ta.pendingNonce, ta.pendingIndex, ta.lastNonce, ta.heldAfter = nonce, idx, nonce, 0
	}
	t.mu.Unlock()
	if t.events.Push != nil {
		t.events.Push(typeURL)
	}
}

// flushedType is what one flush of a state-of-the-world stream did for
// one served type (Tracker.flushed).
type flushedType struct {
	subscribed bool
	// nonce is the response about to be sent; "" when the stream lacked
	// nothing, so it is current with the flushed snapshot.
	nonce string
}

// flushed records, under one lock, a flush of a stream (its record, from
// entry; nil if it was not open) from the snapshot at index: Response for
// each type sent, Current for each other type the stream subscribes to.
func (t *Tracker) flushed(s *streamInfo, index uint64, types *[len(servedTypes)]flushedType) {
	pushed := 0
	t.mu.Lock()
	for i, ft := range types {
		if s == nil || !ft.subscribed {
			continue
		}
		ta := s.served[i]
		if ta == nil {
			ta = s.typeAck(servedTypes[i])
		}
		if ft.nonce == "" {
			ta.upToDate(index)
			continue
		}
		ta.pendingNonce, ta.pendingIndex, ta.lastNonce, ta.heldAfter = ft.nonce, index, ft.nonce, 0
		pushed++
	}
	t.mu.Unlock()
	if t.events.Push == nil || pushed == 0 {
		return
	}
	for i, ft := range types {
		if ft.subscribed && ft.nonce != "" {
			t.events.Push(servedTypes[i])
		}
	}
}

// Current implements StreamObserver.
func (t *Tracker) Current(stream int64, typeURL string, index uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.currentLocked(stream, typeURL, index)
}

// CurrentAll implements BatchObserver: Current for many streams under one
// lock.
func (t *Tracker) CurrentAll(streams []int64, typeURL string, index uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, stream := range streams {
		t.currentLocked(stream, typeURL, index)
	}
}

func (t *Tracker) currentLocked(stream int64, typeURL string, index uint64) {
	if ta := t.typeOf(stream, typeURL); ta != nil {
		ta.upToDate(index)
	}
}

// Groups summarises every group with at least one stream. snapshotIndex
// gives the index each group is being served; it is called with the
// tracker's lock held, so it must not call into the tracker or into
// anything that calls the tracker while holding a lock (such as the Cache).
func (t *Tracker) Groups(snapshotIndex func(group string) uint64) []GroupStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	byKey := map[string]*GroupStatus{}
	for _, s := range t.streams {
		g, ok := byKey[s.group]
		if !ok {
			g = &GroupStatus{Key: s.group, SnapshotIndex: snapshotIndex(s.group), AckedIndex: ^uint64(0)}
			byKey[s.group] = g
		}
		g.Streams++
		if s.proxyless {
			g.Proxyless++
		}
		s.summarise(g)
	}
	out := make([]GroupStatus, 0, len(byKey))
	for _, g := range byKey {
		sort.Slice(g.NACKs, func(i, j int) bool {
			if g.NACKs[i].Stream != g.NACKs[j].Stream {
				return g.NACKs[i].Stream < g.NACKs[j].Stream
			}
			return g.NACKs[i].TypeURL < g.NACKs[j].TypeURL
		})
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// StreamCount returns the number of open streams, split by protocol.
func (t *Tracker) StreamCount() (sotw, delta int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.streams {
		if s.delta {
			delta++
		} else {
			sotw++
		}
	}
	return sotw, delta
}
