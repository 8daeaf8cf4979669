package xds

import (
	"sync"
	"sync/atomic"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/metadata"
)

// sotwStream is one state-of-the-world ADS stream. Its handler goroutine
// reads requests; a flush (flushLoop) writes what the stream lacks. A
// flush runs on the handler goroutine after a request, or on a goroutine
// of its own when the group's snapshot moves; at most one runs at a time
// per stream, so a proxy that stops reading holds up only its own.
type sotwStream struct {
	s  *Server
	id int64
	st discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer
	// prepared: responses may be written as bytes encoded once for every
	// stream (the client did not ask for compression).
	prepared bool

	// group and hg are set by the first request.
	group string
	hg    *hubGroup

	mu       sync.Mutex
	types    [len(servedTypes)]*sotwType
	flushing bool // a flushLoop runs
	dirty    bool // flush again before flushLoop ends
	closed   bool
	done     sync.WaitGroup // the flushLoop goroutine, if any
}

func newSotwStream(s *Server, st discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer) *sotwStream {
	ss := &sotwStream{s: s, id: sotwStreamBase + s.nextStream.Add(1), st: st, prepared: true}
	if md, ok := metadata.FromIncomingContext(st.Context()); ok {
		for _, enc := range md.Get("grpc-encoding") {
			if enc != "" && enc != "identity" {
				ss.prepared = false
			}
		}
	}
	return ss
}

// open registers the stream in its group, for ACK tracking and for pushes.
func (ss *sotwStream) open(node *core.Node) {
	ss.group = GroupOf(node).Key()
	ss.s.noteRequest(ss.id, node, false)
	ss.hg = ss.s.hub.join(ss.group, ss)
	// Joined first, then read the cache: a snapshot published before the
	// join is read here, one published after it is set by the hub (and
	// wins: it is newer) and schedules a flush.
	if snap := ss.s.cache.current(ss.group); snap != nil {
		ss.hg.snap.CompareAndSwap(nil, snap)
	}
}

// close ends the stream: no flush starts after it, and it waits for the
// one running, since nothing may write to a stream whose handler returned.
func (ss *sotwStream) close() {
	ss.mu.Lock()
	ss.closed = true
	ss.mu.Unlock()
	ss.done.Wait()
	if ss.hg != nil {
		ss.s.hub.leave(ss.group, ss)
		ss.s.streamClosed(ss.id)
	}
}

// schedule makes sure a flush runs after this call: it starts one, or
// marks the running one to go round again.
func (ss *sotwStream) schedule() {
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return
	}
	if ss.flushing {
		ss.dirty = true
		ss.mu.Unlock()
		return
	}
	ss.flushing = true
	ss.done.Add(1)
	ss.mu.Unlock()
	go ss.flushLoop()
}

// flushLoop flushes until no new reason to flush arrived meanwhile. A
// write error ends the loop; gRPC ends the stream with it, so the
// handler's read fails too.
func (ss *sotwStream) flushLoop() {
	defer ss.done.Done()
	for {
		err := ss.flush()
		ss.mu.Lock()
		if err != nil || !ss.dirty || ss.closed {
			ss.flushing, ss.dirty = false, false
			ss.mu.Unlock()
			if err != nil {
				ss.s.log.Debug("xds write failed", "stream", ss.id, "group", ss.group, "err", err)
			}
			return
		}
		ss.dirty = false
		ss.mu.Unlock()
	}
}

// flush sends every subscribed type whose answer changed for this stream
// since it was last flushed, and records in one tracker call what was
// sent and what is known to be current.
func (ss *sotwStream) flush() error {
	snap := ss.hg.snap.Load()
	if snap == nil {
		return nil // no snapshot (the group's build failed): send nothing
	}
	var sends [len(servedTypes)]*answer
	var flushed [len(servedTypes)]flushedType
	ss.mu.Lock()
	for i, t := range ss.types {
		ts := snap.typeAt(i)
		if t == nil || ts == nil {
			continue
		}
		flushed[i].subscribed = true
		if !t.stale(ts) {
			continue
		}
		a := ts.answer(snap.version, i, t)
		t.seen, t.changed = ts, false
		if t.sentOnce && a.hash == t.sent && !t.force {
			continue
		}
		t.sent, t.sentOnce, t.force = a.hash, true, false
		sends[i], flushed[i].nonce = a, a.resp.Nonce
	}
	ss.mu.Unlock()
	ss.s.tracker.Flushed(ss.id, snap.index, &flushed)
	for _, a := range sends {
		if a == nil {
			continue
		}
		if err := a.send(ss); err != nil {
			return err
		}
	}
	return nil
}

// sotwHub finds the streams of a group when its snapshot moves.
type sotwHub struct {
	mu     sync.Mutex
	groups map[string]*hubGroup
}

// hubGroup is one group's streams and the newest snapshot they are to be
// flushed from; it lives while the group has streams on this handler.
type hubGroup struct {
	snap    atomic.Pointer[groupSnapshot]
	streams map[*sotwStream]struct{}
}

func newSotwHub() *sotwHub { return &sotwHub{groups: map[string]*hubGroup{}} }

func (h *sotwHub) join(key string, ss *sotwStream) *hubGroup {
	h.mu.Lock()
	defer h.mu.Unlock()
	hg, ok := h.groups[key]
	if !ok {
		hg = &hubGroup{streams: map[*sotwStream]struct{}{}}
		h.groups[key] = hg
	}
	hg.streams[ss] = struct{}{}
	return hg
}

func (h *sotwHub) leave(key string, ss *sotwStream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hg, ok := h.groups[key]
	if !ok {
		return
	}
	delete(hg.streams, ss)
	if len(hg.streams) == 0 {
		delete(h.groups, key)
	}
}

// moved is the cache's hook: a group took snap, so every stream of the
// group is flushed from it. The cache calls it with its lock held, so
// snapshots arrive in the order the group took them; it only starts
// flushes, never waits for one.
func (h *sotwHub) moved(key string, snap *groupSnapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hg, ok := h.groups[key]
	if !ok {
		return
	}
	hg.snap.Store(snap)
	for ss := range hg.streams {
		ss.schedule()
	}
}
