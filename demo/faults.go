package demo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// ErrInvalidFaults is matched (errors.Is) by every rejected fault setting:
// an error ratio outside [0, 1], a negative or too long latency, or a
// malformed admin request. A rejected setting changes nothing.
var ErrInvalidFaults = errors.New("invalid faults")

// MaxLatency bounds the injected latency (plus jitter).
const MaxLatency = time.Minute

// Faults is how a backend misbehaves: the share of requests it fails and
// how long it takes to answer each one.
type Faults struct {
	// ErrorRatio in [0, 1] is the probability that a request fails
	// (gRPC UNAVAILABLE, HTTP 503).
	ErrorRatio float64
	// Latency is added to every request, errors included.
	Latency time.Duration
	// LatencyJitter spreads the latency uniformly over
	// [Latency-LatencyJitter, Latency+LatencyJitter], never below zero.
	LatencyJitter time.Duration
}

// Validate reports every out-of-range field, each wrapped in
// ErrInvalidFaults.
func (f Faults) Validate() error {
	var errs []error
	if math.IsNaN(f.ErrorRatio) || f.ErrorRatio < 0 || f.ErrorRatio > 1 {
		errs = append(errs, fmt.Errorf("%w: errorRatio %v: must be between 0 and 1", ErrInvalidFaults, f.ErrorRatio))
	}
	if f.Latency < 0 {
		errs = append(errs, fmt.Errorf("%w: latency %s: must not be negative", ErrInvalidFaults, f.Latency))
	}
	if f.LatencyJitter < 0 {
		errs = append(errs, fmt.Errorf("%w: latencyJitter %s: must not be negative", ErrInvalidFaults, f.LatencyJitter))
	}
	if f.Latency+f.LatencyJitter > MaxLatency {
		errs = append(errs, fmt.Errorf("%w: latency %s + latencyJitter %s: must be at most %s", ErrInvalidFaults, f.Latency, f.LatencyJitter, MaxLatency))
	}
	return errors.Join(errs...)
}

// faultsJSON is the admin endpoint's wire form. Fields left out of a POST
// keep their current value.
type faultsJSON struct {
	ErrorRatio    *float64 `json:"errorRatio,omitempty"`
	Latency       *string  `json:"latency,omitempty"`
	LatencyJitter *string  `json:"latencyJitter,omitempty"`
}

// MarshalJSON writes {"errorRatio":0.2,"latency":"50ms","latencyJitter":"2ms"}.
func (f Faults) MarshalJSON() ([]byte, error) {
	lat, jit := f.Latency.String(), f.LatencyJitter.String()
	return json.Marshal(faultsJSON{ErrorRatio: &f.ErrorRatio, Latency: &lat, LatencyJitter: &jit})
}

// decodeFaultsUpdate reads a partial update (at most 64 KiB of JSON) and
// applies it on top of cur. Unknown fields, trailing data and invalid
// values are errors wrapped in ErrInvalidFaults.
func decodeFaultsUpdate(r io.Reader, cur Faults) (Faults, error) {
	body, err := io.ReadAll(io.LimitReader(r, 64<<10+1))
	if err != nil {
		return cur, fmt.Errorf("%w: read body: %w", ErrInvalidFaults, err)
	}
	if len(body) > 64<<10 {
		return cur, fmt.Errorf("%w: body larger than 64 KiB", ErrInvalidFaults)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var in faultsJSON
	if err := dec.Decode(&in); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field != "":
			want := "a duration string such as \"50ms\""
			if te.Field == "errorRatio" {
				want = "a number between 0 and 1"
			}
			return cur, fmt.Errorf("%w: %s: got a JSON %s, want %s", ErrInvalidFaults, te.Field, te.Value, want)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return cur, fmt.Errorf("%w: %s (known fields: errorRatio, latency, latencyJitter)", ErrInvalidFaults, strings.TrimPrefix(err.Error(), "json: "))
		}
		return cur, fmt.Errorf("%w: body must be a JSON object such as {\"errorRatio\":0.2,\"latency\":\"50ms\"}: %w", ErrInvalidFaults, err)
	}
	if dec.More() {
		return cur, fmt.Errorf("%w: unexpected data after the JSON object", ErrInvalidFaults)
	}
	next := cur
	var errs []error
	if in.ErrorRatio != nil {
		next.ErrorRatio = *in.ErrorRatio
	}
	parse := func(field string, s *string, dst *time.Duration) {
		if s == nil {
			return
		}
		d, err := time.ParseDuration(strings.TrimSpace(*s))
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s %q: not a duration (want e.g. \"50ms\", \"1.5s\")", ErrInvalidFaults, field, *s))
			return
		}
		*dst = d
	}
	parse("latency", in.Latency, &next.Latency)
	parse("latencyJitter", in.LatencyJitter, &next.LatencyJitter)
	// Report every problem at once: bad durations and out-of-range values.
	if err := errors.Join(append(errs, next.Validate())...); err != nil {
		return cur, err
	}
	return next, nil
}
