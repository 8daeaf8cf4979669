package xdsload

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/sluicehq/sluice/xds"
)

// floorServer is the least an ADS server can do for the benchmark's
// client, the floor under any control plane: it answers a stream's first
// request for a type with the named resources (marshalled once per type
// and set of names, for all streams), reads and counts ACKs, and pushes a
// change by writing one DiscoveryResponse, marshalled once, to every open
// stream. No caching, change detection, subscription or ACK bookkeeping.
// It speaks delta ADS the same way: a request that answers no nonce is
// answered with the resources it subscribes to, and a push writes one
// DeltaDiscoveryResponse holding the changed route, marshalled once.
type floorServer struct {
	mu       sync.Mutex
	res      *xds.Resources
	initial  map[string]*rawMessage // type URL + names -> first answer
	streams  map[*floorStream]struct{}
	requests atomic.Int64 // requests that answer a response (ACKs)
}

// rawMessage is a message already marshalled; rawCodec writes its bytes.
type rawMessage struct{ b []byte }

// rawCodec is the proto codec, except that a *rawMessage is written as
// is, so one marshalled response can go to many streams.
type rawCodec struct{ encoding.CodecV2 }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*rawMessage); ok {
		return mem.BufferSlice{mem.SliceBuffer(m.b)}, nil
	}
	return c.CodecV2.Marshal(v)
}

type floorStream struct {
	mu    sync.Mutex // one writer at a time
	s     grpc.ServerStream
	delta bool
}

func (fs *floorStream) send(m *rawMessage) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.s.SendMsg(m)
}

func newFloorServer(res *xds.Resources) *floorServer {
	return &floorServer{res: res, initial: map[string]*rawMessage{}, streams: map[*floorStream]struct{}{}}
}

// register adds the ADS service to g; g must use rawCodec (floorOptions).
func (f *floorServer) register(g *grpc.Server) {
	g.RegisterService(&grpc.ServiceDesc{
		ServiceName: "envoy.service.discovery.v3.AggregatedDiscoveryService",
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{{
			StreamName: "StreamAggregatedResources", ServerStreams: true, ClientStreams: true,
			Handler: func(_ any, s grpc.ServerStream) error { return f.serve(s) },
		}, {
			StreamName: "DeltaAggregatedResources", ServerStreams: true, ClientStreams: true,
			Handler: func(_ any, s grpc.ServerStream) error { return f.serveDelta(s) },
		}},
		Metadata: "envoy/service/discovery/v3/ads.proto",
	}, f)
}

// floorOptions are grpcServerOptions with the codec that writes
// pre-marshalled responses.
func floorOptions() []grpc.ServerOption {
	return append(grpcServerOptions(), grpc.ForceServerCodecV2(rawCodec{encoding.GetCodecV2("proto")}))
}

// open registers a stream for pushes; the function it returns forgets it.
func (f *floorServer) open(s grpc.ServerStream, delta bool) (*floorStream, func()) {
	fs := &floorStream{s: s, delta: delta}
	f.mu.Lock()
	f.streams[fs] = struct{}{}
	f.mu.Unlock()
	return fs, func() {
		f.mu.Lock()
		delete(f.streams, fs)
		f.mu.Unlock()
	}
}

func (f *floorServer) serve(s grpc.ServerStream) error {
	fs, closed := f.open(s, false)
	defer closed()
	for {
		var req discovery.DiscoveryRequest
		if err := s.RecvMsg(&req); err != nil {
			return nil
		}
		if req.GetResponseNonce() != "" {
			f.requests.Add(1)
			continue
		}
		m, err := f.first(req.GetTypeUrl(), req.GetResourceNames())
		if err != nil {
			return err
		}
		if err := fs.send(m); err != nil {
			return nil
		}
	}
}

func (f *floorServer) serveDelta(s grpc.ServerStream) error {
	fs, closed := f.open(s, true)
	defer closed()
	for {
		var req discovery.DeltaDiscoveryRequest
		if err := s.RecvMsg(&req); err != nil {
			return nil
		}
		if req.GetResponseNonce() != "" {
			f.requests.Add(1)
			continue
		}
		m, err := f.firstDelta(req.GetTypeUrl(), req.GetResourceNamesSubscribe())
		if err != nil {
			return err
		}
		if err := fs.send(m); err != nil {
			return nil
		}
	}
}

