package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/api"
)

// TestCLIUnknownSubcommand: a group command alone prints its help and
// succeeds; a misspelt subcommand fails and names the one meant.
func TestCLIUnknownSubcommand(t *testing.T) {
	out, _, err := run(t, "", "release")
	require.NoError(t, err)
	require.Contains(t, out, "Available Commands:")

	out, _, err = run(t, "", "release", "strat", "greeter", "--to", "v2")
	require.Error(t, err)
	require.Empty(t, out, "no help text on stdout for a mistake")
	require.Contains(t, err.Error(), `unknown command "strat" for "sluice release"`)
	require.Contains(t, err.Error(), "Did you mean this?\n\tstart\n")

	_, _, err = run(t, "", "train", "wach", "t1")
	require.ErrorContains(t, err, "Did you mean this?\n\twatch\n")
	_, _, err = run(t, "", "cluster", "xyzzy")
	require.ErrorContains(t, err, `unknown command "xyzzy" for "sluice cluster"`)
	require.NotContains(t, err.Error(), "Did you mean")
}

// TestCLIVersion: version, commit, Go and the xDS library versions, as a
// table and as JSON; an unknown -o is refused.
func TestCLIVersion(t *testing.T) {
	out, _, err := run(t, "", "version")
	require.NoError(t, err)
	require.Regexp(t, `^sluice \S+\n`, out)
	for _, field := range []string{"commit:", "go:", "go-control-plane:", "envoy API:"} {
		require.Contains(t, out, field)
	}
	out, _, err = run(t, "", "version", "-o", "json")
	require.NoError(t, err)
	var v versionInfo
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	require.NotEmpty(t, v.Version)
	require.True(t, strings.HasPrefix(v.Go, "go"), v.Go)

	_, _, err = run(t, "", "version", "-o", "xml")
	require.ErrorContains(t, err, `invalid argument "xml" for "-o, --output" flag: want table, yaml or json`)
}

// TestBuildVersion: link-time values win; otherwise the build's VCS
// information; the xDS modules come from the build's dependencies.
func TestBuildVersion(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/sluicehq/sluice", Version: "v0.3.0"},
		Deps: []*debug.Module{
			{Path: "github.com/envoyproxy/go-control-plane", Version: "v0.14.0"},
			{Path: "github.com/envoyproxy/go-control-plane/envoy", Version: "v1.39.0", Replace: &debug.Module{Path: "github.com/envoyproxy/go-control-plane/envoy", Version: "v1.40.0"}},
		},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.modified", Value: "true"}},
	}
	v := buildVersion("", "", bi)
	require.Equal(t, versionInfo{Version: "v0.3.0", Commit: "0123abc", Modified: true, Go: "go1.26.8", ControlPlane: "v0.14.0", EnvoyAPI: "v1.40.0"}, v)
	v = buildVersion("v1.0.0", "fedcba9", bi)
	require.Equal(t, "v1.0.0", v.Version)
	require.Equal(t, "fedcba9", v.Commit)
	require.False(t, v.Modified, "a commit given at link time is the whole truth")
	v = buildVersion("", "", nil)
	require.Equal(t, "dev", v.Version)
	require.Equal(t, "unknown", v.ControlPlane)
}

// TestCLIOutputFormats: -o json and -o yaml print the same typed object
// on every command that prints data; JSON step numbers match the table.
func TestCLIOutputFormats(t *testing.T) {
	addr := startServer(t)
	svc := filepath.Join(t.TempDir(), "greeter.yaml")
	require.NoError(t, os.WriteFile(svc, []byte(declaredYAML("v1")), 0o600))
	_, _, err := run(t, "", "--server", addr, "apply", "-f", svc)
	require.NoError(t, err)
	out, _, err := run(t, "", "--server", addr, "release", "start", "greeter", "--to", "v2", "--name", "greeter-v2")
	require.NoError(t, err, out)

	out, _, err = run(t, "", "--server", addr, "cluster", "members", "-o", "json")
	require.NoError(t, err)
	var members api.MembersResponse
	require.NoError(t, json.Unmarshal([]byte(out), &members))
	require.Len(t, members.Members, 1)
	out, _, err = run(t, "", "--server", addr, "cluster", "members", "-o", "yaml")
	require.NoError(t, err)
	var asYAML api.MembersResponse
	require.NoError(t, yaml.Unmarshal([]byte(out), &asYAML), out)
	require.Equal(t, members.Members[0].ID, asYAML.Members[0].ID)

	for _, args := range [][]string{{"report"}, {"risk", "explain", "greeter-v2"}, {"release", "status", "greeter-v2"}} {
		out, _, err = run(t, "", append([]string{"--server", addr, "-o", "json"}, args...)...)
		require.NoError(t, err, args)
		require.True(t, json.Valid([]byte(out)), "%v -o json: %s", args, out)
		out, _, err = run(t, "", append([]string{"--server", addr, "-o", "yaml"}, args...)...)
		require.NoError(t, err, args)
		var doc map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(out), &doc), "%v -o yaml: %s", args, out)
		require.NotEmpty(t, doc)
	}

	// Paused, the release records nothing more while the two are read.
	_, _, err = run(t, "", "--server", addr, "release", "pause", "greeter-v2")
	require.NoError(t, err)
	table, _, err := run(t, "", "--server", addr, "release", "history", "greeter-v2")
	require.NoError(t, err)
	out, _, err = run(t, "", "--server", addr, "release", "history", "greeter-v2", "-o", "json")
	require.NoError(t, err)
	var hist []struct {
		Seq    int    `json:"seq"`
		Action string `json:"action"`
		Step   *int   `json:"step"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &hist))
	rows := regexp.MustCompile(`(?m)^(\d+)\s+\S+\s+\S+\s+(\S+)\s+\S+\s+(\S+)\s`).FindAllStringSubmatch(table, -1)
	require.Len(t, rows, len(hist), table)
	sawStep := false
	for i, h := range hist {
		step := "-"
		if h.Step != nil {
			step = strconv.Itoa(*h.Step)
			sawStep = true
		}
		require.Equal(t, []string{strconv.Itoa(h.Seq), h.Action, step}, rows[i][1:], "decision %d: JSON and table disagree", h.Seq)
	}
	require.True(t, sawStep, "a started release has a decision at step 1: %s", table)

	// status: the step of -o json is the step of the table.
	table, _, err = run(t, "", "--server", addr, "release", "status", "greeter-v2")
	require.NoError(t, err)
	out, _, err = run(t, "", "--server", addr, "release", "status", "greeter-v2", "-o", "json")
	require.NoError(t, err)
	var st struct {
		Status struct {
			Step      int `json:"step"`
			Decisions []struct {
				Step *int `json:"step"`
			} `json:"decisions"`
		} `json:"status"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	m := regexp.MustCompile(`(?m)^Step:\s+(\d+)/`).FindStringSubmatch(table)
	require.NotNil(t, m, table)
	require.Equal(t, m[1], strconv.Itoa(st.Status.Step))
	require.Len(t, st.Status.Decisions, len(hist))
}

