package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/api"
)

func newNotifierCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notifier",
		Short: "Inspect notifiers and what they have yet to deliver",
	}
	var output *outputFormat
	list := &cobra.Command{
		Use:   "list",
		Short: "List the notifiers with their filters and outboxes (pending, delivered, dropped)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := c.client().Notifiers(cmd.Context())
			if err != nil {
				return err
			}
			return output.print(c.out, r, func(w io.Writer) error { return printNotifiers(w, r, time.Now()) })
		},
	}
	output = addOutputFlag(list)
	cmd.AddCommand(list)
	return cmd
}

func printNotifiers(w io.Writer, r *api.NotifiersResponse, now time.Time) error {
	if len(r.Items) == 0 {
		_, err := fmt.Fprintln(w, "no notifiers (apply a document of kind Notifier; see docs/notifications.md)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tEVENTS\tSERVICES\tPENDING\tDELIVERED\tDROPPED\tOLDEST")
	for _, n := range r.Items {
		events := make([]string, len(n.Events))
		for i, e := range n.Events {
			events[i] = string(e)
		}
		oldest := "-"
		if n.Oldest != nil {
			oldest = fmt.Sprintf("%s %s (%s ago)", n.Oldest.ID, n.Oldest.Event, now.Sub(n.Oldest.Time).Round(time.Second))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", n.Name, n.Type, orAll(events), orAll(n.Services),
			n.Pending, n.Delivered, n.Dropped, oldest)
	}
	return tw.Flush()
}

func orAll(s []string) string {
	if len(s) == 0 {
		return "all"
	}
	return strings.Join(s, ",")
}
