package xds

import (
	"maps"
	"strconv"
	"sync"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
)

// Sluice's own delta (incremental) ADS handler. A delta response depends
// on what the stream already holds, so it cannot simply be shared by
// name set as state-of-the-world answers are. But the streams of a group
// mostly hold the same thing: they subscribed the same way and were sent
// the same answers. A stream whose resource versions are exactly those a
// shared answer left it with (or none yet) is answered from a table on
// the type snapshot keyed by (that answer, its subscription), so the diff
// and the encoding happen once for all such streams, and the versions map
// is shared. A stream that departs from that (it sent initial versions,
// or unsubscribed something) gets its own map and its own diffs, as
// go-control-plane's delta server would compute them. Subscriptions are
// go-control-plane's stream.Subscription, so the protocol's rules
// (legacy wildcard, explicit "*", unsubscribing under a wildcard) are
// its.

// incrementalStream is one delta ADS stream (see push.go).
type incrementalStream struct {
	streamCore // its mu guards types and nonces
	st         discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesServer
	types      [len(servedTypes)]deltaType // in the stream, as sotwStream's
	nonces     uint64                      // numbers the stream's own answers
}

// deltaType is what a delta stream subscribes to and holds for one type.
type deltaType struct {
	on  bool // the stream has asked for the type
	sub stream.Subscription
	key string // answerKey of sub
	// own is set once sub's resource versions are the stream's own;
	// until then they are from's next versions (read only), or empty
	// while from is nil.
	own  bool
	from *deltaAnswer
	// seen and changed are as for sotwType.
	seen    *typeSnapshot
	changed bool
}

func (a *adsServer) DeltaAggregatedResources(st discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	ds := &incrementalStream{st: st}
	ds.init(a.s, -(sotwStreamBase + a.s.nextStream.Add(1)), true, st.Context(), ds.flush)
	defer ds.close()
	return serve(&ds.streamCore, st.Recv, ds.request)
}

// request applies one delta request and reports whether the stream must
// be flushed: a type's first request, or one that subscribes or
// unsubscribes names. An ACK or NACK alone changes nothing to send: the
// versions a response carries count as held once it is sent, as on
// go-control-plane's delta server.
func (ds *incrementalStream) request(req *discovery.DeltaDiscoveryRequest) (bool, error) {
	if err := ds.openWith(req.GetNode()); err != nil {
		return false, err
	}
	// Delta has no stale requests: each answers its own nonce.
	ds.recordAnswer(req)
	i := servedIndex(req.GetTypeUrl())
	if i < 0 {
		return false, nil
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	t := &ds.types[i]
	if !t.on {
		*t = deltaType{on: true, sub: stream.NewDeltaSubscription(req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe(), req.GetInitialResourceVersions(), true)}
		t.own = len(t.sub.ReturnedResources()) > 0
	} else {
		if len(req.GetResourceNamesSubscribe()) == 0 && len(req.GetResourceNamesUnsubscribe()) == 0 {
			return false, nil
		}
		if len(req.GetResourceNamesUnsubscribe()) > 0 && !t.own {
			// Unsubscribing edits the versions map: make it the stream's.
			t.sub.SetReturnedResources(maps.Clone(t.sub.ReturnedResources()))
			t.own, t.from = true, nil
		}
		t.sub.UpdateResourceSubscriptions(req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe())
	}
	t.key = answerKey(t.sub.IsWildcard(), t.sub.SubscribedResources())
	t.changed = true
	return true, nil
}

// flush sends each subscribed type what the stream lacks of the group's
// newest snapshot, recording it as sotwStream.flush does.
func (ds *incrementalStream) flush() error {
	snap := ds.hg.snap.Load()
	if snap == nil {
		return nil
	}
	var sends [len(servedTypes)]*deltaAnswer
	var flushed [len(servedTypes)]flushedType
	ds.mu.Lock()
	for i := range ds.types {
		t, ts := &ds.types[i], snap.typeAt(i)
		if !t.on || ts == nil {
			continue
		}
		flushed[i].subscribed = true
		if !t.changed && t.seen == ts {
			continue
		}
		var a *deltaAnswer
		if t.own {
			ds.nonces++
			a = ts.ownDeltaAnswer(snap.version, i, &t.sub, ds.nonces)
		} else {
			a = ts.sharedDeltaAnswer(snap.version, i, t)
		}
		t.seen, t.changed = ts, false
		if a.resp == nil {
			continue
		}
		t.sub.SetReturnedResources(a.next)
		if !t.own {
			t.from = a
		}
		sends[i], flushed[i].nonce = a, a.resp.Nonce
	}
	ds.mu.Unlock()
	ds.flushed(snap.index, &flushed)
	for _, a := range sends {
		if a == nil {
			continue
		}
		if err := a.enc.send(ds.st, a.resp, ds.prepared && a.shared); err != nil {
			ds.s.log.Debug("xds write failed", "stream", ds.id, "group", ds.group, "err", err)
			return err
		}
	}
	return nil
}

// deltaAnswer is a delta response and the resource versions a stream
// holds once sent it; resp is nil when there was nothing to send. A
// shared answer's next map is read by every stream it was sent to and
// written by none.
type deltaAnswer struct {
	resp   *discovery.DeltaDiscoveryResponse
	next   map[string]string
	shared bool
	enc    encodedOnce
}

// deltaAnswers holds a type snapshot's shared delta answers for one
// version.
type deltaAnswers struct {
	mu      sync.Mutex
	version string
	byFrom  map[deltaFrom]*deltaAnswer
	seq     uint64 // numbers the answers' nonces
}

// deltaFrom is what a stream sharing answers holds: the versions a shared
// answer left it with (none when nil), and its subscription.
type deltaFrom struct {
	from *deltaAnswer
	key  string
}

// sharedDeltaAnswer returns the answer for every stream holding what t
// holds, building it from t on first use.
func (ts *typeSnapshot) sharedDeltaAnswer(version string, typ int, t *deltaType) *deltaAnswer {
	da := &ts.deltaAnswers
	da.mu.Lock()
	defer da.mu.Unlock()
	if da.version != version {
		da.version, da.byFrom = version, map[deltaFrom]*deltaAnswer{}
	}
	k := deltaFrom{from: t.from, key: t.key}
	if a, ok := da.byFrom[k]; ok {
		return a
	}
	a := &deltaAnswer{shared: true}
	if a.resp, a.next = ts.deltaDiff(&t.sub, version); a.resp != nil {
		da.seq++
		a.resp.Nonce = version + "-" + strconv.Itoa(typ) + "-d" + strconv.FormatUint(da.seq, 10)
	}
	da.byFrom[k] = a
	return a
}

// ownDeltaAnswer builds the answer for one stream with versions of its
// own; n numbers it among the stream's own answers.
func (ts *typeSnapshot) ownDeltaAnswer(version string, typ int, sub *stream.Subscription, n uint64) *deltaAnswer {
	a := &deltaAnswer{}
	if a.resp, a.next = ts.deltaDiff(sub, version); a.resp != nil {
		a.resp.Nonce = version + "-" + strconv.Itoa(typ) + "-o" + strconv.FormatUint(n, 10)
	}
	return a
}
