package xds

import (
	"fmt"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sluicehq/sluice/config"
)

// defaultRouteName names the catch-all weighted route that ends every
// service's route list.
const defaultRouteName = "default"

// httpRouteConfig is the RouteConfiguration shared by the http services on
// one port: one virtual host per service, in service name order.
func httpRouteConfig(name string, vhs []*routev3.VirtualHost) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{Name: name, VirtualHosts: vhs}
}

// httpVirtualHost is an http service's virtual host (and a grpc service's
// on its gateway port), read by Envoy: its domains (the service name when
// it has none), each also with ":port" so that a Host header carrying the
// port matches, and the service's routes, which mirror at a mirror step.
func (t *translator) httpVirtualHost(svc *config.Service, weights []uint32) (*routev3.VirtualHost, error) {
	routes, err := t.serviceRoutes(svc, weights, "/")
	if err != nil {
		return nil, err
	}
	t.mirrorRoutes(svc, routes)
	return &routev3.VirtualHost{
		Name:    svc.Metadata.Name,
		Domains: httpDomains(svc),
		Routes:  routes,
	}, nil
}

// httpDomains lists the Host header values an http service answers to. The
// wildcard "*" already matches any port, so it gets no ":port" twin.
func httpDomains(svc *config.Service) []string {
	hosts := svc.Spec.Domains
	if len(hosts) == 0 {
		hosts = []string{svc.Metadata.Name}
	}
	domains := make([]string, 0, 2*len(hosts))
	seen := make(map[string]bool, 2*len(hosts))
	add := func(d string) {
		if !seen[d] {
			seen[d] = true
			domains = append(domains, d)
		}
	}
	for _, h := range hosts {
		add(h)
	}
	for _, h := range hosts {
		if h != "*" {
			add(fmt.Sprintf("%s:%d", h, svc.Spec.Port))
		}
	}
	return domains
}

// grpcRouteConfig is a grpc service's own RouteConfiguration: one virtual
// host whose domains are every target the client may dial, so that the
// lookup by target always finds it.
func (t *translator) grpcRouteConfig(svc *config.Service, weights []uint32, targets []string) (*routev3.RouteConfiguration, error) {
	routes, err := t.serviceRoutes(svc, weights, "")
	if err != nil {
		return nil, err
	}
	return &routev3.RouteConfiguration{
		Name: grpcRouteName(svc.Metadata.Name),
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    svc.Metadata.Name,
			Domains: targets,
			Routes:  routes,
		}},
	}, nil
}

// serviceRoutes is the ordered route list of one service for this group.
// It is the one place that decides how a service's traffic is split: the
// first matching route wins, so more specific routes (cohorts matched on a
// header, per-region overrides using t.group) go before the default
// weighted route, which always comes last and matches every request under
// prefix.
func (t *translator) serviceRoutes(svc *config.Service, weights []uint32, prefix string) ([]*routev3.Route, error) {
	preview, err := t.previewRoutes(svc, prefix)
	if err != nil {
		return nil, err
	}
	routes, err := t.splitRoutes(svc, weights, prefix)
	if err != nil {
		return nil, err
	}
	return append(preview, routes...), nil
}

// splitRoutes are a service's routes after its preview route: the cohort
// routes of its release's stage, or the default weighted route alone.
func (t *translator) splitRoutes(svc *config.Service, weights []uint32, prefix string) ([]*routev3.Route, error) {
	rt, releasing := t.st.Routing(svc.Metadata.Name)
	if releasing && rt.Stage != nil {
		return t.cohortRoutes(svc, rt, prefix)
	}
	def, err := weightedRoute(defaultRouteName, svc, weights, &routev3.RouteMatch{
		PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: prefix},
	})
	if err != nil {
		return nil, err
	}
	if releasing && rt.Cohorts != nil && rt.Cohorts.StickyHeader != "" {
		stickRoute(def, rt.Cohorts.StickyHeader, clusterName(svc.Metadata.Name, rt.To))
	}
	return []*routev3.Route{def}, nil
}

// weightedRoute sends requests matching match to the service's versions in
// proportion to weights (aligned with spec.versions).
func weightedRoute(name string, svc *config.Service, weights []uint32, match *routev3.RouteMatch) (*routev3.Route, error) {
	wc, err := weightedClusters(svc, weights)
	if err != nil {
		return nil, err
	}
	return &routev3.Route{
		Name:  name,
		Match: match,
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: wc},
		}},
	}, nil
}

// weightedClusters has one entry per version with a non-zero weight.
// Zero-weight versions are left out rather than listed with weight 0: gRPC
// clients skip them anyway, and leaving them out keeps the route readable.
// The sum of the weights is the total; total_weight is deprecated and never
// set.
func weightedClusters(svc *config.Service, weights []uint32) (*routev3.WeightedCluster, error) {
	name := svc.Metadata.Name
	if len(weights) != len(svc.Spec.Versions) {
		return nil, fmt.Errorf("%w: Service %q: %d weights for %d versions",
			ErrInvalidResource, name, len(weights), len(svc.Spec.Versions))
	}
	wc := &routev3.WeightedCluster{}
	for i, w := range weights {
		if w == 0 {
			continue
		}
		wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{
			Name:   clusterName(name, svc.Spec.Versions[i].Name),
			Weight: wrapperspb.UInt32(w),
		})
	}
	if len(wc.Clusters) == 0 {
		return nil, fmt.Errorf("%w: Service %q: every version has weight 0, so no traffic could be routed",
			ErrInvalidResource, name)
	}
	return wc, nil
}
