package xds

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/grpc"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// ADS stream handlers (Options.Stream).
const (
	// StreamGCP serves ADS, state of the world and delta, with
	// go-control-plane's stream loops over the Cache's watches.
	StreamGCP = "gcp"
	// StreamSluice, the default, serves ADS with Sluice's own handlers:
	// one reading goroutine per stream, a flush per stream when its
	// group's snapshot moves, and answers shared, bytes included, by
	// every stream that needs the same one (push.go).
	StreamSluice = "sluice"
)

// ErrUnknownStream is returned by ParseStream for a handler name other
// than StreamGCP or StreamSluice.
var ErrUnknownStream = errors.New("xds: unknown stream handler (want gcp or sluice)")

// ParseStream checks a stream handler name; "" is the default
// (StreamSluice).
func ParseStream(name string) (string, error) {
	switch name {
	case StreamGCP:
		return StreamGCP, nil
	case "", StreamSluice:
		return StreamSluice, nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownStream, name)
}

// sotwStreamBase numbers Sluice's state-of-the-world streams apart from
// go-control-plane's (which count from 1 for its per-type services, and
// negatively here for delta streams).
const sotwStreamBase = 1 << 40

// adsServer is the ADS service with Sluice's own handlers, for state of
// the world (here) and delta streams (incremental.go).
type adsServer struct {
	discovery.UnimplementedAggregatedDiscoveryServiceServer
	s *Server
}

// sotwType is what one stream subscribes to and was sent for one type.
// The stream's mu guards it.
type sotwType struct {
	// on is set once the stream has asked for the type.
	on       bool
	wildcard bool
	// req is the resource names of the last request as received, to tell
	// cheaply that an ACK repeats the subscription; names is the same set.
	req   []string
	names map[string]struct{}
	// sub identifies the subscription (answerKey), so streams with the
	// same one share answers.
	sub string
	// seen is the type snapshot the stream was last brought up to date
	// with; while it is the group's and nothing changed, there is nothing
	// to compare.
	seen *typeSnapshot
	// sent is the content hash of the last answer sent (answer.hash); an
	// answer with the same content is not sent again, whether the stream
	// ACKed or NACKed it.
	sent     uint64
	sentOnce bool
	changed  bool // the subscription changed since seen
	force    bool // a first request: answer even if empty
}

// stale reports whether t must be compared with ts before it is known to
// be up to date.
func (t *sotwType) stale(ts *typeSnapshot) bool {
	return t.force || t.changed || t.seen != ts
}

// sotwStream is one state-of-the-world ADS stream (see push.go).
type sotwStream struct {
	streamCore // its mu guards types
	st         discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer
	// types are held in the stream, not behind pointers: a flush of
	// every stream reads each one's types, and one allocation keeps
	// them on neighbouring cache lines.
	types [len(servedTypes)]sotwType
}

// uncompressed reports whether gRPC writes a stream's responses without
// compression, so the bytes of an answer encoded once are right for it.
// gRPC compresses responses the way the client compressed its requests,
// when the server knows that compressor; it says so on the stream's
// transport. Where it cannot tell, the answer is no (encode per stream).
func uncompressed(ctx context.Context) bool {
	st, ok := grpc.ServerTransportStreamFromContext(ctx).(interface{ SendCompress() string })
	if !ok {
		return false
	}
	c := st.SendCompress()
	return c == "" || c == "identity"
}

func (a *adsServer) StreamAggregatedResources(st discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	ss := &sotwStream{st: st}
	ss.init(a.s, sotwStreamBase+a.s.nextStream.Add(1), false, st.Context(), ss.flush)
	defer ss.close()
	return serve(&ss.streamCore, st.Recv, ss.request)
}

// request applies one discovery request to the stream's subscriptions and
// reports whether the stream must be flushed: it subscribed to a type or
// changed what it asks for. An ACK that repeats the subscription needs
// nothing.
func (ss *sotwStream) request(req *discovery.DiscoveryRequest) (push bool, err error) {
	if err := ss.openWith(req.GetNode()); err != nil {
		return false, err
	}
	if stale := ss.recordAnswer(req); stale {
		return false, nil
	}
	i := servedIndex(req.GetTypeUrl())
	if i < 0 {
		return false, nil // not served: never answered, as with go-control-plane
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	t := &ss.types[i]
	if !t.on {
		t.on = true
		// LDS and CDS with no names are wildcard subscriptions.
		t.wildcard = len(req.GetResourceNames()) == 0 && fullStateType(i)
		t.changed = true
	}
	if req.GetVersionInfo() == "" && req.GetResponseNonce() == "" {
		t.force = true
	}
	if !t.changed && slices.Equal(t.req, req.GetResourceNames()) {
		return t.force, nil
	}
	t.subscribe(req.GetResourceNames())
	return true, nil
}

// subscribe sets the names a type subscribes to.
func (t *sotwType) subscribe(req []string) {
	names := make(map[string]struct{}, len(req))
	for _, n := range req {
		if n == "*" {
			t.wildcard = true
			continue
		}
		names[n] = struct{}{}
	}
	sub := answerKey(t.wildcard, names)
	t.changed = t.changed || sub != t.sub
	t.req, t.names, t.sub = req, names, sub
}

// fullStateType reports whether servedTypes[i] is LDS or CDS.
func fullStateType(i int) bool { return i == 0 || i == 2 }

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
	for i := range ss.types {
		t, ts := &ss.types[i], snap.typeAt(i)
		if !t.on || ts == nil {
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
	ss.flushed(snap.index, &flushed)
	for _, a := range sends {
		if a == nil {
			continue
		}
		if err := a.enc.send(ss.st, a.resp, ss.prepared); err != nil {
			ss.s.log.Debug("xds write failed", "stream", ss.id, "group", ss.group, "err", err)
			return err
		}
	}
	return nil
}
