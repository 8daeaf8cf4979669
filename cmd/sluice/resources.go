package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

func newApplyCmd(c *cli) *cobra.Command {
	var files []string
	var force bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create or update objects from YAML or JSON (all documents of a file, or none)",
		Example: `  sluice apply -f examples/services.yaml
  cat policy.yaml | sluice apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return fmt.Errorf("-f FILE is required (use -f - for stdin)")
			}
			for _, f := range files {
				name, data, err := c.readInput(f)
				if err != nil {
					return err
				}
				res, err := c.client().ApplyForced(cmd.Context(), name, data, force)
				if err != nil {
					return err
				}
				for _, rel := range res.Started {
					fmt.Fprintf(c.out, "Release/%s started: watch it with: sluice release watch %s\n", rel, rel)
				}
				for _, svc := range res.Forced {
					fmt.Fprintf(c.out, "Service/%s: static weights forced (recorded)\n", svc)
				}
				for _, id := range res.Created {
					fmt.Fprintf(c.out, "%s created\n", id)
				}
				for _, id := range res.Updated {
					fmt.Fprintf(c.out, "%s configured\n", id)
				}
				for _, id := range res.Unchanged {
					fmt.Fprintf(c.out, "%s unchanged\n", id)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "file to apply (- for stdin); repeat for several files, each applied atomically in turn")
	cmd.Flags().BoolVar(&force, "force", false, "let static weights move the traffic of a Service covered by a ReleasePolicy at once, unanalysed (admin role; recorded)")
	return cmd
}

func newGetCmd(c *cli) *cobra.Command {
	var output *outputFormat
	cmd := &cobra.Command{
		Use:   "get services|policies|releases|trains|notifiers [NAME]",
		Short: "Show objects",
		Example: `  sluice get services
  sluice get services web -o yaml`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl := c.client()
			if (args[0] == "trains" || args[0] == "train") && output.isTable() {
				if len(args) == 2 {
					t, err := cl.Train(cmd.Context(), args[1])
					if err != nil {
						return err
					}
					printTrain(c.out, t)
					return nil
				}
				var list struct {
					Items []struct {
						Name    string `json:"name"`
						Phase   string `json:"phase"`
						Members int    `json:"members"`
						Failed  string `json:"failedMember"`
						Reason  string `json:"reason"`
					} `json:"items"`
				}
				if err := cl.GetJSON(cmd.Context(), "/v1/trains", &list); err != nil {
					return err
				}
				tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tPHASE\tMEMBERS\tFAILED\tREASON")
				for _, t := range list.Items {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", t.Name, t.Phase, t.Members, dash(t.Failed), dash(clip(t.Reason, 100)))
				}
				return tw.Flush()
			}
			if isServices(args[0]) && output.isTable() {
				return getServices(cmd.Context(), cl, c.out, args[1:])
			}
			if (args[0] == "releases" || args[0] == "release") && len(args) == 1 && output.isTable() {
				list, err := cl.Releases(cmd.Context())
				if err != nil {
					return err
				}
				return printReleases(c.out, list)
			}
			var items []json.RawMessage
			if len(args) == 2 {
				raw, err := cl.Get(cmd.Context(), args[0], args[1])
				if err != nil {
					return err
				}
				items = []json.RawMessage{raw}
			} else {
				list, err := cl.List(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				items = list.Items
			}
			return printObjects(c.out, *output, args[0], items, len(args) == 2)
		},
	}
	output = addOutputFlag(cmd)
	return cmd
}

func printObjects(w io.Writer, format outputFormat, collection string, items []json.RawMessage, single bool) error {
	vals := make([]any, len(items))
	for i, it := range items {
		if err := json.Unmarshal(it, &vals[i]); err != nil {
			return fmt.Errorf("decode object: %w", err)
		}
	}
	switch format {
	case formatJSON:
		var v any = vals
		if single && len(vals) == 1 {
			v = vals[0]
		}
		b, err := config.EncodeJSON(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, strings.TrimRight(string(b), "\n"))
		return err
	case formatYAML:
		// Keep the server's field order: decode items as ordered JSON.
		ordered := make([]any, len(items))
		for i, it := range items {
			ordered[i] = it
		}
		b, err := config.EncodeYAMLStream(ordered...)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return printTable(w, collection, items)
}

func printTable(w io.Writer, collection string, items []json.RawMessage) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	switch collection {
	case "policies", "policy", "releasepolicies", "releasepolicy":
		fmt.Fprintln(tw, "NAME\tSERVICES")
		for _, it := range items {
			var p config.ReleasePolicy
			if err := json.Unmarshal(it, &p); err != nil {
				return err
			}
			svcs := append([]string(nil), p.Spec.Services...)
			sort.Strings(svcs)
			fmt.Fprintf(tw, "%s\t%s\n", p.Metadata.Name, strings.Join(svcs, ","))
		}
	case "releases", "release":
		for _, it := range items {
			var r state.Release
			if err := json.Unmarshal(it, &r); err != nil {
				return err
			}
			printStatus(tw, &r, time.Now())
		}
	case "notifiers", "notifier":
		fmt.Fprintln(tw, "NAME\tTYPE\tEVENTS\tSERVICES\tTRAINS")
		for _, it := range items {
			var n config.Notifier
			if err := json.Unmarshal(it, &n); err != nil {
				return err
			}
			events := make([]string, 0, len(n.Spec.EventFilter()))
			for _, e := range n.Spec.EventFilter() {
				events = append(events, string(e))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Metadata.Name, n.Spec.Type, orAll(events), orAll(n.Spec.Services), orAll(n.Spec.Trains))
		}
	default:
		return fmt.Errorf("unknown collection %q (known: services, policies, releases, trains, notifiers)", collection)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newDeleteCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:     "delete service|policy|notifier NAME",
		Short:   "Delete an object (refused while others refer to it)",
		Example: `  sluice delete service web`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.client().Delete(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "%s %s deleted\n", args[0], args[1])
			return nil
		},
	}
}

// readInput reads a file, or stdin for "-", and names it for messages.
func (c *cli) readInput(f string) (string, []byte, error) {
	var (
		data []byte
		err  error
		name = f
	)
	if f == "-" {
		name = "<stdin>"
		data, err = readLimited(name, c.in, api.MaxBodyBytes)
	} else {
		data, err = readFileLimited(f, api.MaxBodyBytes)
	}
	if err != nil {
		return "", nil, fmt.Errorf("read %s: %w", f, err)
	}
	data, err = resolveICSFiles(name, data)
	if err != nil {
		return "", nil, err
	}
	return name, data, nil
}
