package xds

import (
	"errors"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/xds/re2"
)

// Envoy rejects a route configuration holding a regex whose RE2 program is
// over its limit ("RE2 program size of 202 > max program size of 100");
// ValidateAll and Go's regexp accept it, so Check looks for it.
func TestCheckCatchesRegexTooLargeForEnvoy(t *testing.T) {
	r := validSet(t)
	route := r.Routes[1].(*routev3.RouteConfiguration).VirtualHosts[0].Routes[0]
	route.Match.Headers = []*routev3.HeaderMatcher{
		{Name: "x-ok", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "^(sre|platform)$"}}}}},
		{Name: "x-user", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "^[a-z]{200}$"}}}}},
	}
	require.NoError(t, route.ValidateAll(), "the protos' validation lets it through")
	err := Check(r)
	require.Error(t, err)
	require.True(t, errors.Is(err, ErrInvalidResource))
	require.True(t, errors.Is(err, re2.ErrTooLarge))
	require.ErrorContains(t, err, `RouteConfiguration "http_80": virtual host "web": route 0 "default": headers[1] "x-user": regex too large`)

	route.Match.Headers = nil
	route.Match.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "/(a|b){60}"}}
	require.ErrorContains(t, Check(r), `route 0 "default": match.safe_regex: regex too large`)
}
