package xds

import (
	"fmt"
	"slices"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// cohortRoutes builds a service's routes while its release is at a cohort
// stage. Cohort routes (a tenant, a header) send the requests they match
// to the new version and come first; the default route splits the rest by
// the stage's percent. A region stage applies only to proxy groups in its
// regions; other groups keep all traffic on the stable version, except
// for requests whose region header (when configured) names a stage region.
func (t *translator) cohortRoutes(svc *config.Service, rt state.Routing, prefix string) ([]*routev3.Route, error) {
	stage := rt.Stage
	cohorts := rt.Cohorts
	if cohorts == nil {
		cohorts = &config.CohortSpec{}
	}
	tenantHeader := cohorts.TenantHeader
	if tenantHeader == "" {
		tenantHeader = config.DefaultTenantHeader
	}
	toOnly := state.SplitWeights(svc, rt.From, rt.To, 100)
	fromOnly := state.SplitWeights(svc, rt.From, rt.To, 0)
	percent := stage.EffectivePercent()
	split := state.SplitWeights(svc, rt.From, rt.To, percent)

	// selectors are the cohort matches of the stage, each with extra
	// conditions (the region header) added by the caller.
	selectors := func(extra []*routev3.HeaderMatcher, suffix string) ([]*routev3.Route, error) {
		var out []*routev3.Route
		for i, tenant := range stage.Tenants {
			m := append([]*routev3.HeaderMatcher{exactHeader(tenantHeader, tenant)}, extra...)
			r, err := weightedRoute(fmt.Sprintf("cohort-%s-tenant-%d%s", stage.Name, i, suffix), svc, toOnly, prefixMatch(prefix, m))
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		for i, h := range stage.Headers {
			m := append([]*routev3.HeaderMatcher{headerMatcher(h)}, extra...)
			r, err := weightedRoute(fmt.Sprintf("cohort-%s-header-%d%s", stage.Name, i, suffix), svc, toOnly, prefixMatch(prefix, m))
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	}

	var routes []*routev3.Route
	defaultWeights := fromOnly
	inScope := len(stage.Regions) == 0 || slices.Contains(stage.Regions, t.group.Region)
	switch {
	case inScope:
		rs, err := selectors(nil, "")
		if err != nil {
			return nil, err
		}
		routes = append(routes, rs...)
		defaultWeights = split
	case cohorts.RegionHeader != "":
		for _, region := range stage.Regions {
			extra := []*routev3.HeaderMatcher{exactHeader(cohorts.RegionHeader, region)}
			rs, err := selectors(extra, "-"+region)
			if err != nil {
				return nil, err
			}
			routes = append(routes, rs...)
			if percent > 0 {
				r, err := t.splitRoute(fmt.Sprintf("cohort-%s-region-%s", stage.Name, region), svc, rt, split, prefixMatch(prefix, extra), cohorts)
				if err != nil {
					return nil, err
				}
				routes = append(routes, r)
			}
		}
	}
	def, err := t.splitRoute(defaultRouteName, svc, rt, defaultWeights, prefixMatch(prefix, nil), cohorts)
	if err != nil {
		return nil, err
	}
	return append(routes, def), nil
}

// splitRoute is a weighted route; with a sticky header it hashes that
// header to pick the version (Envoy), listing the new version first so
// that a key on it stays on it as its share grows.
func (t *translator) splitRoute(name string, svc *config.Service, rt state.Routing, weights []uint32, match *routev3.RouteMatch, cohorts *config.CohortSpec) (*routev3.Route, error) {
	r, err := weightedRoute(name, svc, weights, match)
	if err != nil {
		return nil, err
	}
	if sticky := cohorts.StickyHeader; sticky != "" {
		stickRoute(r, sticky, clusterName(svc.Metadata.Name, rt.To))
	}
	return r, nil
}

// stickRoute makes a weighted route pick by a hash of header: the new
// version's cluster goes first, so the hash ranges that select it only
// grow with its weight.
func stickRoute(r *routev3.Route, header, newCluster string) {
	ra := r.GetRoute()
	wc := ra.GetWeightedClusters()
	if wc == nil || len(wc.Clusters) < 2 {
		return
	}
	slices.SortStableFunc(wc.Clusters, func(a, b *routev3.WeightedCluster_ClusterWeight) int {
		switch {
		case a.Name == newCluster:
			return -1
		case b.Name == newCluster:
			return 1
		}
		return 0
	})
	wc.RandomValueSpecifier = &routev3.WeightedCluster_UseHashPolicy{UseHashPolicy: wrapperspb.Bool(true)}
	ra.HashPolicy = []*routev3.RouteAction_HashPolicy{{
		PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: header}},
	}}
}

func prefixMatch(prefix string, headers []*routev3.HeaderMatcher) *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: prefix}, Headers: headers}
}

func exactHeader(name, value string) *routev3.HeaderMatcher {
	return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
		StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: value}},
	}}
}

// headerMatcher translates a policy header match to Envoy's matcher.
func headerMatcher(h config.HeaderMatch) *routev3.HeaderMatcher {
	m := &routev3.HeaderMatcher{Name: h.Name, InvertMatch: h.Invert}
	str := func(p any) {
		sm := &matcherv3.StringMatcher{}
		switch v := p.(type) {
		case *matcherv3.StringMatcher_Exact:
			sm.MatchPattern = v
		case *matcherv3.StringMatcher_Prefix:
			sm.MatchPattern = v
		case *matcherv3.StringMatcher_Suffix:
			sm.MatchPattern = v
		case *matcherv3.StringMatcher_SafeRegex:
			sm.MatchPattern = v
		}
		m.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: sm}
	}
	switch {
	case h.Exact != "":
		str(&matcherv3.StringMatcher_Exact{Exact: h.Exact})
	case h.Prefix != "":
		str(&matcherv3.StringMatcher_Prefix{Prefix: h.Prefix})
	case h.Suffix != "":
		str(&matcherv3.StringMatcher_Suffix{Suffix: h.Suffix})
	case h.Regex != "":
		str(&matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: h.Regex}})
	case h.Present != nil:
		m.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: *h.Present}
	}
	return m
}
