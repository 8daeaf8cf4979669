package xds

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Sluice's own ADS handlers (sotw.go, incremental.go) share one way of
// pushing: each stream's handler goroutine reads requests; when the
// stream must be written to, a flush compares what the stream holds with
// the group's newest snapshot and writes the difference. After a request
// that changed what the stream subscribes to, the handler flushes itself
// (flushNow); when the group's snapshot moves, the streams' flushes run
// on a few workers (flushBatch). At most one flush runs per stream at a
// time, a reason to flush that arrives during a flush makes it go round
// again, so none is lost, and a proxy that stops reading holds up only
// its own stream.

// streamCore is what both own handlers keep for a stream besides its
// subscriptions: who it is, its group, and its pushing.
type streamCore struct {
	s     *Server
	id    int64
	delta bool
	ctx   context.Context // the stream's
	// prepared: answers may be written as bytes encoded once for every
	// stream (uncompressed).
	prepared bool

	// group, hg and tracked are set by the first request (openWith);
	// tracked is the stream's record in the tracker, kept so that
	// requests and flushes need no lookup by id.
	group   string
	hg      *hubGroup
	tracked *streamInfo

	pusher
}

func (c *streamCore) init(s *Server, id int64, delta bool, ctx context.Context, flush func() error) {
	c.s, c.id, c.delta, c.ctx, c.prepared = s, id, delta, ctx, uncompressed(ctx)
	c.pusher.flush = flush
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		c.pusher.conn = p.Addr.String()
	}
}

// openWith registers the stream in its group on its first request, for
// ACK tracking and pushes; that request must carry the node.
func (c *streamCore) openWith(node *core.Node) error {
	if c.hg != nil {
		return nil
	}
	if node == nil {
		return status.Error(codes.InvalidArgument, "xds: the first request of a stream must carry the node")
	}
	c.group = GroupOf(node).Key()
	c.s.noteRequest(c.id, node, c.delta)
	c.tracked = c.s.tracker.entry(c.id)
	c.hg = c.s.hub.join(c.group, &c.pusher)
	c.hg.start(c.s.cache.current(c.group))
	return nil
}

// recordAnswer is Server.recordAnswer on the stream's kept record.
func (c *streamCore) recordAnswer(req answerRequest) (stale bool) {
	return c.s.tracker.requestOn(c.tracked, req.GetTypeUrl(), req.GetResponseNonce(), c.s.nackOf(c.id, c.group, req, c.delta))
}

// flushed records a flush from the snapshot at index (Tracker.flushed).
func (c *streamCore) flushed(index uint64, types *[len(servedTypes)]flushedType) {
	c.s.tracker.flushed(c.tracked, index, types)
}

// close stops the stream's flushes and forgets it.
func (c *streamCore) close() {
	c.stop()
	if c.hg != nil {
		c.s.hub.leave(c.group, &c.pusher)
		c.s.streamClosed(c.id)
	}
}

// serve is a stream handler's loop: read a request, apply it, flush when
// it asks for one, until the client ends the stream (nil) or reading
// fails.
func serve[R any](c *streamCore, recv func() (R, error), apply func(R) (bool, error)) error {
	for {
		req, err := recv()
		if err != nil {
			if errors.Is(err, io.EOF) || c.ctx.Err() != nil {
				return nil
			}
			return err
		}
		push, err := apply(req)
		if err != nil {
			return err
		}
		if push {
			c.flushNow()
		}
	}
}

// pusher runs one stream's flushes. Its mu also guards the stream's
// subscriptions, which the handler goroutine writes and flushes read.
type pusher struct {
	flush func() error
	// conn names the stream's connection (its peer's address): the hub
	// flushes a connection's streams together.
	conn string

	mu       sync.Mutex
	flushing bool // a flush loop runs
	dirty    bool // flush again before the loop ends
	closed   bool
	done     sync.WaitGroup // the flush loop, if any
}

// claim makes sure a flush starts after this call: it reports true when
// the caller must run the flush loop (p.loop), false when one runs
// already (it will go round again) or the stream is closed.
func (p *pusher) claim() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	if p.flushing {
		p.dirty = true
		return false
	}
	p.flushing = true
	p.done.Add(1)
	return true
}

