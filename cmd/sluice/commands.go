package main

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/api"
)

// rejectUnknownSubcommands makes every command that only groups others
// (`sluice release`, `sluice train`, ...) print its help when called
// alone, and fail with a suggestion when called with a subcommand it does
// not have: cobra would print the help and exit 0 for
// `sluice release strat greeter`.
func rejectUnknownSubcommands(cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		rejectUnknownSubcommands(sub)
	}
	if !cmd.HasSubCommands() || cmd.Runnable() || !cmd.HasParent() {
		return
	}
	// Flags of the intended subcommand (`release strat x --to v2`) must
	// not hide the misspelt name behind an "unknown flag" error.
	cmd.FParseErrWhitelist.UnknownFlags = true
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		return unknownSubcommand(cmd, args[0])
	}
}

// unknownSubcommand is the error for `PARENT NAME` where PARENT has no
// subcommand NAME: the closest names, and where to see them all, worded
// as cobra words it for the root command.
func unknownSubcommand(cmd *cobra.Command, name string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "unknown command %q for %q", name, cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		b.WriteString("\n\nDid you mean this?\n")
		for _, n := range s {
			fmt.Fprintf(&b, "\t%s\n", n)
		}
	}
	fmt.Fprintf(&b, "\nRun '%s --help' for its commands.", cmd.CommandPath())
	return errors.New(b.String())
}

// listCommand names the command that lists what the commands of a group
// take by name ("" when there is none).
func listCommand(group string) string {
	switch group {
	case "sluice release", "sluice risk":
		return "sluice get releases"
	case "sluice train":
		return "sluice get trains"
	case "sluice get", "sluice delete":
		return "sluice get services|policies|releases|trains"
	}
	return ""
}

// withNextStep adds to an error what to do next, where the error alone
// does not say: a name the server does not know is followed by the
// command that lists the names.
func withNextStep(cmd *cobra.Command, err error) error {
	var ae *api.Error
	if cmd == nil || !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		return err
	}
	for c := cmd; c != nil; c = c.Parent() {
		if list := listCommand(c.CommandPath()); list != "" {
			return fmt.Errorf("%w; %s lists them", err, list)
		}
	}
	return err
}
