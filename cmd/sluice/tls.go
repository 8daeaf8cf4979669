package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/certs"
)

func newTLSCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "tls", Short: "TLS certificates for a cluster"}
	var (
		o       certs.InitOptions
		nodes   []string
		proxies []string
	)
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Write a development CA and certificates for nodes and proxies",
		Long: `Write a development CA (ca.crt, ca.key; reused when the directory already
has one) and a certificate and key for each node (node-<id>.crt/.key: server
and client use, for the API, Raft and xDS ports) and each proxy cluster
(proxy-<cluster>.crt/.key: client use, for mutual TLS on the xDS port).

Identities are URI SANs: spiffe://<trust domain>/sluice/node/<id> and
spiffe://<trust domain>/sluice/proxy/<cluster>. A node certificate lists the
hosts given after "=" (IP addresses or DNS names) that clients dial.

For production, issue certificates of the same shape from your own CA.`,
		Example: `  sluice tls init --dir /etc/sluice/tls --node n1=10.0.0.1 --node n2=10.0.0.2 --node n3=10.0.0.3 --proxy web
  sluice tls init --dir ./tls --node dev=127.0.0.1,localhost --proxy web --proxy payments`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if o.Dir == "" {
				return fmt.Errorf("--dir is required")
			}
			if len(nodes) == 0 && len(proxies) == 0 {
				return fmt.Errorf("name at least one --node ID=HOST[,HOST] or --proxy CLUSTER")
			}
			o.Nodes = map[string][]string{}
			for _, n := range nodes {
				id, hosts, _ := strings.Cut(n, "=")
				if id == "" || hosts == "" {
					return fmt.Errorf("--node %q: want ID=HOST[,HOST...], e.g. n1=10.0.0.1", n)
				}
				o.Nodes[id] = strings.Split(hosts, ",")
			}
			o.Proxies, o.Now = proxies, time.Now()
			files, err := certs.Init(o)
			for _, f := range files {
				fmt.Fprintln(c.out, "wrote", f)
			}
			return err
		},
	}
	f := initCmd.Flags()
	f.StringVar(&o.Dir, "dir", "", "directory to write into (created 0700)")
	f.StringArrayVar(&nodes, "node", nil, "a node: ID=HOST[,HOST...]; repeatable")
	f.StringArrayVar(&proxies, "proxy", nil, "a proxy cluster (the xDS node cluster it connects as); repeatable")
	f.StringVar(&o.TrustDomain, "trust-domain", certs.DefaultTrustDomain, "the trust domain of the identities")
	f.DurationVar(&o.Validity, "validity", 365*24*time.Hour, "how long the certificates are valid (the CA: ten times as long)")
	cmd.AddCommand(initCmd)
	return cmd
}
