package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/api"
)

func newEndpointsCmd(c *cli) *cobra.Command {
	var output *outputFormat
	var history bool
	cmd := &cobra.Command{
		Use:   "endpoints SERVICE",
		Short: "Show the discovered endpoints of a service's versions, their health and their source's last failure",
		Long: `Show the endpoints the leader discovered for each version of a service that
names a discovery source (a DNS name or a targets file), with each endpoint's
health and, when the source's last look failed, why (the last good set is kept).
--history adds the recorded changes. -o json and -o yaml print the API's answer.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.client().ServiceEndpoints(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return output.print(c.out, resp, func(w io.Writer) error { return printEndpoints(w, resp, history) })
		},
	}
	cmd.Flags().BoolVar(&history, "history", false, "also print every recorded change")
	output = addOutputFlag(cmd)
	return cmd
}

// printEndpoints is the text of `sluice endpoints`.
func printEndpoints(w io.Writer, resp *api.EndpointsResponse, history bool) error {
	if len(resp.Versions) == 0 {
		fmt.Fprintf(w, "Service %s lists the endpoints of every version: nothing is discovered.\n", resp.Service)
		return nil
	}
	for _, v := range resp.Versions {
		fmt.Fprintf(w, "%s/%s from %s\n", resp.Service, v.Version, v.Source)
		if v.Set == nil {
			fmt.Fprintln(w, "  not looked at yet: no endpoints are sent")
			continue
		}
		if f := v.Set.Failure; f != nil {
			fmt.Fprintf(w, "  last look failed (%s): %s\n  keeping the last good set\n", f.Kind, f.Message)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ADDRESS\tREGION\tZONE\tHEALTH")
		for _, ep := range v.Set.Endpoints {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", ep.Address, dash(ep.Region), dash(ep.Zone), ep.Health)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if history {
			for _, d := range v.Set.History {
				fmt.Fprintf(w, "  #%d %s %s: %s\n", d.Seq, d.Time.Local().Format("2006-01-02 15:04:05"), d.Actor, d.Message)
			}
		}
	}
	return nil
}
