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
	"github.com/sluicehq/sluice/state"
)

func newTrainCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Release several services together, in dependency order, and roll them back together",
	}
	cmd.AddCommand(newTrainStartCmd(c), newTrainStatusCmd(c), newTrainWatchCmd(c))
	for _, verb := range []struct{ name, short string }{
		{"pause", "Pause a train and its running member releases"},
		{"resume", "Resume a paused train"},
		{"rollback", "Roll every member that moved traffic back, in reverse dependency order"},
		{"abort", "Like rollback, recorded as aborted by a person"},
	} {
		v := verb
		var reason string
		sub := &cobra.Command{
			Use:   v.name + " NAME",
			Short: v.short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				t, err := c.client().TrainAction(cmd.Context(), args[0], v.name, reason)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.out, "train %s: %s\n", t.Name(), t.Status.Phase)
				return nil
			},
		}
		sub.Flags().StringVar(&reason, "reason", "", "why (recorded)")
		cmd.AddCommand(sub)
	}
	return cmd
}

func newTrainStartCmd(c *cli) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:     "start -f TRAIN.yaml",
		Short:   "Start a release train from a ReleaseTrain document",
		Example: `  sluice train start -f examples/train.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return fmt.Errorf("-f FILE is required (use -f - for stdin)")
			}
			name, data, err := c.readInput(file)
			if err != nil {
				return err
			}
			res, err := c.client().Apply(cmd.Context(), name, data)
			if err != nil {
				return err
			}
			started := 0
			for _, id := range append(res.Created, res.Unchanged...) {
				if n, ok := strings.CutPrefix(id, "ReleaseTrain/"); ok {
					fmt.Fprintf(c.out, "train %s started; follow it with: sluice train watch %s\n", n, n)
					started++
				}
			}
			if started == 0 {
				return fmt.Errorf("%s holds no ReleaseTrain document", name)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "ReleaseTrain YAML or JSON (- for stdin)")
	return cmd
}

// verdictReason is the one-line reason of a recorded verdict.
func verdictReason(raw json.RawMessage) string {
	var v verdictView
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return "-"
	}
	return clip(v.Phase+": "+v.Reason, 70)
}

func printTrain(w io.Writer, t *api.TrainView) {
	ts := &t.Status
	fmt.Fprintf(w, "Train %s: %s", t.Name(), ts.Phase)
	if ts.Lockstep {
		fmt.Fprint(w, " (lockstep)")
	}
	fmt.Fprintln(w)
	if ts.FailedMember != "" || ts.Reason != "" {
		fmt.Fprintf(w, "Reason: %s\n", ts.Reason)
	}
	if len(ts.RollbackOrder) > 0 {
		fmt.Fprintf(w, "Rollback order: %s\n", strings.Join(ts.RollbackOrder, " -> "))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tSERVICE\tLEVEL\tAFTER\tSTATE\tSTEP\tWEIGHTS\tHEALTH\tLAST VERDICT")
	members := append([]state.TrainMemberStatus(nil), ts.Members...)
	sort.SliceStable(members, func(i, j int) bool { return members[i].Level < members[j].Level })
	for _, m := range members {
		r := t.Releases[m.Name]
		phase, step, weights, verdict := "-", "-", "-", "-"
		if r != nil {
			phase = string(r.Status.Phase)
			if r.Status.Blocked != "" && !r.Status.Phase.Terminal() {
				phase = "Waiting"
			}
			step = stepOf(r.Status.Step, len(r.Status.Plan))
			weights = fmt.Sprintf("%s %d%% / %s %d%%", r.Status.From, 100-r.Status.Weight, r.Spec.Spec.To, r.Status.Weight)
			verdict = verdictReason(r.Status.LastVerdict)
		}
		health := "-"
		switch {
		case m.Health.Passed:
			health = "passed"
		case m.Health.Attempts > 0:
			health = fmt.Sprintf("failed x%d", m.Health.Attempts)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.Service, m.Level, dash(strings.Join(m.Deps, ",")), phase, step, weights, health, verdict)
	}
	tw.Flush()
}

func newTrainStatusCmd(c *cli) *cobra.Command {
	var output *outputFormat
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a train: one row per member with its state, step, weights and last verdict",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := c.client().Train(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return output.print(c.out, t, func(w io.Writer) error {
				printTrain(w, t)
				return nil
			})
		},
	}
	output = addOutputFlag(cmd)
	return cmd
}

func newTrainWatchCmd(c *cli) *cobra.Command {
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "watch NAME",
		Short: "Follow a train live until it ends (exit code 2 unless promoted)",
		Long: `Follow a train live until it ends; the exit code is 2 unless it was promoted.

On a terminal one view is redrawn in place: every member's phase, step and latest
verdict, and the last decisions, in colour unless NO_COLOR is set. Piped, every
decision is printed as a plain line as it is made.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWatch(cmd.Context(), c.out, c.display(), &trainWatch{cl: c.client(), name: args[0]}, interval)
		},
	}
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "refresh interval")
	return cmd
}
