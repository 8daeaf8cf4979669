package xds

import (
	"errors"
	"fmt"
	"io"
	"slices"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Stream handlers for state-of-the-world ADS (Options.Stream).
const (
	// StreamGCP serves state-of-the-world ADS with go-control-plane's
	// stream loop over the Cache's watches.
	StreamGCP = "gcp"
	// StreamSluice, the default, serves state-of-the-world ADS with
	// Sluice's own handler: one reading goroutine per stream, a flush per
	// stream when its group's snapshot moves, and answers shared, bytes
	// included, by every stream that needs the same one.
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

// adsServer is the ADS service with Sluice's state-of-the-world loop;
// delta streams stay with go-control-plane.
type adsServer struct {
	discovery.UnimplementedAggregatedDiscoveryServiceServer
	s *Server
}

func (a *adsServer) DeltaAggregatedResources(st discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	return a.s.xds.DeltaAggregatedResources(st)
}

// sotwType is what one stream subscribes to and was sent for one type.
// The stream's mu guards it.
type sotwType struct {
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

func (a *adsServer) StreamAggregatedResources(st discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	ss := newSotwStream(a.s, st)
	defer ss.close()
	for {
		req, err := st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || st.Context().Err() != nil {
				return nil
			}
			return err
		}
		push, err := ss.request(req)
		if err != nil {
			return err
		}
		if push {
			ss.schedule()
		}
	}
}

// request applies one discovery request to the stream's subscriptions and
// reports whether the stream must be flushed: it subscribed to a type or
// changed what it asks for. An ACK that repeats the subscription needs
// nothing.
func (ss *sotwStream) request(req *discovery.DiscoveryRequest) (push bool, err error) {
	if ss.hg == nil {
		if req.GetNode() == nil {
			return false, status.Error(codes.InvalidArgument, "xds: the first request of a stream must carry the node")
		}
		ss.open(req.GetNode())
	}
	var errMsg *string
	if d := req.GetErrorDetail(); d != nil {
		msg := nackMessage(d.GetMessage())
		errMsg = &msg
		ss.s.log.Warn("proxy rejected config (NACK)", "stream", ss.id, "group", ss.group,
			"node", req.GetNode().GetId(), "type", req.GetTypeUrl(), "nonce", req.GetResponseNonce(), "detail", msg)
	}
	if stale := ss.s.tracker.Request(ss.id, req.GetTypeUrl(), req.GetResponseNonce(), errMsg); stale {
		return false, nil
	}
	i := servedIndex(req.GetTypeUrl())
	if i < 0 {
		return false, nil // not served: never answered, as with go-control-plane
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	t := ss.types[i]
	if t == nil {
		t = &sotwType{}
		ss.types[i] = t
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
