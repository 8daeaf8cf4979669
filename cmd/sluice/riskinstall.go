package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/analysis/risk"
	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/state"
)

// errBadModelFile is returned for a model file that does not decode or
// validate; nothing is sent.
var errBadModelFile = errors.New("bad model file")

// readModelFile reads and validates a model file as `sluice risk train`
// writes it, with the checks the cluster applies (risk.ModelFromStored).
func readModelFile(path string) (*state.RiskModel, error) {
	b, err := readFileLimited(path, api.MaxBodyBytes-1024)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var sm state.RiskModel
	if err := dec.Decode(&sm); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", path, errBadModelFile, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w: data after the model", path, errBadModelFile)
	}
	if _, err := risk.ModelFromStored(&sm); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", path, errBadModelFile, err)
	}
	return &sm, nil
}

func newRiskInstallCmd(c *cli) *cobra.Command {
	var toDefault bool
	var expect string
	cmd := &cobra.Command{
		Use:   "install FILE | --default",
		Short: "Install a trained model as the cluster's base risk model",
		Long: `Install a model written by 'sluice risk train' as the cluster's base
model: it is in force at once, and the cluster keeps learning from its own
outcomes on top of it. --default returns to the built-in model. The install
is refused when another model was installed or learned since the version
given by --expect-version (default: the version in force when the command
reads it). Needs the admin role.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if toDefault == (len(args) == 1) && len(args) <= 1 {
				return errors.New("name one model file, or --default for the built-in model")
			}
			return cobra.MaximumNArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.RiskInstallRequest{Default: toDefault}
			if !toDefault {
				m, err := readModelFile(args[0])
				if err != nil {
					return err
				}
				req.Model, req.Source = m, filepath.Base(args[0])
			}
			cl := c.client()
			if cmd.Flags().Changed("expect-version") {
				req.ExpectVersion = expect
				if expect == "default" {
					req.ExpectVersion = ""
				}
			} else {
				cur, err := cl.RiskModel(cmd.Context())
				if err != nil {
					return err
				}
				req.ExpectVersion = cur.Stored
			}
			got, err := cl.InstallRiskModel(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "risk model in force: %s (%s)\n", got.Version, modelOrigin(got))
			return nil
		},
	}
	cmd.Flags().BoolVar(&toDefault, "default", false, "return to the built-in model")
	cmd.Flags().StringVar(&expect, "expect-version", "", `the stored model version you saw in force ("default" for the built-in model; default: read it first)`)
	return cmd
}

func newRiskModelCmd(c *cli) *cobra.Command {
	var output *outputFormat
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Show the risk model in force, its origin, its base and the installs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			got, err := c.client().RiskModel(cmd.Context())
			if err != nil {
				return err
			}
			return output.print(c.out, got, func(w io.Writer) error {
				fmt.Fprintf(w, "version:  %s\norigin:   %s\n", got.Version, modelOrigin(got))
				base := got.Base
				if base == "" {
					base = "built-in"
				}
				fmt.Fprintf(w, "base:     %s\ntrained:  %s (%d samples, %d failures)\n", base, got.Model.TrainedOn, got.Model.Samples, got.Model.Failures)
				for _, in := range got.Installs {
					v, p := in.Version, in.Parent
					if v == "" {
						v = "built-in"
					}
					if p == "" {
						p = "built-in"
					}
					fmt.Fprintf(w, "install %d: %s by %s at %s from %s (was %s, index %d)\n", in.Seq, v, in.Actor,
						in.Time.UTC().Format("2006-01-02 15:04:05Z"), in.Source, p, in.Index)
				}
				return nil
			})
		},
	}
	output = addOutputFlag(cmd)
	return cmd
}

// modelOrigin says where the model in force came from.
func modelOrigin(m *api.RiskModelResponse) string {
	switch {
	case m.BuiltIn:
		return "built-in"
	case m.Version == m.Base:
		return "installed"
	case m.Base != "":
		return "learned on the installed base " + m.Base
	default:
		return "learned on the built-in model"
	}
}
