package xds

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/sluicehq/sluice/xds/re2"
)

// ErrInvalidResource is matched (errors.Is) by a resource that fails the
// Envoy protos' own validation or one of the semantic checks Envoy or a
// gRPC client would reject it for (weights summing to 0, a locality
// without a weight, a duplicate endpoint address, ...). Such resources are
// never published.
var ErrInvalidResource = errors.New("invalid xDS resource")

// ErrDanglingReference is matched (errors.Is) when a resource names another
// that is not in the same set: a listener's route configuration, a route's
// cluster, or an EDS cluster's load assignment. A client would wait for the
// missing resource forever (or until its not-found timer fires).
var ErrDanglingReference = errors.New("dangling reference")

// Resource kinds as they appear in error messages.
const (
	kindListener = "Listener"
	kindRoute    = "RouteConfiguration"
	kindCluster  = "Cluster"
	kindEndpoint = "ClusterLoadAssignment"
)

// Type URLs of the packed messages Check looks into.
const (
	hcmTypeURL    = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
	routerTypeURL = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
)

// Check reports every problem in a set of resources at once, each naming
// the resource type and name: ValidateAll on every resource; the semantic
// checks gRPC clients apply (weighted clusters summing to more than 0, every
// locality with a Locality and a non-zero weight, no endpoint weight 0, no
// duplicate endpoint address, router filter last, RDS and EDS over ADS) and
// unique names per type; regular expressions within Envoy's RE2 program
// size limit; and the reference check: every listener's route
// configuration (in a filter chain or an api_listener), every route's
// cluster and every EDS cluster's load assignment exists. Problems wrap
// ErrInvalidResource or ErrDanglingReference; nil means the set can be
// published.
func Check(r *Resources) error {
	if r == nil {
		return nil
	}
	c := &checker{
		routes:    make(map[string]bool, len(r.Routes)),
		clusters:  make(map[string]bool, len(r.Clusters)),
		endpoints: make(map[string]bool, len(r.Endpoints)),
	}
	listeners := make(map[string]bool, len(r.Listeners))
	for _, res := range r.Listeners {
		if l, ok := typed[*listenerv3.Listener](c, kindListener, listeners, res); ok {
			c.listener(l)
		}
	}
	for _, res := range r.Routes {
		if rc, ok := typed[*routev3.RouteConfiguration](c, kindRoute, c.routes, res); ok {
			c.routeConfig(kindRoute, rc.GetName(), "", rc)
		}
	}
	for _, res := range r.Clusters {
		if cl, ok := typed[*clusterv3.Cluster](c, kindCluster, c.clusters, res); ok {
			c.cluster(cl)
		}
	}
	for _, res := range r.Endpoints {
		if cla, ok := typed[*endpointv3.ClusterLoadAssignment](c, kindEndpoint, c.endpoints, res); ok {
			c.loadAssignment(cla)
		}
	}
	c.resolve()
	return errors.Join(c.errs...)
}

// checker collects problems and references while Check walks the
// resources.
type checker struct {
	errs []error

	// Names defined per referenced type.
	routes, clusters, endpoints map[string]bool
	// References to resolve once every name is known, in walk order.
	refs []reference
}

// reference is one resource naming another.
type reference struct {
	fromKind, fromName, where string
	toKind, toName            string
}

func (c *checker) invalid(kind, name, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s %q: %s: %w", kind, name, fmt.Sprintf(format, args...), ErrInvalidResource))
}

// invalidErr is invalid for a cause that callers may match too.
func (c *checker) invalidErr(kind, name, where string, err error) {
	c.errs = append(c.errs, fmt.Errorf("%s %q: %s: %w: %w", kind, name, where, err, ErrInvalidResource))
}

func (c *checker) refer(fromKind, fromName, where, toKind, toName string) {
	c.refs = append(c.refs, reference{fromKind: fromKind, fromName: fromName, where: where, toKind: toKind, toName: toName})
}

func (c *checker) resolve() {
	for _, r := range c.refs {
		var known map[string]bool
		switch r.toKind {
		case kindRoute:
			known = c.routes
		case kindCluster:
			known = c.clusters
		case kindEndpoint:
			known = c.endpoints
		}
		if !known[r.toName] {
			c.errs = append(c.errs, fmt.Errorf("%s %q: %s: no %s named %q: %w",
				r.fromKind, r.fromName, r.where, r.toKind, r.toName, ErrDanglingReference))
		}
	}
}

// typed asserts the resource's Go type, runs ValidateAll, and records its
// name in names, reporting a wrong type, a failed validation or a name
// defined twice. It returns false only when the resource cannot be
// inspected further.
func typed[T types.Resource](c *checker, kind string, names map[string]bool, res types.Resource) (T, bool) {
	v, ok := res.(T)
	if !ok {
		var zero T
		c.invalid(kind, resourceName(res), "resource of type %T in the %s list", res, kind)
		return zero, false
	}
	name := resourceName(v)
	if names[name] {
		c.invalid(kind, name, "name defined more than once")
	}
	names[name] = true
	if val, ok := res.(interface{ ValidateAll() error }); ok {
		if err := val.ValidateAll(); err != nil {
			c.invalid(kind, name, "%v", err)
		}
	}
	return v, true
}

