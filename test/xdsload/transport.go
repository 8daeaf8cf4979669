package xdsload

import (
	"context"
	"fmt"
	"slices"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/anypb"
)

// A stream's loop (Client.follow) is the same on both ADS protocols; a
// transport is what differs: how names are requested, how responses read
// and how they are ACKed or NACKed.

// reply is one response as the stream's loop reads it.
type reply struct {
	typ int
	// version is version_info on state of the world and
	// system_version_info on delta.
	version string
	nonce   string
	// resources are the resources the response carries: all those of the
	// type on state of the world (routes and endpoints: those named),
	// only what changed on delta.
	resources []*anypb.Any
	// removed names the resources a delta response removes.
	removed []string
}

// transport is one ADS stream's protocol.
type transport interface {
	// request makes names the subscription of type t; the stream's first
	// request carries node.
	request(t int, names []string, node *core.Node) error
	// recv reads the next response.
	recv() (*reply, error)
	// ack accepts r; nack rejects it, saying why.
	ack(r *reply) error
	nack(r *reply, why error) error
}

// nackStatus is the error_detail of a NACK.
func nackStatus(why error) *status.Status {
	return &status.Status{Code: int32(codes.InvalidArgument), Message: why.Error()}
}

// sotwTransport speaks state-of-the-world ADS: every request names the
// whole subscription and echoes the last accepted version.
type sotwTransport struct {
	s  discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	st *stream
}

func openSotw(ctx context.Context, conn *grpc.ClientConn, st *stream) (transport, error) {
	s, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, fmt.Errorf("open ADS stream: %w", err)
	}
	return &sotwTransport{s: s, st: st}, nil
}

func (t *sotwTransport) send(typ int, node *core.Node, detail *status.Status) error {
	ts := &t.st.types[typ]
	return t.s.Send(&discovery.DiscoveryRequest{
		Node:          node,
		TypeUrl:       typeURLs[typ],
		ResourceNames: ts.names,
		VersionInfo:   ts.version,
		ResponseNonce: ts.nonce,
		ErrorDetail:   detail,
	})
}

func (t *sotwTransport) request(typ int, names []string, node *core.Node) error {
	t.st.types[typ].names = names
	return t.send(typ, node, nil)
}

func (t *sotwTransport) recv() (*reply, error) {
	resp, err := t.s.Recv()
	if err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	typ := typeIndex(resp.GetTypeUrl())
	if typ < 0 {
		return nil, fmt.Errorf("response of unexpected type %q", resp.GetTypeUrl())
	}
	return &reply{typ: typ, version: resp.GetVersionInfo(), nonce: resp.GetNonce(), resources: resp.GetResources()}, nil
}

func (t *sotwTransport) ack(r *reply) error {
	ts := &t.st.types[r.typ]
	ts.version, ts.nonce = r.version, r.nonce
	return t.send(r.typ, nil, nil)
}

// nack answers r's nonce with the last accepted version, as a NACK does.
func (t *sotwTransport) nack(r *reply, why error) error {
	t.st.types[r.typ].nonce = r.nonce
	return t.send(r.typ, nil, nackStatus(why))
}

// deltaTransport speaks delta ADS, as Envoy and grpc-go's delta client
// do: a request subscribes and unsubscribes names relative to what the
// stream already asked for, and an ACK or NACK names only the nonce.
type deltaTransport struct {
	s  discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	st *stream
}

func openDelta(ctx context.Context, conn *grpc.ClientConn, st *stream) (transport, error) {
	s, err := discovery.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		return nil, fmt.Errorf("open delta ADS stream: %w", err)
	}
	return &deltaTransport{s: s, st: st}, nil
}

func (t *deltaTransport) request(typ int, names []string, node *core.Node) error {
	ts := &t.st.types[typ]
	var sub, unsub []string
	for _, n := range names {
		if !slices.Contains(ts.names, n) {
			sub = append(sub, n)
		}
	}
	for _, n := range ts.names {
		if !slices.Contains(names, n) {
			unsub = append(unsub, n)
		}
	}
	ts.names = names
	if len(sub) == 0 && len(unsub) == 0 {
		return nil
	}
	return t.s.Send(&discovery.DeltaDiscoveryRequest{
		Node:                     node,
		TypeUrl:                  typeURLs[typ],
		ResourceNamesSubscribe:   sub,
		ResourceNamesUnsubscribe: unsub,
	})
}

func (t *deltaTransport) recv() (*reply, error) {
	resp, err := t.s.Recv()
	if err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	typ := typeIndex(resp.GetTypeUrl())
	if typ < 0 {
		return nil, fmt.Errorf("delta response of unexpected type %q", resp.GetTypeUrl())
	}
	r := &reply{typ: typ, version: resp.GetSystemVersionInfo(), nonce: resp.GetNonce(), removed: resp.GetRemovedResources()}
	r.resources = make([]*anypb.Any, 0, len(resp.GetResources()))
	for _, res := range resp.GetResources() {
		if res.GetResource() == nil {
			return nil, fmt.Errorf("delta %s response: resource %q has no body", typeURLs[typ], res.GetName())
		}
		r.resources = append(r.resources, res.GetResource())
	}
	return r, nil
}

func (t *deltaTransport) ack(r *reply) error {
	ts := &t.st.types[r.typ]
	ts.version, ts.nonce = r.version, r.nonce
	return t.s.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: typeURLs[r.typ], ResponseNonce: r.nonce})
}

func (t *deltaTransport) nack(r *reply, why error) error {
	t.st.types[r.typ].nonce = r.nonce
	return t.s.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: typeURLs[r.typ], ResponseNonce: r.nonce, ErrorDetail: nackStatus(why)})
}
