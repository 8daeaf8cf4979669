package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

func newSnapshotCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Back up and restore the cluster's state",
		Long: `A backup holds every object and release with its decisions, as one
consistent state: a header line (format, node, state index, size, SHA-256)
and the state itself. Both commands need the admin role.`,
	}
	var local bool
	save := &cobra.Command{
		Use:   "save FILE",
		Short: "Write a backup of the cluster's state to FILE",
		Long: `Write a backup of the cluster's state to FILE (through a temporary file, so
FILE is whole or untouched). Any node may be asked: by default the backup is
taken on the leader once every committed change is applied; --local takes
the asked node's own applied state, which works when the cluster has lost
its quorum.`,
		Example: `  sluice snapshot save /var/backups/sluice-$(date +%F).backup`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := c.client().Snapshot(cmd.Context(), local)
			if err != nil {
				return err
			}
			tmp, err := os.CreateTemp(filepath.Dir(args[0]), ".sluice-backup-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			if _, err := tmp.Write(data); err != nil {
				tmp.Close()
				return err
			}
			if err := tmp.Close(); err != nil {
				return err
			}
			if err := os.Rename(tmp.Name(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "wrote %s (%d bytes)\n", args[0], len(data))
			return nil
		},
	}
	save.Flags().BoolVar(&local, "local", false, "back up the asked node's applied state instead of the leader's")
	var force bool
	restore := &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the cluster's state with a backup",
		Long: `Replace the cluster's state with the backup in FILE, on every node. The file
is checked whole first (header, size, checksum, every object against the
configuration rules); a damaged one changes nothing. The cluster keeps its
own membership. A cluster that already holds objects is only replaced with
--force.`,
		Example: `  sluice --server 10.0.0.1:7070 snapshot restore sluice-2025-03-01.backup`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			res, err := c.client().Restore(cmd.Context(), data, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "restored the state of %s at index %d (saved %s); state index now %d\n",
				res.Node, res.StateIndex, res.SavedAt.Format("2006-01-02 15:04:05 MST"), res.Index)
			return nil
		},
	}
	restore.Flags().BoolVar(&force, "force", false, "replace a cluster that already holds objects")
	cmd.AddCommand(save, restore)
	return cmd
}