// first is the answer to a first request for names of a type, at version 1.
func (f *floorServer) first(typeURL string, names []string) (*rawMessage, error) {
	return f.initialAnswer("sotw", typeURL, names, marshalResponse)
}

// firstDelta is the delta answer to a subscription to names of a type,
// at version 1.
func (f *floorServer) firstDelta(typeURL string, names []string) (*rawMessage, error) {
	return f.initialAnswer("delta", typeURL, names, marshalDeltaResponse)
}

// initialAnswer marshals the resources of a type among names once per
// protocol, type and names.
func (f *floorServer) initialAnswer(proto, typeURL string, names []string,
	marshal func(string, uint64, []types.Resource) (*rawMessage, error)) (*rawMessage, error) {
	key := proto + "\x00" + typeURL + "\x00" + strings.Join(names, "\x00")
	f.mu.Lock()
	defer f.mu.Unlock()
	if m, ok := f.initial[key]; ok {
		return m, nil
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	var picked []types.Resource
	for _, r := range f.res.ByType()[typeURL] {
		if want[cachev3.GetResourceName(r)] {
			picked = append(picked, r)
		}
	}
	m, err := marshal(typeURL, 1, picked)
	if err != nil {
		return nil, err
	}
	f.initial[key] = m
	return m, nil
}

// marshalResponse marshals a DiscoveryResponse whose nonce is its version.
func marshalResponse(typeURL string, version uint64, rs []types.Resource) (*rawMessage, error) {
	v := strconv.FormatUint(version, 10)
	resp := &discovery.DiscoveryResponse{VersionInfo: v, Nonce: v, TypeUrl: typeURL}
	for _, r := range rs {
		a, err := anypb.New(r)
		if err != nil {
			return nil, fmt.Errorf("floor: marshal %s: %w", cachev3.GetResourceName(r), err)
		}
		resp.Resources = append(resp.Resources, a)
	}
	b, err := proto.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("floor: marshal response: %w", err)
	}
	return &rawMessage{b: b}, nil
}

// marshalDeltaResponse marshals a DeltaDiscoveryResponse whose system
// version, nonce and resource versions are version.
func marshalDeltaResponse(typeURL string, version uint64, rs []types.Resource) (*rawMessage, error) {
	v := strconv.FormatUint(version, 10)
	resp := &discovery.DeltaDiscoveryResponse{SystemVersionInfo: v, Nonce: v, TypeUrl: typeURL}
	for _, r := range rs {
		a, err := anypb.New(r)
		if err != nil {
			return nil, fmt.Errorf("floor: marshal %s: %w", cachev3.GetResourceName(r), err)
		}
		resp.Resources = append(resp.Resources, &discovery.Resource{Name: cachev3.GetResourceName(r), Version: v, Resource: a})
	}
	b, err := proto.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("floor: marshal delta response: %w", err)
	}
	return &rawMessage{b: b}, nil
}

// pushRoute marshals the benchmark service's route configuration of res
// once per protocol the open streams speak and writes it to every open
// stream, from as many goroutines as there are CPUs.
func (f *floorServer) pushRoute(res *xds.Resources, version uint64) error {
	var route []types.Resource
	for _, r := range res.Routes {
		if cachev3.GetResourceName(r) == "grpc_"+BenchService {
			route = append(route, r)
		}
	}
	if len(route) != 1 {
		return fmt.Errorf("floor: %d route configurations named grpc_%s", len(route), BenchService)
	}
	f.mu.Lock()
	streams := make([]*floorStream, 0, len(f.streams))
	var sotw, delta bool
	for fs := range f.streams {
		streams = append(streams, fs)
		sotw, delta = sotw || !fs.delta, delta || fs.delta
	}
	f.mu.Unlock()
	var m, md *rawMessage
	var err error
	if sotw {
		if m, err = marshalResponse(resource.RouteType, version, route); err != nil {
			return err
		}
	}
	if delta {
		if md, err = marshalDeltaResponse(resource.RouteType, version, route); err != nil {
			return err
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(streams)); i = next.Add(1) - 1 {
				fs := streams[i]
				if fs.delta {
					_ = fs.send(md) // a stream that ended is gone from the next push
				} else {
					_ = fs.send(m)
				}
			}
		})
	}
	wg.Wait()
	return nil
}
