package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/analysis/report"
	"github.com/sluicehq/sluice/analysis/window"
	"github.com/sluicehq/sluice/state"
)

// WindowSuggester is what the API needs from the window optimizer.
type WindowSuggester interface {
	Suggest(ctx context.Context, st *state.State, service string, risk float64, duration time.Duration, now time.Time) (window.Suggestion, error)
}

// report: GET /v1/report?days=30.
func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	days := 30
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.writeError(w, fmt.Errorf("%w: days must be a whole number >= 0 (0 = all time), got %q", errBadRequest, v))
			return
		}
		days = n
	}
	writeJSON(w, http.StatusOK, report.Compute(s.cluster.State(), s.opts.Now(), time.Duration(days)*24*time.Hour))
}

// windowSuggest: GET /v1/windows/{service}?risk=0.3&duration=45m.
func (s *Server) windowSuggest(w http.ResponseWriter, r *http.Request) {
	if s.opts.Windows == nil {
		s.writeError(w, fmt.Errorf("%w: the window optimizer is not configured on this node", errBadRequest))
		return
	}
	svc := r.PathValue("service")
	q := r.URL.Query()
	risk := 0.5
	if v := q.Get("risk"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			s.writeError(w, fmt.Errorf("%w: risk must be a probability between 0 and 1, got %q", errBadRequest, v))
			return
		}
		risk = f
	}
	d := time.Hour
	if v := q.Get("duration"); v != "" {
		pd, err := time.ParseDuration(v)
		if err != nil || pd <= 0 {
			s.writeError(w, fmt.Errorf("%w: duration must be a positive Go duration such as 45m, got %q", errBadRequest, v))
			return
		}
		d = pd
	}
	sug, err := s.opts.Windows.Suggest(r.Context(), s.cluster.State(), svc, risk, d, s.opts.Now())
	if err != nil && sug.Considered == 0 {
		s.writeError(w, err)
		return
	}
	out := map[string]any{"service": svc, "suggestion": sug}
	if err != nil {
		out["error"] = err.Error()
	}
	writeJSON(w, http.StatusOK, out)
}