// listener checks every HttpConnectionManager in the listener's filter
// chains and its api_listener.
func (c *checker) listener(l *listenerv3.Listener) {
	name := l.GetName()
	chains := l.GetFilterChains()
	if d := l.GetDefaultFilterChain(); d != nil {
		chains = append(chains[:len(chains):len(chains)], d)
	}
	for i, fc := range chains {
		for j, f := range fc.GetFilters() {
			if f.GetTypedConfig().GetTypeUrl() != hcmTypeURL {
				continue
			}
			where := fmt.Sprintf("filter_chains[%d].filters[%d]", i, j)
			if hcm, ok := c.unpackHCM(name, where, f.GetTypedConfig()); ok {
				c.connectionManager(name, where, hcm, false)
			}
		}
	}
	if al := l.GetApiListener(); al != nil {
		a := al.GetApiListener()
		if a.GetTypeUrl() != hcmTypeURL {
			c.invalid(kindListener, name, "api_listener: holds %q, not an HttpConnectionManager", a.GetTypeUrl())
			return
		}
		if hcm, ok := c.unpackHCM(name, "api_listener", a); ok {
			c.connectionManager(name, "api_listener", hcm, true)
		}
	}
}

func (c *checker) unpackHCM(listener, where string, a *anypb.Any) (*hcmv3.HttpConnectionManager, bool) {
	hcm := &hcmv3.HttpConnectionManager{}
	if err := anypb.UnmarshalTo(a, hcm, proto.UnmarshalOptions{}); err != nil {
		c.invalid(kindListener, listener, "%s: HttpConnectionManager does not decode: %v", where, err)
		return nil, false
	}
	if err := hcm.ValidateAll(); err != nil {
		c.invalid(kindListener, listener, "%s: %v", where, err)
	}
	return hcm, true
}

// connectionManager applies gRPC's rules for an HttpConnectionManager:
// routes by RDS over ADS (or inline), the router filter last and only
// last; for an api_listener also no xff_num_trusted_hops.
func (c *checker) connectionManager(listener, where string, hcm *hcmv3.HttpConnectionManager, api bool) {
	if api && hcm.GetXffNumTrustedHops() != 0 {
		c.invalid(kindListener, listener, "%s: xff_num_trusted_hops must be unset for gRPC clients", where)
	}
	if api && len(hcm.GetOriginalIpDetectionExtensions()) > 0 {
		c.invalid(kindListener, listener, "%s: original_ip_detection_extensions must be empty for gRPC clients", where)
	}
	switch rs := hcm.GetRouteSpecifier().(type) {
	case *hcmv3.HttpConnectionManager_Rds:
		src := rs.Rds.GetConfigSource()
		if src.GetAds() == nil && src.GetSelf() == nil {
			c.invalid(kindListener, listener, "%s: rds.config_source must be ads", where)
		}
		if n := rs.Rds.GetRouteConfigName(); n == "" {
			c.invalid(kindListener, listener, "%s: rds.route_config_name is empty", where)
		} else {
			c.refer(kindListener, listener, where+": rds.route_config_name", kindRoute, n)
		}
	case *hcmv3.HttpConnectionManager_RouteConfig:
		c.routeConfig(kindListener, listener, where+": route_config: ", rs.RouteConfig)
	default:
		c.invalid(kindListener, listener, "%s: routes must come from rds or route_config", where)
	}
	filters := hcm.GetHttpFilters()
	if len(filters) == 0 {
		c.invalid(kindListener, listener, "%s: http_filters is empty, the router filter must be last", where)
	}
	for i, f := range filters {
		isRouter := f.GetTypedConfig().GetTypeUrl() == routerTypeURL
		last := i == len(filters)-1
		switch {
		case last && !isRouter:
			c.invalid(kindListener, listener, "%s: last http filter %q is not the router", where, f.GetName())
		case !last && isRouter:
			c.invalid(kindListener, listener, "%s: router filter %q is not last", where, f.GetName())
		}
	}
}

// routeConfig checks a route configuration (a resource, or inline in a
// listener when prefix is set): unique domains, weighted clusters summing
// to more than 0, and the clusters every route names.
func (c *checker) routeConfig(kind, name, prefix string, rc *routev3.RouteConfiguration) {
	domains := map[string]string{}
	for _, vh := range rc.GetVirtualHosts() {
		for _, d := range vh.GetDomains() {
			key := strings.ToLower(d)
			if other, dup := domains[key]; dup {
				c.invalid(kind, name, "%svirtual host %q: domain %q is also in virtual host %q", prefix, vh.GetName(), d, other)
				continue
			}
			domains[key] = vh.GetName()
		}
		for i, r := range vh.GetRoutes() {
			where := fmt.Sprintf("%svirtual host %q: route %d", prefix, vh.GetName(), i)
			if n := r.GetName(); n != "" {
				where += fmt.Sprintf(" %q", n)
			}
			c.routeMatch(kind, name, where, r.GetMatch())
			c.routeAction(kind, name, where, r.GetRoute())
		}
	}
}

