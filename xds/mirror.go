package xds

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/sluicehq/sluice/config"
)

// A mirror step (config.StepSpec.Mirror) routes every user to stable (its
// weight is 0, so the weighted routes hold only stable) and asks Envoy to
// copy a share of the requests to the new version: a request mirror
// policy with a runtime fraction on each route of the service's Envoy
// virtual host. Envoy sends the copy without waiting for it, discards its
// answer, and appends "-shadow" to its Host/authority.
//
// Only the Envoy gateway virtual host (http_<port>) mirrors. A grpc
// service's own route configuration (grpc_<service>, read through its
// api listener by proxyless gRPC clients) gets no mirror policy: grpc-go
// does not implement request_mirror_policies, so there a mirror step
// serves stable only. The controller records that per proxy group
// (state.SkipMirror), so it is never silent.

// EnvoyUserAgent is the user_agent_name Envoy puts in its xDS node.
const EnvoyUserAgent = "envoy"

// Proxyless reports whether an xDS client resolves routes itself instead
// of being an Envoy proxy: grpc-go sends "gRPC Go". A client that does not
// say it is Envoy is taken not to mirror, so that a skipped mirror is
// recorded rather than assumed away.
func Proxyless(node *corev3.Node) bool {
	return node.GetUserAgentName() != EnvoyUserAgent
}

// mirrorRoutes adds the release's mirror policy to every route of an
// Envoy virtual host while the service is at a mirror step.
func (t *translator) mirrorRoutes(svc *config.Service, routes []*routev3.Route) {
	rt, releasing := t.st.Routing(svc.Metadata.Name)
	if !releasing || rt.Mirror == 0 {
		return
	}
	for _, r := range routes {
		if ra := r.GetRoute(); ra != nil {
			ra.RequestMirrorPolicies = []*routev3.RouteAction_RequestMirrorPolicy{mirrorPolicy(clusterName(svc.Metadata.Name, rt.To), rt.Mirror)}
		}
	}
}

// mirrorPolicy copies percent of the requests to cluster.
func mirrorPolicy(cluster string, percent uint32) *routev3.RouteAction_RequestMirrorPolicy {
	return &routev3.RouteAction_RequestMirrorPolicy{
		Cluster: cluster,
		RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{
			Numerator:   percent,
			Denominator: typev3.FractionalPercent_HUNDRED,
		}},
	}
}

// mirrorReferences checks that every mirror policy names a cluster that
// exists.
func (c *checker) mirrorReferences(kind, name, where string, a *routev3.RouteAction) {
	for _, mp := range a.GetRequestMirrorPolicies() {
		c.refer(kind, name, where+": request_mirror_policies", kindCluster, mp.GetCluster())
	}
}

// markProxyless notes that a stream's client does not mirror; its group
// counts it (GroupStatus.Proxyless).
func (t *Tracker) markProxyless(stream int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.streams[stream]; ok {
		s.proxyless = true
	}
}
