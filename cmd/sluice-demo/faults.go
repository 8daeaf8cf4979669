package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// faultsView is the admin endpoint's answer: the faults in force, or an
// error.
type faultsView struct {
	ErrorRatio    *float64 `json:"errorRatio"`
	Latency       string   `json:"latency"`
	LatencyJitter string   `json:"latencyJitter"`
	Error         string   `json:"error"`
}

func newFaultsCmd(out io.Writer) *cobra.Command {
	var (
		addr          string
		errorRatio    float64
		latency       time.Duration
		latencyJitter time.Duration
	)
	cmd := &cobra.Command{
		Use:   "faults --addr HOST:PORT [--error-ratio R] [--latency D] [--latency-jitter D]",
		Short: "Read or change a running backend's faults",
		Long: `Read or change the faults of a running demo backend through its
/admin/faults endpoint (the backend's HTTP address). Only the flags given
change; without any it just reads. Prints the time of the change (local,
milliseconds) and the faults now in force.`,
		Example: `  sluice-demo faults --addr 127.0.0.1:8081 --error-ratio 0.25
  sluice-demo faults --addr 127.0.0.1:8081 --error-ratio 0 --latency 5ms`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return fmt.Errorf("--addr %q: want the backend's HTTP address, host:port", addr)
			}
			update := map[string]any{}
			f := cmd.Flags()
			if f.Changed("error-ratio") {
				update["errorRatio"] = errorRatio
			}
			if f.Changed("latency") {
				update["latency"] = latency.String()
			}
			if f.Changed("latency-jitter") {
				update["latencyJitter"] = latencyJitter.String()
			}
			view, err := postFaults(cmd.Context(), "http://"+addr+"/admin/faults", update)
			if err != nil {
				return err
			}
			ratio := 0.0
			if view.ErrorRatio != nil {
				ratio = *view.ErrorRatio
			}
			fmt.Fprintf(out, "%s errorRatio=%g latency=%s latencyJitter=%s\n",
				time.Now().Format("15:04:05.000"), ratio, view.Latency, view.LatencyJitter)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "", "the backend's HTTP address, host:port (required)")
	f.Float64Var(&errorRatio, "error-ratio", 0, "share of requests that fail (0..1)")
	f.DurationVar(&latency, "latency", 0, "latency added to every request")
	f.DurationVar(&latencyJitter, "latency-jitter", 0, "uniform jitter around --latency")
	_ = cmd.MarkFlagRequired("addr")
	return cmd
}

// postFaults sends update (empty: read only) and returns the faults in
// force.
func postFaults(ctx context.Context, url string, update map[string]any) (faultsView, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	method, body := http.MethodGet, []byte(nil)
	if len(update) > 0 {
		method = http.MethodPost
		var err error
		if body, err = json.Marshal(update); err != nil {
			return faultsView{}, fmt.Errorf("encode faults: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return faultsView{}, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return faultsView{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	var view faultsView
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&view); err != nil {
		return faultsView{}, fmt.Errorf("%s %s: HTTP %s, not a faults answer: %w", method, url, resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		return faultsView{}, fmt.Errorf("%s %s: HTTP %s: %s", method, url, resp.Status, view.Error)
	}
	return view, nil
}
