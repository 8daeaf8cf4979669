package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/importer"
)

// importSources describes each format for its subcommand's help.
var importSources = map[importer.Format]string{
	importer.FormatFlagger: "a Flagger Canary (flagger.app/v1beta1 and earlier)",
	importer.FormatArgo:    "an Argo Rollout with the AnalysisTemplates it uses, in one file",
	importer.FormatOpenSLO: "an OpenSLO SLO (openslo/v1), with its SLI when given in the same file",
}

func newImportCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Convert Flagger, Argo Rollouts or OpenSLO resources into Sluice documents",
		Long: "Prints Sluice YAML (Service, ReleasePolicy) converted from another tool's resources, and reports on stderr " +
			"every field that had no equivalent and why (docs/imports.md). Exits 0 when it converted, with or without " +
			"unmapped fields, and non-zero when the input cannot be read. Nothing is sent to a server: review the output, " +
			"replace the placeholder endpoints, then `sluice apply -f` it.",
	}
	for _, f := range importer.Formats {
		cmd.AddCommand(newImportFormatCmd(c, f))
	}
	return cmd
}

func newImportFormatCmd(c *cli, format importer.Format) *cobra.Command {
	var file, output string
	cmd := &cobra.Command{
		Use:   string(format) + " -f FILE",
		Short: "Convert " + importSources[format],
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return fmt.Errorf("-f FILE is required (- for stdin)")
			}
			if output != "yaml" && output != "json" {
				return fmt.Errorf("-o %q: want yaml or json", output)
			}
			name, data, err := c.readImport(file)
			if err != nil {
				return err
			}
			res, err := importer.Import(format, name, data)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeImportJSON(c.out, res)
			}
			out, err := res.YAML()
			if err != nil {
				return err
			}
			if _, err := c.out.Write(out); err != nil {
				return err
			}
			if len(res.Unmapped) > 0 {
				fmt.Fprintf(c.errOut, "%d fields without an exact Sluice equivalent:\n%s", len(res.Unmapped), res.Report(name))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the resources to convert (- for stdin)")
	cmd.Flags().StringVarP(&output, "output", "o", "yaml", "yaml (documents on stdout, report on stderr) or json (both on stdout)")
	return cmd
}

// readImport reads the input, at most one byte over the importer's bound
// so that a larger file is refused without reading all of it.
func (c *cli) readImport(f string) (string, []byte, error) {
	var r io.Reader = c.in
	name := "<stdin>"
	if f != "-" {
		fh, err := os.Open(f)
		if err != nil {
			return "", nil, fmt.Errorf("read %s: %w", f, err)
		}
		defer fh.Close()
		r, name = fh, f
	}
	data, err := io.ReadAll(io.LimitReader(r, importer.MaxInputBytes+1))
	if err != nil {
		return "", nil, fmt.Errorf("read %s: %w", f, err)
	}
	return name, data, nil
}

// writeImportJSON writes the documents and the report as one object.
func writeImportJSON(w io.Writer, res importer.Result) error {
	var docs []any
	for _, s := range res.Services {
		docs = append(docs, s)
	}
	for _, p := range res.Policies {
		docs = append(docs, p)
	}
	b, err := json.MarshalIndent(struct {
		Documents []any               `json:"documents"`
		Unmapped  []importer.Unmapped `json:"unmapped"`
	}{docs, res.Unmapped}, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
