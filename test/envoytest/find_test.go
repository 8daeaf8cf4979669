package envoytest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeEnvoy writes a script that prints version as `envoy --version` does.
func fakeEnvoy(t *testing.T, version string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "envoy")
	script := "#!/bin/sh\necho 'envoy  version: 9e5580933739775e8bce696a57a2e1bc99368f23/" + version + "/Clean/RELEASE/BoringSSL'\n"
	require.NoError(t, os.WriteFile(p, []byte(script), 0o755))
	return p
}

func TestVersion(t *testing.T) {
	v, err := Version(fakeEnvoy(t, "1.40.0"))
	require.NoError(t, err)
	require.Equal(t, "1.40.0", v)
	v, err = Version(fakeEnvoy(t, "1.39.2"))
	require.ErrorIs(t, err, ErrWrongVersion)
	require.Equal(t, "1.39.2", v)
	_, err = Version(fakeEnvoy(t, "garbage"))
	require.ErrorIs(t, err, ErrWrongVersion)
	_, err = Version(filepath.Join(t.TempDir(), "missing"))
	require.Error(t, err)
}

func TestFindHonoursEnv(t *testing.T) {
	good := fakeEnvoy(t, "1.40.3")
	t.Setenv(EnvVar, good)
	bin, err := Find()
	require.NoError(t, err)
	require.Equal(t, good, bin)

	// A wrong $ENVOY is an error, not a silent fallback.
	t.Setenv(EnvVar, fakeEnvoy(t, "1.41.0"))
	_, err = Find()
	require.ErrorIs(t, err, ErrWrongVersion)
	require.ErrorContains(t, err, EnvVar+"=")
}

func TestFindExplainsWhatToDo(t *testing.T) {
	t.Setenv(EnvVar, "")
	t.Setenv("PATH", t.TempDir())
	t.Chdir(t.TempDir()) // no go.mod above: no project-local binary
	_, err := Find()
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorContains(t, err, "make envoy")
}
