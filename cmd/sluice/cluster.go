package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/api"
)

func newClusterCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect and change Raft cluster membership",
	}
	cmd.AddCommand(
		newMembersCmd(c),
		newJoinCmd(c),
		&cobra.Command{
			Use:   "leave NODE_ID",
			Short: "Remove a node from the cluster",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := c.client().Leave(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(c.out, "node %s removed\n", args[0])
				return nil
			},
		},
	)
	return cmd
}

func newMembersCmd(c *cli) *cobra.Command {
	var output *outputFormat
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List the cluster's nodes, their roles and addresses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := c.client().Members(cmd.Context())
			if err != nil {
				return err
			}
			return output.print(c.out, m, func(w io.Writer) error { return printMembers(w, m) })
		},
	}
	output = addOutputFlag(cmd)
	return cmd
}

func printMembers(w io.Writer, m *api.MembersResponse) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tSUFFRAGE\tRAFT\tAPI\tXDS")
	for _, mm := range m.Members {
		role := "follower"
		if mm.Leader {
			role = "leader"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", mm.ID, role, mm.Suffrage, mm.RaftAddr, dash(mm.APIAddr), dash(mm.XDSAddr))
	}
	return tw.Flush()
}

func newJoinCmd(c *cli) *cobra.Command {
	var req api.JoinRequest
	var nonVoter bool
	cmd := &cobra.Command{
		Use:   "join --id ID --raft-addr HOST:PORT",
		Short: "Add a running node (started without --bootstrap) to the cluster",
		Long: `Add a node to the cluster. The node must already run ` + "`sluice server`" + `
without --bootstrap and without data from another cluster. ` + "`sluice server --join`" + `
does the same from the new node's side.`,
		Example: `  sluice cluster join --id n2 --raft-addr 10.0.0.2:7071 --api-addr 10.0.0.2:7070 --xds-addr 10.0.0.2:18000`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.ID == "" || req.RaftAddr == "" {
				return fmt.Errorf("--id and --raft-addr are required")
			}
			req.Voter = !nonVoter
			if err := c.client().Join(cmd.Context(), req); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "node %s joined as %s\n", req.ID, map[bool]string{true: "voter", false: "non-voter"}[req.Voter])
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.ID, "id", "", "node id of the new node")
	f.StringVar(&req.RaftAddr, "raft-addr", "", "Raft address of the new node")
	f.StringVar(&req.APIAddr, "api-addr", "", "API address of the new node (lets other nodes forward writes to it when it leads)")
	f.StringVar(&req.XDSAddr, "xds-addr", "", "xDS address of the new node")
	f.BoolVar(&nonVoter, "nonvoter", false, "add as a non-voter")
	return cmd
}
