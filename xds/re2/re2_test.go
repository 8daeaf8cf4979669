package re2

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Sizes Envoy 1.40 reported for these patterns (runtime
// re2.max_program_size.error_level 1 makes it print every size); the
// estimate is exact for them. test/envoy_regex_test.go checks a larger
// corpus against the real binary.
func TestProgramSizeMatchesRE2(t *testing.T) {
	for re, want := range map[string]int{
		"^a{98}$":                   100,
		"^a{99}$":                   101,
		"^a{200}$":                  202,
		"^[a-z]{200}$":              202,
		"^[0-9a-f]{8}-[0-9a-f]{4}$": 27,
		"^a":                        4,
		"a":                         5,
		"a$":                        5,
		"^$":                        2,
		"abc":                       7,
		"^é$":                       4,
		"^(?i)k$":                   4,
	} {
		got, err := ProgramSize(re)
		require.NoError(t, err)
		require.Equal(t, want, got, re)
	}
}

func TestCheck(t *testing.T) {
	require.NoError(t, Check("^(sre|platform)$"))
	require.NoError(t, Check("^a{98}$"), "exactly at the limit")
	err := Check("^a{99}$")
	require.ErrorIs(t, err, ErrTooLarge)
	require.ErrorContains(t, err, "about 101")
	require.ErrorIs(t, Check("(a"), ErrSyntax)
	require.ErrorIs(t, Check(`\C`), ErrSyntax, "Go rejects what it cannot match")
}

// Hostile patterns are refused fast and within bounded memory: nested
// repetitions are not expanded.
func TestCheckHostile(t *testing.T) {
	for _, re := range []string{
		strings.Repeat("(", 500) + "a" + strings.Repeat(")", 500),
		"((((a{100}){100}){100}){100})",
		strings.Repeat("a", 512<<10),
		strings.Repeat("[a-z]{1000}", 100),
	} {
		start := time.Now()
		err := Check(re)
		require.Error(t, err)
		require.Less(t, time.Since(start), 5*time.Second)
		require.Less(t, len(err.Error()), 400, "the error does not repeat the pattern")
	}
}
