package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/certs"
	"github.com/sluicehq/sluice/xds"
)

func newEnvoyCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "envoy",
		Short: "Help Envoy proxies connect to Sluice",
	}
	cmd.AddCommand(newEnvoyBootstrapCmd(c))
	return cmd
}

func newEnvoyBootstrapCmd(c *cli) *cobra.Command {
	var (
		o      xds.BootstrapOptions
		output string
	)
	cmd := &cobra.Command{
		Use:   "bootstrap --node-id ID --cluster NAME --xds HOST:PORT [--xds HOST:PORT ...]",
		Short: "Print an Envoy bootstrap that takes its configuration from Sluice over ADS",
		Long: `Print a complete Envoy bootstrap (YAML or JSON) for one proxy.

The proxy's group is its --cluster, --region and --zone: every proxy of a
group receives the same listeners, routes, clusters and endpoints. List every
Sluice node with --xds: Envoy keeps one ADS stream to one of them and moves
to the next when that node goes away. --gateway-address makes the gateway
listeners bind one IP address (default 0.0.0.0, every interface).

Against servers with --xds-client-ca, give --tls-ca, --tls-cert and
--tls-key (all three; sluice tls init writes proxy-<cluster>.crt/.key): the
ADS stream then runs over mutual TLS, Envoy trusts only servers whose
certificate the CA signed and names a Sluice node, and the certificate's
cluster must be --cluster. The certificate, key and CA reach Envoy through
file-based SDS: the command also writes two small SDS files into
--tls-sds-dir (default: the directory of --tls-cert), which name the
certificate files; Envoy watches their directories and loads a rotated
certificate or CA from disk without a restart. Replace a file by renaming a
new one over it (write proxy-web.crt.tmp, then mv), not by writing in place.`,
		Example: `  sluice envoy bootstrap --node-id edge-1 --cluster edge --region eu-west --zone eu-west-1a \
    --xds 10.0.0.1:18000 --xds 10.0.0.2:18000 --xds 10.0.0.3:18000 > envoy.yaml
  envoy -c envoy.yaml
  sluice envoy bootstrap --node-id web-1 --cluster web --xds 10.0.0.1:18000 \
    --tls-ca /etc/sluice/tls/ca.crt --tls-cert /etc/sluice/tls/proxy-web.crt --tls-key /etc/sluice/tls/proxy-web.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := absoluteTLSPaths(o.TLS); err != nil {
				return err
			}
			b, err := xds.EnvoyBootstrap(o)
			if err != nil {
				return err
			}
			out, err := xds.MarshalBootstrap(b, output)
			if err != nil {
				return err
			}
			files, err := o.TLS.SDSFiles()
			if err != nil {
				return err
			}
			for _, f := range files {
				if err := writeFileAtomic(f.Path, f.Data); err != nil {
					return fmt.Errorf("write the SDS file the bootstrap names (--tls-sds-dir): %w", err)
				}
				fmt.Fprintf(c.errOut, "wrote %s\n", f.Path)
			}
			_, err = c.out.Write(out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.NodeID, "node-id", "", "the proxy's node id (unique per proxy)")
	f.StringVar(&o.Cluster, "cluster", "", "the proxy's cluster: with region and zone, its proxy group")
	f.StringVar(&o.Region, "region", "", "the proxy's locality region (region cohorts route by it)")
	f.StringVar(&o.Zone, "zone", "", "the proxy's locality zone")
	f.StringArrayVar(&o.XDS, "xds", nil, "a Sluice node's xDS address, host:port; repeat for every node")
	f.BoolVar(&o.Delta, "delta", false, "use incremental (delta) ADS instead of state of the world")
	f.StringVar(&o.Admin, "admin", xds.DefaultEnvoyAdmin, "Envoy's admin listen address (keep it private: it can change the proxy)")
	f.StringVar(&o.GatewayAddress, "gateway-address", "", "IP address the gateway listeners bind (default 0.0.0.0)")
	f.Uint64Var(&o.MaxConnections, "max-connections", xds.DefaultMaxDownstreamConnections, "downstream connections Envoy accepts in all")
	f.StringVar(&o.TLS.CA, "tls-ca", "", "CA file the xDS servers' certificates must chain to (mutual TLS)")
	f.StringVar(&o.TLS.Cert, "tls-cert", "", "the proxy's certificate file, presented to the xDS servers")
	f.StringVar(&o.TLS.Key, "tls-key", "", "the proxy's private key file")
	f.StringVar(&o.TLS.ServerName, "tls-server-name", "", "SNI sent to the xDS servers")
	f.StringVar(&o.TLS.SDSDir, "tls-sds-dir", "", "directory the SDS files are written to, on the proxy's host (default: the directory of --tls-cert)")
	f.StringVar(&o.TLS.TrustDomain, "tls-trust-domain", "", "trust domain of the nodes' identities (default "+certs.DefaultTrustDomain+")")
	f.StringVarP(&output, "output", "o", xds.FormatYAML, "yaml or json")
	return cmd
}

// absoluteTLSPaths refuses relative --tls-* paths: Envoy would resolve
// them from its own working directory, this command from its own, and the
// SDS files it writes would name files Envoy may not find.
func absoluteTLSPaths(t xds.BootstrapTLS) error {
	for _, f := range []struct{ flag, path string }{
		{"--tls-ca", t.CA}, {"--tls-cert", t.Cert}, {"--tls-key", t.Key}, {"--tls-sds-dir", t.SDSDir},
	} {
		if f.path != "" && !filepath.IsAbs(f.path) {
			return fmt.Errorf("%s %q: give an absolute path (Envoy resolves a relative one from its own working directory)", f.flag, f.path)
		}
	}
	return nil
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory and a rename, so a running Envoy never reads half a file;
// a file that already holds data is left alone.
func writeFileAtomic(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
