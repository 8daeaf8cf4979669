package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrNoData is matched by WaitForData's error when its context ended
// before the query returned a finite sample.
var ErrNoData = errors.New("prometheus query returned no data")

// ErrBadQuery is matched by WaitForData's error when Prometheus rejected
// the query itself (a PromQL syntax or type error): waiting longer would
// not help.
var ErrBadQuery = errors.New("prometheus rejected the query")

// promResponse is the part of a Prometheus /api/v1/query answer
// WaitForData reads.
type promResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// WaitForData runs query as an instant query against the Prometheus HTTP
// API at baseURL (e.g. "http://127.0.0.1:9090") every poll until the
// answer holds a finite value: a vector with a finite sample, or a finite
// scalar. It returns that value. Prometheus answers its API well before it
// has scraped anything, so this is how to wait until metrics have arrived.
//
// Unreachable servers and empty or NaN answers are retried until ctx ends;
// the error then matches ErrNoData and says what the last answer was. A
// query Prometheus rejects as malformed fails at once with ErrBadQuery.
func WaitForData(ctx context.Context, hc *http.Client, baseURL, query string, poll time.Duration) (float64, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	u := strings.TrimRight(baseURL, "/") + "/api/v1/query?query=" + url.QueryEscape(query)
	if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return 0, fmt.Errorf("%w: Prometheus URL %q: want http://host:port", ErrInvalidConfig, baseURL)
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	last := "nothing yet"
	for {
		v, ok, err := queryOnce(ctx, hc, u)
		switch {
		case errors.Is(err, ErrBadQuery):
			return 0, fmt.Errorf("%s: %w", query, err)
		case err != nil:
			if ctx.Err() == nil {
				last = err.Error()
			}
		case ok:
			return v, nil
		default:
			last = "no finite sample"
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: %s at %s: last answer: %s (%w)", ErrNoData, query, baseURL, last, ctx.Err())
		case <-tick.C:
		}
	}
}

// queryOnce asks once. ok reports whether the answer held a finite value.
func queryOnce(ctx context.Context, hc *http.Client, u string) (v float64, ok bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, false, fmt.Errorf("build request: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, false, fmt.Errorf("read answer: %w", err)
	}
	var pr promResponse
	if err := json.Unmarshal(body, &pr); err != nil {
		return 0, false, fmt.Errorf("HTTP %s, not a Prometheus API answer: %.80q", resp.Status, body)
	}
	if pr.Status != "success" {
		if pr.ErrorType == "bad_data" {
			return 0, false, fmt.Errorf("%w: %s", ErrBadQuery, pr.Error)
		}
		return 0, false, fmt.Errorf("HTTP %s: %s: %s", resp.Status, pr.ErrorType, pr.Error)
	}
	switch pr.Data.ResultType {
	case "vector":
		var samples []struct {
			Value [2]any `json:"value"`
		}
		if err := json.Unmarshal(pr.Data.Result, &samples); err != nil {
			return 0, false, fmt.Errorf("malformed vector: %w", err)
		}
		for _, s := range samples {
			if f, ok := finite(s.Value[1]); ok {
				return f, true, nil
			}
		}
		return 0, false, nil
	case "scalar":
		var s [2]any
		if err := json.Unmarshal(pr.Data.Result, &s); err != nil {
			return 0, false, fmt.Errorf("malformed scalar: %w", err)
		}
		f, ok := finite(s[1])
		return f, ok, nil
	}
	return 0, false, fmt.Errorf("%w: result type %q: want an instant vector or a scalar", ErrBadQuery, pr.Data.ResultType)
}

// finite reads a sample value (Prometheus sends it as a string).
func finite(x any) (float64, bool) {
	s, ok := x.(string)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}
