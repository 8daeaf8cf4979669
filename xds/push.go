package xds

import (
	"sync"
	"sync/atomic"
)

// Sluice's own ADS handlers (sotw.go, incremental.go) share one way of
// pushing: each stream's handler goroutine only reads requests; when the
// stream must be written to (a request changed what it subscribes to, or
// its group's snapshot moved) a flush runs, on a goroutine of its own,
// that compares what the stream holds with the group's newest snapshot
// and writes the difference. At most one flush runs per stream at a
// time, so a proxy that stops reading holds up only its own stream, and
// a reason to flush that arrives during a flush makes it go round again,
// so none is lost.

// pusher runs one stream's flushes. Its mu also guards the stream's
// subscriptions, which the handler goroutine writes and flushes read.
type pusher struct {
	flush func() error

	mu       sync.Mutex
	flushing bool // a flush loop runs
	dirty    bool // flush again before the loop ends
	closed   bool
	done     sync.WaitGroup // the flush loop, if any
}

// schedule makes sure a flush starts after this call: it starts a flush
// loop, or marks the running one to go round again.
func (p *pusher) schedule() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if p.flushing {
		p.dirty = true
		p.mu.Unlock()
		return
	}
	p.flushing = true
	p.done.Add(1)
	p.mu.Unlock()
	go p.loop()
}

// loop flushes until no new reason to flush arrived meanwhile. A write
// error ends it: gRPC ends the stream with it, so the handler's read
// fails too.
func (p *pusher) loop() {
	defer p.done.Done()
	for {
		err := p.flush()
		p.mu.Lock()
		if err != nil || !p.dirty || p.closed {
			p.flushing, p.dirty = false, false
			p.mu.Unlock()
			return
		}
		p.dirty = false
		p.mu.Unlock()
	}
}

// stop ends the pushing: no flush starts after it, and it waits for the
// one running, since nothing may write to a stream whose handler
// returned.
func (p *pusher) stop() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.done.Wait()
}

// streamHub finds the streams of a group when its snapshot moves.
type streamHub struct {
	mu     sync.Mutex
	groups map[string]*hubGroup
}

// hubGroup is one group's streams and the newest snapshot they are to be
// flushed from; it lives while the group has streams on this node's own
// handlers.
type hubGroup struct {
	snap    atomic.Pointer[groupSnapshot]
	streams map[*pusher]struct{}
}

func newStreamHub() *streamHub { return &streamHub{groups: map[string]*hubGroup{}} }

// join adds a stream's pusher to a group. The caller reads the group's
// snapshot from the cache after joining (hubGroup.start).
func (h *streamHub) join(key string, p *pusher) *hubGroup {
	h.mu.Lock()
	defer h.mu.Unlock()
	hg, ok := h.groups[key]
	if !ok {
		hg = &hubGroup{streams: map[*pusher]struct{}{}}
		h.groups[key] = hg
	}
	hg.streams[p] = struct{}{}
	return hg
}

// start sets the snapshot a group's first stream read from the cache
// after joining, unless the hub has set one since (which is newer).
func (hg *hubGroup) start(snap *groupSnapshot) {
	if snap != nil {
		hg.snap.CompareAndSwap(nil, snap)
	}
}

func (h *streamHub) leave(key string, p *pusher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hg, ok := h.groups[key]
	if !ok {
		return
	}
	delete(hg.streams, p)
	if len(hg.streams) == 0 {
		delete(h.groups, key)
	}
}

// moved is the cache's hook: a group took snap, so every stream of the
// group is flushed from it. The cache calls it with its lock held, so
// snapshots arrive in the order the group took them; it only starts
// flushes, never waits for one.
func (h *streamHub) moved(key string, snap *groupSnapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hg, ok := h.groups[key]
	if !ok {
		return
	}
	hg.snap.Store(snap)
	for p := range hg.streams {
		p.schedule()
	}
}
