package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/config"
)

// Output formats of -o. "text" is read as table: older scripts used it.
const (
	formatTable = "table"
	formatYAML  = "yaml"
	formatJSON  = "json"
)

// outputFormat is the value of a command's -o flag; it refuses an unknown
// format while the flags are parsed, before anything is asked of a server.
type outputFormat string

func (o *outputFormat) String() string { return string(*o) }
func (o *outputFormat) Type() string   { return "format" }

func (o *outputFormat) Set(s string) error {
	switch s {
	case formatTable, "text":
		*o = formatTable
	case formatYAML, formatJSON:
		*o = outputFormat(s)
	default:
		return fmt.Errorf("want table, yaml or json")
	}
	return nil
}

// addOutputFlag gives cmd the shared -o table|yaml|json flag.
func addOutputFlag(cmd *cobra.Command) *outputFormat {
	o := outputFormat(formatTable)
	cmd.Flags().VarP(&o, "output", "o", "output format: table, yaml or json")
	return &o
}

// isTable reports whether the human-readable form was asked for.
func (o *outputFormat) isTable() bool { return *o == formatTable }

// print writes v as JSON or YAML, or calls table for the table form.
func (o *outputFormat) print(w io.Writer, v any, table func(io.Writer) error) error {
	switch *o {
	case formatJSON:
		return printJSON(w, v)
	case formatYAML:
		return printYAML(w, v)
	}
	return table(w)
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	b, err := config.EncodeJSON(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// printYAML writes v as one YAML document, keeping the JSON field names
// and order (the same object -o json prints).
func printYAML(w io.Writer, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %T: %w", v, err)
	}
	b, err := config.EncodeYAMLStream(json.RawMessage(raw))
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
