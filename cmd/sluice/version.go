package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// Set at build time by `make build`:
//
//	-ldflags "-X main.version=v1.2.3 -X main.commit=abc1234"
//
// Unset, they come from the build's VCS information.
var (
	version = ""
	commit  = ""
)

// Modules whose versions `sluice version` names.
const (
	controlPlaneModule = "github.com/envoyproxy/go-control-plane"
	envoyAPIModule     = "github.com/envoyproxy/go-control-plane/envoy"
)

// versionInfo is what `sluice version` prints.
type versionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	// Modified: the binary was built from a tree with uncommitted changes.
	Modified     bool   `json:"modified,omitempty"`
	Go           string `json:"go"`
	ControlPlane string `json:"goControlPlane"`
	// EnvoyAPI is the version of the Envoy API definitions (the
	// go-control-plane/envoy module, tagged like the Envoy release).
	EnvoyAPI string `json:"envoyAPI"`
}

// buildVersion assembles the version from the link-time values and the
// build information (nil when the binary has none).
func buildVersion(linkVersion, linkCommit string, bi *debug.BuildInfo) versionInfo {
	v := versionInfo{Version: linkVersion, Commit: linkCommit, Go: runtime.Version(), ControlPlane: "unknown", EnvoyAPI: "unknown"}
	if bi == nil {
		return fillUnknown(v)
	}
	v.Go = bi.GoVersion
	if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if v.Commit == "" {
				v.Commit = s.Value
			}
		case "vcs.modified":
			v.Modified = s.Value == "true" && linkCommit == ""
		}
	}
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		switch d.Path {
		case controlPlaneModule:
			v.ControlPlane = d.Version
		case envoyAPIModule:
			v.EnvoyAPI = d.Version
		}
	}
	return fillUnknown(v)
}

func fillUnknown(v versionInfo) versionInfo {
	if v.Version == "" {
		v.Version = "dev"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	return v
}

func newVersionCmd(c *cli) *cobra.Command {
	var output *outputFormat
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go version and the go-control-plane and Envoy API versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bi, _ := debug.ReadBuildInfo()
			v := buildVersion(version, commit, bi)
			return output.print(c.out, v, func(w io.Writer) error { return printVersion(w, v) })
		},
	}
	output = addOutputFlag(cmd)
	return cmd
}

func printVersion(w io.Writer, v versionInfo) error {
	commit := v.Commit
	if v.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(w, "sluice %s\n", v.Version)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  commit:\t%s\n", commit)
	fmt.Fprintf(tw, "  go:\t%s\n", v.Go)
	fmt.Fprintf(tw, "  go-control-plane:\t%s\n", v.ControlPlane)
	fmt.Fprintf(tw, "  envoy API:\t%s\n", v.EnvoyAPI)
	return tw.Flush()
}
