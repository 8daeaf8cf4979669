package xds

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
)

// Stream handlers for state-of-the-world ADS (Options.Stream).
const (
	// StreamGCP serves state-of-the-world ADS with go-control-plane's
	// stream loop over the Cache's watches.
	StreamGCP = "gcp"
	// StreamSluice serves state-of-the-world ADS with Sluice's own loop:
	// one wait per stream on its group's snapshot, responses shared by
	// every stream that needs the same answer.
	StreamSluice = "sluice"
)

// ErrUnknownStream is returned by ParseStream for a handler name other
// than StreamGCP or StreamSluice.
var ErrUnknownStream = errors.New("xds: unknown stream handler (want gcp or sluice)")

// ParseStream checks a stream handler name; "" is the default (StreamGCP).
func ParseStream(name string) (string, error) {
	switch name {
	case "", StreamGCP:
		return StreamGCP, nil
	case StreamSluice:
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
type sotwType struct {
	wildcard bool
	names    map[string]struct{}
	// sent is the content key of the last response sent (see contentKey);
	// a response with the same key is not sent again, whether the stream
	// ACKed or NACKed it.
	sent  string
	force bool // a first request: answer even if empty
}

// sotwStream is one state-of-the-world ADS stream.
type sotwStream struct {
	s     *Server
	id    int64
	st    discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer
	group string
	types [len(servedTypes)]*sotwType
}

func (a *adsServer) StreamAggregatedResources(st discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	ss := &sotwStream{s: a.s, id: sotwStreamBase + a.s.nextStream.Add(1), st: st}
	defer func() {
		if ss.group != "" {
			a.s.streamClosed(ss.id)
		}
	}()
	ctx := st.Context()
	reqs := make(chan *discovery.DiscoveryRequest)
	errc := make(chan error, 1)
	go func() {
		for {
			req, err := st.Recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case reqs <- req:
			case <-ctx.Done():
				return
			}
		}
	}()
	var moved <-chan struct{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case req := <-reqs:
			if err := ss.request(req); err != nil {
				return err
			}
		case <-moved:
		}
		if ss.group == "" {
			continue
		}
		var err error
		if moved, err = ss.push(); err != nil {
			return err
		}
	}
}

// request applies one discovery request to the stream's subscriptions.
func (ss *sotwStream) request(req *discovery.DiscoveryRequest) error {
	if ss.group == "" {
		if req.GetNode() == nil {
			return status.Error(codes.InvalidArgument, "xds: the first request of a stream must carry the node")
		}
		ss.group = GroupOf(req.GetNode()).Key()
	}
	ss.s.noteRequest(ss.id, req.GetNode(), false)
	var errMsg *string
	if d := req.GetErrorDetail(); d != nil {
		msg := nackMessage(d.GetMessage())
		errMsg = &msg
		ss.s.log.Warn("proxy rejected config (NACK)", "stream", ss.id, "group", ss.group,
			"node", req.GetNode().GetId(), "type", req.GetTypeUrl(), "nonce", req.GetResponseNonce(), "detail", msg)
	}
	if stale := ss.s.tracker.Request(ss.id, req.GetTypeUrl(), req.GetResponseNonce(), errMsg); stale {
		return nil
	}
	i := servedIndex(req.GetTypeUrl())
	if i < 0 {
		return nil // not served: never answered, as with go-control-plane
	}
	t := ss.types[i]
	if t == nil {
		t = &sotwType{}
		ss.types[i] = t
		// LDS and CDS with no names are wildcard subscriptions.
		t.wildcard = len(req.GetResourceNames()) == 0 && fullStateType(i)
	}
	names := make(map[string]struct{}, len(req.GetResourceNames()))
	for _, n := range req.GetResourceNames() {
		if n == "*" {
			t.wildcard = true
			continue
		}
		names[n] = struct{}{}
	}
	t.names = names
	if req.GetVersionInfo() == "" && req.GetResponseNonce() == "" {
		t.force = true
	}
	return nil
}

// fullStateType reports whether servedTypes[i] is LDS or CDS.
func fullStateType(i int) bool { return i == 0 || i == 2 }

// push sends every subscribed type whose answer changed for this stream,
// and returns the channel closed when the group's snapshot next moves.
func (ss *sotwStream) push() (<-chan struct{}, error) {
	snap, moved := ss.s.cache.current(ss.group)
	if snap == nil {
		// No snapshot (the group's build failed): send nothing.
		return moved, nil
	}
	for i, t := range ss.types {
		ts := snap.typeAt(i)
		if t == nil || ts == nil {
			continue
		}
		names := ts.selectNames(t)
		key := ts.contentKey(names)
		if key == t.sent && !t.force {
			ss.s.tracker.Current(ss.id, ts.url, snap.index)
			continue
		}
		resp := ts.shared(snap.version, i, t.wildcard, names)
		ss.s.tracker.Response(ss.id, ts.url, resp.Nonce, resp.VersionInfo)
		if err := ss.st.Send(resp); err != nil {
			return nil, err
		}
		t.sent, t.force = key, false
	}
	return moved, nil
}

// selectNames returns, in name order, the resources a subscription gets.
func (ts *typeSnapshot) selectNames(t *sotwType) []string {
	if t.wildcard {
		return ts.names
	}
	var names []string
	if len(t.names) < len(ts.names) {
		for n := range t.names {
			if _, ok := ts.entries[n]; ok {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		return names
	}
	for _, n := range ts.names {
		if _, ok := t.names[n]; ok {
			names = append(names, n)
		}
	}
	return names
}

// contentKey identifies the content of a response carrying names: their
// names and content hashes.
func (ts *typeSnapshot) contentKey(names []string) string {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(0)
		b.WriteString(ts.entries[n].hash)
		b.WriteByte(0)
	}
	return b.String()
}

// sharedResponses holds the responses built from a type snapshot for one
// version, by requested name set; every stream needing the same answer
// is sent the same message, nonce included.
type sharedResponses struct {
	mu      sync.Mutex
	version string
	byNames map[string]*discovery.DiscoveryResponse
}

func (ts *typeSnapshot) shared(version string, typ int, wildcard bool, names []string) *discovery.DiscoveryResponse {
	nameKey := strings.Join(names, "\x00")
	if wildcard {
		nameKey = "*"
	}
	sr := &ts.responses
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if sr.version != version {
		sr.version, sr.byNames = version, map[string]*discovery.DiscoveryResponse{}
	}
	if r, ok := sr.byNames[nameKey]; ok {
		return r
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(nameKey))
	anys := make([]*anypb.Any, 0, len(names))
	for _, n := range names {
		anys = append(anys, ts.entries[n].any)
	}
	r := &discovery.DiscoveryResponse{
		VersionInfo: version,
		Resources:   anys,
		TypeUrl:     ts.url,
		Nonce:       version + "-" + strconv.Itoa(typ) + "-" + strconv.FormatUint(uint64(h.Sum32()), 16),
	}
	sr.byNames[nameKey] = r
	return r
}
