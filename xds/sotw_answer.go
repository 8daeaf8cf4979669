package xds

import (
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"sync"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// answer is the state-of-the-world response for one subscription to one
// type snapshot at one version. It is built once and shared by every
// stream with that subscription: the message, its nonce, its content hash
// and, encoded on first use, its bytes on the wire.
type answer struct {
	resp *discovery.DiscoveryResponse
	// hash identifies the names and contents the response carries; a
	// stream that was sent an answer with the same hash lacks nothing.
	hash uint64
	enc  encodedOnce
}

// encodedOnce is a response's bytes on the wire, encoded by the first
// stream that sends it and written as they are by every other.
type encodedOnce struct {
	once sync.Once
	msg  grpc.PreparedMsg
	err  error // from encoding msg; streams then send the message
}

// send writes m to st: the bytes encoded once when prepared (st's
// responses are not compressed, so every stream's bytes are the same),
// else m itself, encoded by gRPC for st.
func (e *encodedOnce) send(st grpc.ServerStream, m proto.Message, prepared bool) error {
	if !prepared {
		return st.SendMsg(m)
	}
	e.once.Do(func() { e.err = e.msg.Encode(st, m) })
	if e.err != nil {
		return st.SendMsg(m)
	}
	return st.SendMsg(&e.msg)
}

// answers holds the answers built from a type snapshot for one version,
// by subscription (answerKey).
type answers struct {
	mu      sync.Mutex
	version string
	bySub   map[string]*answer
}

// answerKey identifies a subscription: "*" for a wildcard one, else its
// names in order.
func answerKey(wildcard bool, names map[string]struct{}) string {
	if wildcard {
		return "*"
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	return strings.Join(sorted, "\x00")
}

// answer returns the shared answer to subscription t at version, building
// it on first use.
func (ts *typeSnapshot) answer(version string, typ int, t *sotwType) *answer {
	as := &ts.answers
	as.mu.Lock()
	defer as.mu.Unlock()
	if as.version != version {
		as.version, as.bySub = version, map[string]*answer{}
	}
	if a, ok := as.bySub[t.sub]; ok {
		return a
	}
	names := ts.selectNames(t)
	h := fnv.New64a()
	anys := make([]*anypb.Any, 0, len(names))
	for _, n := range names {
		e := ts.entries[n]
		_, _ = h.Write([]byte(n))
		_, _ = h.Write([]byte{0})
		_, _ = h.Write([]byte(e.hash))
		_, _ = h.Write([]byte{0})
		anys = append(anys, e.any)
	}
	sub := fnv.New32a()
	_, _ = sub.Write([]byte(t.sub))
	a := &answer{hash: h.Sum64(), resp: &discovery.DiscoveryResponse{
		VersionInfo: version,
		Resources:   anys,
		TypeUrl:     ts.url,
		Nonce:       version + "-" + strconv.Itoa(typ) + "-" + strconv.FormatUint(uint64(sub.Sum32()), 16),
	}}
	as.bySub[t.sub] = a
	return a
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