// TestCLIPausedShowsWho: a paused release's status names who paused it,
// why, and how to resume.
func TestCLIPausedShowsWho(t *testing.T) {
	addr := startServer(t)
	svc := filepath.Join(t.TempDir(), "greeter.yaml")
	require.NoError(t, os.WriteFile(svc, []byte(declaredYAML("v1")), 0o600))
	_, _, err := run(t, "", "--server", addr, "apply", "-f", svc)
	require.NoError(t, err)
	_, _, err = run(t, "", "--server", addr, "release", "start", "greeter", "--to", "v2", "--name", "greeter-v2")
	require.NoError(t, err)
	t.Setenv("SLUICE_ACTOR", "user:alice")
	_, _, err = run(t, "", "--server", addr, "release", "pause", "greeter-v2", "--reason", "INC-7: checking dashboards")
	require.NoError(t, err)
	out, _, err := run(t, "", "--server", addr, "release", "status", "greeter-v2")
	require.NoError(t, err)
	require.Regexp(t, `Paused:\s+pause by unverified:user:alice: INC-7: checking dashboards \(\d+s ago\); resume with: sluice release resume greeter-v2\n`, out)
}

// TestCLITimeout: a server that accepts the connection and never answers
// fails the command with the timeout named, instead of hanging.
func TestCLITimeout(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { lis.Close() })
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			go func() { <-done; conn.Close() }()
		}
	}()
	_, _, err = run(t, "", "--server", lis.Addr().String(), "--timeout", "200ms", "get", "services")
	require.Error(t, err)
	require.True(t, errors.Is(err, api.ErrNoAnswer), "%v", err)
	require.Contains(t, err.Error(), "no answer within 200ms")
	require.Contains(t, err.Error(), "--timeout")
}

// TestCLIXDSPort: --server pointed at a node's xDS port says so.
func TestCLIXDSPort(t *testing.T) {
	n := startNode(t)
	_, _, err := run(t, "", "--server", n.XDSAddr(), "get", "services")
	require.Error(t, err)
	require.True(t, errors.Is(err, api.ErrNotAPI), "%v", err)
	require.Contains(t, err.Error(), "xDS port")
	require.Contains(t, err.Error(), "--api-addr")
	require.NotRegexp(t, `\\x00|\x00`, err.Error(), "no raw HTTP/2 bytes")
}

// TestCLINotFoundNextStep: a name the server does not know is followed by
// the command that lists the names.
func TestCLINotFoundNextStep(t *testing.T) {
	addr := startServer(t)
	for args, want := range map[string]string{
		"release status nope": `not found: Release "nope"; sluice get releases lists them`,
		"risk explain nope":   `not found: Release "nope"; sluice get releases lists them`,
		"train status nope":   `; sluice get trains lists them`,
		"get services nope":   `; sluice get services|policies|releases|trains lists them`,
	} {
		var out, errOut bytes.Buffer
		root := newRoot(strings.NewReader(""), &out, &errOut)
		root.SetArgs(append([]string{"--server", addr}, strings.Fields(args)...))
		cmd, err := root.ExecuteContextC(context.Background())
		err = withNextStep(cmd, err)
		require.Error(t, err, args)
		require.Contains(t, err.Error(), want, args)
	}
}
