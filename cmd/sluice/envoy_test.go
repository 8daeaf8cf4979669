package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEnvoyBootstrapWritesSDSFiles: with --tls-*, the bootstrap names two
// SDS files and the command writes them (into --tls-sds-dir, or beside the
// certificate); writing them again changes nothing; a directory that
// cannot be written is an error and prints no bootstrap.
func TestEnvoyBootstrapWritesSDSFiles(t *testing.T) {
	certs, sds := t.TempDir(), t.TempDir()
	args := []string{"envoy", "bootstrap", "--node-id", "web-1", "--cluster", "web", "--xds", "127.0.0.1:18000",
		"--tls-ca", filepath.Join(certs, "ca.crt"), "--tls-cert", filepath.Join(certs, "proxy-web.crt"), "--tls-key", filepath.Join(certs, "proxy-web.key")}

	out, errOut, err := run(t, "", append(args, "--tls-sds-dir", sds)...)
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join(sds, "*.sds-*.json"))
	require.NoError(t, err)
	require.Len(t, files, 2, "the certificate's and the CA's")
	for _, f := range files {
		require.Contains(t, out, f, "the bootstrap names %s", f)
		require.Contains(t, errOut, "wrote "+f)
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		require.Contains(t, string(data), certs, "the SDS file names the certificate files")
	}
	info, err := os.Stat(files[0])
	require.NoError(t, err)

	again, _, err := run(t, "", append(args, "--tls-sds-dir", sds)...)
	require.NoError(t, err)
	require.Equal(t, out, again)
	same, err := os.Stat(files[0])
	require.NoError(t, err)
	require.Equal(t, info.ModTime(), same.ModTime(), "an SDS file that holds the same is not written again")

	beside, _, err := run(t, "", args...)
	require.NoError(t, err)
	require.Contains(t, beside, filepath.Join(certs, "proxy-web.sds-"), "by default beside the certificate")

	out, _, err = run(t, "", append(args, "--tls-sds-dir", filepath.Join(sds, "missing"))...)
	require.ErrorContains(t, err, "write the SDS file the bootstrap names (--tls-sds-dir)")
	require.Empty(t, strings.TrimSpace(out))
}

// TestEnvoyBootstrapRefusesRelativeTLSPaths: a relative --tls-* path would
// be resolved from Envoy's working directory, not this command's, so it is
// refused, naming the flag, and nothing is printed or written.
func TestEnvoyBootstrapRefusesRelativeTLSPaths(t *testing.T) {
	certs := t.TempDir()
	base := []string{"envoy", "bootstrap", "--node-id", "web-1", "--cluster", "web", "--xds", "127.0.0.1:18000",
		"--tls-ca", filepath.Join(certs, "ca.crt"), "--tls-key", filepath.Join(certs, "proxy-web.key")}
	out, _, err := run(t, "", append(base, "--tls-cert", "tls/proxy-web.crt")...)
	require.ErrorContains(t, err, `--tls-cert "tls/proxy-web.crt": give an absolute path`)
	require.Empty(t, strings.TrimSpace(out))
	_, _, err = run(t, "", append(base, "--tls-cert", filepath.Join(certs, "proxy-web.crt"), "--tls-sds-dir", "sds")...)
	require.ErrorContains(t, err, `--tls-sds-dir "sds": give an absolute path`)
	written, err := filepath.Glob(filepath.Join(certs, "*.sds-*"))
	require.NoError(t, err)
	require.Empty(t, written, "no SDS file written")
}
