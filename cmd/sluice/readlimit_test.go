package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/api"
)

// A file or stdin larger than a request may be is refused before anything
// is sent, and the CLI reads at most one byte past the limit to know.
func TestApplyRefusesInputOverTheRequestLimit(t *testing.T) {
	huge := strings.Repeat("#", api.MaxBodyBytes+1)
	// No server listens on the address: the refusal comes first.
	_, _, err := run(t, huge, "--server", "127.0.0.1:1", "apply", "-f", "-")
	require.ErrorIs(t, err, errInputTooLarge)
	require.Contains(t, err.Error(), "<stdin>")

	path := filepath.Join(t.TempDir(), "big.yaml")
	require.NoError(t, os.WriteFile(path, []byte(huge), 0o600))
	_, _, err = run(t, "", "--server", "127.0.0.1:1", "apply", "-f", path)
	require.ErrorIs(t, err, errInputTooLarge)
	require.Contains(t, err.Error(), path)
}

func TestReadLimitedStopsAtTheLimit(t *testing.T) {
	data, err := readLimited("x", strings.NewReader("abc"), 3)
	require.NoError(t, err)
	require.Equal(t, "abc", string(data))
	// An endless reader is not read to its end.
	_, err = readLimited("x", endless{}, 1<<10)
	require.ErrorIs(t, err, errInputTooLarge)
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}
