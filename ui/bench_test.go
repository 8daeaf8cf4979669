package ui

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/state"
)

// BenchmarkReleasePage renders the page of a release with 200 decisions
// (an hour of analyses every 20 s) and with a full record (2,000, the
// state's cap), each decision with a verdict.
func BenchmarkReleasePage(b *testing.B) {
	for _, n := range []int{200, 2000} {
		b.Run(fmt.Sprintf("decisions=%d", n), func(b *testing.B) { benchmarkReleasePage(b, n) })
	}
}

func benchmarkReleasePage(b *testing.B, decisions int) {
	r := sampleRelease(b)
	r.Status.Phase, r.Status.EndedAt = state.PhaseProgressing, time.Time{}
	v := verdict(b, t0, analysis.PhaseSuccessful, 0.5, 0.2, 100, 0.001, 900, 0.002)
	r.Status.Decisions = nil
	for i := range decisions {
		at := t0.Add(time.Duration(i) * time.Second)
		r.Status.Decisions = append(r.Status.Decisions, state.Decision{Seq: i + 1, Time: at, Actor: "controller:n1", Action: state.DecisionAnalysis,
			Phase: state.PhaseProgressing, Weight: uint32(i * 5 / decisions * 20), Message: fmt.Sprintf("analysis %d", i), Verdict: v})
	}
	st := state.New()
	st.Releases[r.Name()] = r
	c, err := New(fakeSource{st}, Options{Now: func() time.Time { return t0.Add(time.Hour) }})
	if err != nil {
		b.Fatal(err)
	}
	h := c.Views()
	var size int
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/console/release/greeter-v2", nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size)/1024, "KiB/page")
}