// flushNow runs a flush on the calling goroutine, the stream's handler
// after a request, unless one runs already. The handler is not reading
// meanwhile, as a handler that writes its own answers would not be.
func (p *pusher) flushNow() {
	if p.claim() {
		p.loop()
	}
}

// loop flushes until no new reason to flush arrived meanwhile, or the
// stream closed. A write error ends it: gRPC ends the stream with it, so
// the handler's read fails too.
func (p *pusher) loop() {
	defer p.done.Done()
	for {
		p.mu.Lock()
		if p.closed {
			p.flushing = false
			p.mu.Unlock()
			return
		}
		p.dirty = false
		p.mu.Unlock()
		err := p.flush()
		p.mu.Lock()
		if err != nil || !p.dirty {
			p.flushing = false
			p.mu.Unlock()
			return
		}
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
// handlers. Its streams are kept by connection, so that a snapshot move
// flushes the streams of one connection one after another: their
// responses then queue on that connection's writer together and leave in
// few socket writes, where streams taken in any order had each
// connection's writer wake, and write, for almost every response. (An
// Envoy opens one ADS stream per connection, so this changes nothing for
// it; it matters for clients that multiplex many streams on one
// connection.)
type hubGroup struct {
	snap  atomic.Pointer[groupSnapshot]
	conns map[string]map[*pusher]struct{} // by pusher.conn
	n     int                             // streams
}

func newStreamHub() *streamHub { return &streamHub{groups: map[string]*hubGroup{}} }

// join adds a stream's pusher to a group. The caller reads the group's
// snapshot from the cache after joining (hubGroup.start).
func (h *streamHub) join(key string, p *pusher) *hubGroup {
	h.mu.Lock()
	defer h.mu.Unlock()
	hg, ok := h.groups[key]
	if !ok {
		hg = &hubGroup{conns: map[string]map[*pusher]struct{}{}}
		h.groups[key] = hg
	}
	set, ok := hg.conns[p.conn]
	if !ok {
		set = map[*pusher]struct{}{}
		hg.conns[p.conn] = set
	}
	if _, dup := set[p]; !dup {
		set[p] = struct{}{}
		hg.n++
	}
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
	set, ok := hg.conns[p.conn]
	if _, in := set[p]; !ok || !in {
		return
	}
	delete(set, p)
	hg.n--
	if len(set) == 0 {
		delete(hg.conns, p.conn)
	}
	if hg.n == 0 {
		delete(h.groups, key)
	}
}

// moved is the cache's hook: a group took snap, so every stream of the
// group is flushed from it. The cache calls it with its lock held, so
// snapshots arrive in the order the group took them; it only claims the
// streams' flushes and hands them to a flushBatch, never waits for one.
func (h *streamHub) moved(key string, snap *groupSnapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hg, ok := h.groups[key]
	if !ok {
		return
	}
	hg.snap.Store(snap)
	if batch := hg.claim(); len(batch) > 0 {
		go flushBatch(batch, runtime.GOMAXPROCS(0))
	}
}

// claim claims the flushes of the group's streams (pusher.claim) and
// returns those it claimed, a connection's streams next to each other.
// The hub's lock is held.
func (hg *hubGroup) claim() []*pusher {
	batch := make([]*pusher, 0, hg.n)
	for _, set := range hg.conns {
		for p := range set {
			if p.claim() {
				batch = append(batch, p)
			}
		}
	}
	return batch
}

// flushStall is how long a flushBatch waits with no flush finished
// before it adds a worker: a flush that does not finish is blocked on a
// proxy that does not read.
const flushStall = 20 * time.Millisecond

// flushBatch runs the claimed flush loops of a snapshot move on a few
// workers, as many as there are CPUs to start with, instead of a
// goroutine per stream. A worker stuck on a proxy that does not read
// must not hold up the others, so whenever no flush has finished for
// flushStall another worker joins; a stuck stream costs one worker, as
// it would cost its own goroutine.
func flushBatch(batch []*pusher, workers int) {
	var next, finished atomic.Int64
	work := func() {
		for i := next.Add(1) - 1; i < int64(len(batch)); i = next.Add(1) - 1 {
			batch[i].loop()
			finished.Add(1)
		}
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(work)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(flushStall)
	defer tick.Stop()
	last := int64(-1)
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			if n := finished.Load(); n == last && next.Load() < int64(len(batch)) {
				wg.Go(work)
			} else {
				last = n
			}
		}
	}
}
