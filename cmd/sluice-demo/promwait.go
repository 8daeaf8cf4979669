package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/demo"
)

func newWaitPrometheusCmd(out io.Writer) *cobra.Command {
	var (
		promURL string
		query   string
		timeout time.Duration
		poll    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "wait-prometheus --url URL --query PROMQL",
		Short: "Wait until a Prometheus query returns data",
		Long: `Run an instant query against a Prometheus server until it returns a
finite value (a non-empty vector or a finite scalar), then print the value.

Prometheus answers its API well before its first scrape is stored, so this
waits for metrics rather than for the port. It fails at once when
Prometheus rejects the query, and after --timeout with the last answer
otherwise.`,
		Example: `  sluice-demo wait-prometheus --url http://127.0.0.1:9090 \
    --query 'sum(rate(requests_total{service="greeter"}[5s])) > 0' --timeout 30s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return fmt.Errorf("--timeout %s: must be positive", timeout)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			start := time.Now()
			v, err := demo.WaitForData(ctx, &http.Client{Timeout: 2 * time.Second}, promURL, query, poll)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s after %s\n", strconv.FormatFloat(v, 'g', -1, 64), time.Since(start).Round(100*time.Millisecond))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&promURL, "url", "", "Prometheus base URL, e.g. http://127.0.0.1:9090 (required)")
	f.StringVar(&query, "query", "", "PromQL instant query (required)")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	f.DurationVar(&poll, "poll", 250*time.Millisecond, "time between two queries")
	_ = cmd.MarkFlagRequired("url")
	_ = cmd.MarkFlagRequired("query")
	return cmd
}