// routeMatch checks the regular expressions of a route's match against
// Envoy's RE2 program size limit: Envoy rejects the whole route
// configuration over one too large regex, which ValidateAll and Go's
// regexp both accept.
func (c *checker) routeMatch(kind, name, where string, m *routev3.RouteMatch) {
	if re := m.GetSafeRegex().GetRegex(); re != "" {
		if err := re2.Check(re); err != nil {
			c.invalidErr(kind, name, where+": match.safe_regex", err)
		}
	}
	for i, h := range m.GetHeaders() {
		re := h.GetStringMatch().GetSafeRegex().GetRegex()
		if re == "" {
			re = h.GetSafeRegexMatch().GetRegex()
		}
		if re == "" {
			continue
		}
		if err := re2.Check(re); err != nil {
			c.invalidErr(kind, name, fmt.Sprintf("%s: headers[%d] %q", where, i, h.GetName()), err)
		}
	}
}

func (c *checker) routeAction(kind, name, where string, a *routev3.RouteAction) {
	c.mirrorReferences(kind, name, where, a)
	switch cs := a.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		c.refer(kind, name, where, kindCluster, cs.Cluster)
	case *routev3.RouteAction_WeightedClusters:
		var sum uint64
		for _, cw := range cs.WeightedClusters.GetClusters() {
			sum += uint64(cw.GetWeight().GetValue())
			if cw.GetName() != "" {
				c.refer(kind, name, where, kindCluster, cw.GetName())
			}
		}
		switch {
		case sum == 0:
			c.invalid(kind, name, "%s: weighted_clusters weights sum to 0", where)
		case sum > math.MaxUint32:
			c.invalid(kind, name, "%s: weighted_clusters weights sum to %d, more than %d", where, sum, uint64(math.MaxUint32))
		}
	}
}

// cluster checks that an EDS cluster takes its endpoints over ADS, uses a
// load balancing policy gRPC clients support, and has a load assignment.
func (c *checker) cluster(cl *clusterv3.Cluster) {
	name := cl.GetName()
	if cl.GetLoadBalancingPolicy() == nil {
		switch cl.GetLbPolicy() {
		case clusterv3.Cluster_ROUND_ROBIN, clusterv3.Cluster_RING_HASH, clusterv3.Cluster_LEAST_REQUEST:
		default:
			c.invalid(kindCluster, name, "lb_policy %s is not supported by gRPC clients", cl.GetLbPolicy())
		}
	}
	if cl.GetType() != clusterv3.Cluster_EDS {
		return
	}
	src := cl.GetEdsClusterConfig().GetEdsConfig()
	if src.GetAds() == nil && src.GetSelf() == nil {
		c.invalid(kindCluster, name, "eds_cluster_config.eds_config must be ads")
	}
	eds := cl.GetEdsClusterConfig().GetServiceName()
	if eds == "" {
		eds = name
	}
	c.refer(kindCluster, name, "eds", kindEndpoint, eds)
}

// loadAssignment applies gRPC's rules for endpoints: every locality has a
// Locality and a non-zero weight and appears once per priority; no
// endpoint has weight 0; no address appears twice.
func (c *checker) loadAssignment(cla *endpointv3.ClusterLoadAssignment) {
	name := cla.GetClusterName()
	type localityKey struct {
		priority              uint32
		region, zone, subZone string
	}
	localities := map[localityKey]bool{}
	addrs := map[string]bool{}
	for i, lle := range cla.GetEndpoints() {
		where := fmt.Sprintf("endpoints[%d]", i)
		loc := lle.GetLocality()
		if loc == nil {
			c.invalid(kindEndpoint, name, "%s: locality is missing", where)
		} else {
			where += " (locality " + localityString(loc) + ")"
			key := localityKey{lle.GetPriority(), loc.GetRegion(), loc.GetZone(), loc.GetSubZone()}
			if localities[key] {
				c.invalid(kindEndpoint, name, "%s: locality listed twice at priority %d", where, lle.GetPriority())
			}
			localities[key] = true
		}
		if w := lle.GetLoadBalancingWeight(); w == nil || w.GetValue() == 0 {
			c.invalid(kindEndpoint, name, "%s: load_balancing_weight must be set and non-zero", where)
		}
		for j, lb := range lle.GetLbEndpoints() {
			if w := lb.GetLoadBalancingWeight(); w != nil && w.GetValue() == 0 {
				c.invalid(kindEndpoint, name, "%s: lb_endpoints[%d]: load_balancing_weight is 0", where, j)
			}
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			if sa == nil {
				continue
			}
			addr := net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10))
			if addrs[addr] {
				c.invalid(kindEndpoint, name, "%s: lb_endpoints[%d]: address %s appears more than once", where, j, addr)
			}
			addrs[addr] = true
		}
	}
}

func localityString(l *corev3.Locality) string {
	s := l.GetRegion() + "/" + l.GetZone()
	if l.GetSubZone() != "" {
		s += "/" + l.GetSubZone()
	}
	return s
}
