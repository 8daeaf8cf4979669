package test

import (
	"encoding/json"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/test/envoytest"
	"github.com/sluicehq/sluice/xds/re2"
)

// regexBootstrap is a static Envoy configuration with one header regex;
// errorLevel, when set, lowers Envoy's RE2 program size limit (runtime
// re2.max_program_size.error_level) so that Envoy reports every size.
func regexBootstrap(t *testing.T, pattern string, errorLevel int) []byte {
	t.Helper()
	b := map[string]any{
		"admin": map[string]any{"address": map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": 0}}},
		"static_resources": map[string]any{"listeners": []any{map[string]any{
			"name":    "l",
			"address": map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": 1}},
			"filter_chains": []any{map[string]any{"filters": []any{map[string]any{
				"name": "hcm",
				"typed_config": map[string]any{
					"@type":        "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
					"stat_prefix":  "x",
					"http_filters": []any{map[string]any{"name": "router", "typed_config": map[string]any{"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}},
					"route_config": map[string]any{"virtual_hosts": []any{map[string]any{
						"name": "a", "domains": []any{"*"},
						"routes": []any{map[string]any{
							"match":           map[string]any{"prefix": "/", "headers": []any{map[string]any{"name": "x-user", "string_match": map[string]any{"safe_regex": map[string]any{"regex": pattern}}}}},
							"direct_response": map[string]any{"status": 200},
						}},
					}}},
				},
			}}}},
		}}},
	}
	if errorLevel > 0 {
		b["layered_runtime"] = map[string]any{"layers": []any{map[string]any{"name": "limit",
			"static_layer": map[string]any{"re2.max_program_size.error_level": errorLevel}}}}
	}
	out, err := json.Marshal(b)
	require.NoError(t, err)
	return out
}

var envoyProgramSize = regexp.MustCompile(`RE2 program size of (\d+) > max program size`)

// TestRegexLimitMatchesEnvoy is the regression test for the first class
// of resources found that Envoy rejects and Sluice's checks let through: a
// header regex whose RE2 program is over Envoy's limit. Against the real
// binary: re2.ProgramSize never under-estimates the size Envoy computes,
// and at the limit re2.Check accepts exactly what Envoy accepts.
func TestRegexLimitMatchesEnvoy(t *testing.T) {
	bin := envoytest.Binary(t)
	corpus := []string{
		"^a{98}$", "^a{99}$", "^a{200}$", "^[a-z]{200}$", "^(sre|platform)$", "abc", "^qa-.*$", ".*",
		`\d{3}-\d{4}`, "(?i)hello", `\pL+`, "^(foo|bar|baz)(-[0-9]+)?$", "x{2,5}", "[^a]", "(a+)(b+)", "^$",
		"[a-z]+@corp", ".", `\w+`, "[^x]+", "(?s).", "a|b", "ab|cd", `\.`, "^[0-9a-f]{8}-[0-9a-f]{4}$",
		`^\pL{50}$`, "^.{50}$", "^[0-9a-f]{50}$", "^(?i)[a-z]{50}$", `^\w{50}$`, "^[^x]{50}$", `^\pP$`, `^\PL$`,
		`^[\p{L}\p{N}]$`, `^\S$`, `^\D$`, "^(a*)*$", "^(a|b)*c$", "^a", "a$", "^(?i)k$", "^é$", `^a\bb$`,
		`^[\pL\pN\pP\pS]{3}$`, "^(a{3}|b{4}){5}$", "^x{0,40}$", "^(ab){20,}$", "(?m)^a$", `^\p{Sm}$`,
	}
	// Two validations at a time: each is an Envoy start.
	outs := make([]string, len(corpus))
	errs := make([]error, len(corpus))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i, re := range corpus {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			outs[i], errs[i] = envoytest.Validate(bin, regexBootstrap(t, re, 1))
		}()
	}
	wg.Wait()
	for i, re := range corpus {
		require.Error(t, errs[i], "%s: Envoy accepted it with a limit of 1", re)
		m := envoyProgramSize.FindStringSubmatch(outs[i])
		require.NotNil(t, m, "%s: Envoy's output has no program size:\n%s", re, outs[i])
		actual, _ := strconv.Atoi(m[1])
		est, err := re2.ProgramSize(re)
		require.NoError(t, err)
		require.GreaterOrEqualf(t, est, actual, "%s: estimate %d under Envoy's %d", re, est, actual)
		t.Logf("%-32s envoy %4d  estimate %4d", re, actual, est)
	}
	// At Envoy's default limit, Envoy and re2.Check agree.
	for _, re := range []string{"^a{98}$", "^a{99}$", "^[a-z]{200}$", "^(sre|platform)$", "^[0-9a-f]{48}$", "^[0-9a-f]{49}$"} {
		_, envoyErr := envoytest.Validate(bin, regexBootstrap(t, re, 0))
		require.Equalf(t, envoyErr == nil, re2.Check(re) == nil, "%s: Envoy accepts: %v, re2.Check: %v", re, envoyErr == nil, re2.Check(re))
	}
}
