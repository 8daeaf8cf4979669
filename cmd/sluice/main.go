// Command sluice is the Sluice server and its command-line client.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/api"
)

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cmd, err := newRoot(os.Stdin, os.Stdout, os.Stderr).ExecuteContextC(ctx)
	stop()
	if err != nil {
		err = withNextStep(cmd, err)
		fmt.Fprintln(os.Stderr, "error:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// cli holds what every subcommand shares.
type cli struct {
	server string
	token  string
	caFile string
	// timeout bounds each API request (a watch's every poll).
	timeout time.Duration
	in      io.Reader
	out     io.Writer
	errOut  io.Writer
	// termSize tells a terminal from a pipe (nil: ask the OS).
	termSize func(io.Writer) (termSize, bool)
}

func (c *cli) client() *api.Client {
	var tlsConf *tls.Config
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		pool := x509.NewCertPool()
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			// Fail closed: an unreadable CA file must not fall back to
			// plaintext or to the system roots.
			pool = x509.NewCertPool()
			fmt.Fprintf(c.errOut, "warning: --ca-file %s holds no readable PEM certificate; no server will be trusted\n", c.caFile)
		}
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	cl := api.NewClientWith(c.server, api.ClientOptions{TLS: tlsConf, Timeout: c.timeout})
	cl.Actor = actorName()
	cl.Token = c.token
	return cl
}

func actorName() string {
	if u := os.Getenv("SLUICE_ACTOR"); u != "" {
		return u
	}
	if u := os.Getenv("USER"); u != "" {
		return "user:" + u
	}
	return "cli"
}

func newRoot(in io.Reader, out, errOut io.Writer) *cobra.Command {
	c := &cli{in: in, out: out, errOut: errOut}
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "Sluice ships releases safely across Envoy and gRPC fleets",
		Long:          "Sluice is a Raft-replicated xDS control plane. `sluice server` runs a node; the other commands talk to any node's API.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	defAddr := os.Getenv("SLUICE_ADDR")
	if defAddr == "" {
		defAddr = "127.0.0.1:7070"
	}
	root.PersistentFlags().StringVar(&c.server, "server", defAddr, "API address of any Sluice node (env SLUICE_ADDR)")
	root.PersistentFlags().StringVar(&c.caFile, "ca-file", os.Getenv("SLUICE_CA_FILE"), "CA bundle (PEM) that verifies the server's HTTPS certificate (env SLUICE_CA_FILE); addresses without a scheme then use https")
	root.PersistentFlags().DurationVar(&c.timeout, "timeout", 30*time.Second, "how long to wait for the server's answer to each API request (a watch waits this long for each refresh)")
	root.PersistentFlags().StringVar(&c.token, "token", os.Getenv("SLUICE_TOKEN"), "API token (env SLUICE_TOKEN); for server: the token its --join request uses")
	root.AddCommand(
		newServerCmd(c),
		newApplyCmd(c),
		newGetCmd(c),
		newDeleteCmd(c),
		newClusterCmd(c),
		newReleaseCmd(c),
		newTrainCmd(c),
		newNotifierCmd(c),
		newRiskCmd(c),
		newWindowCmd(c),
		newReportCmd(c),
		newTLSCmd(c),
		newSnapshotCmd(c),
		newEnvoyCmd(c),
		newImportCmd(c),
		newEndpointsCmd(c),
		newVersionCmd(c),
	)
	rejectUnknownSubcommands(root)
	return root
}
