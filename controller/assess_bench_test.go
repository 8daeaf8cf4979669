package controller

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/analysis/window"
	"github.com/sluicehq/sluice/config"
)

// BenchmarkAssess times a release decision's risk half: score, reasons and
// plan for one release against a state with a few services.
func BenchmarkAssess(b *testing.B) {
	t := &testing.T{}
	st := riskWorld(t, "  riskPlan: {maxStep: 20}\n")
	rel := &config.Release{Metadata: config.Metadata{Name: "r"}, Spec: config.ReleaseSpec{Service: "db", To: "v2",
		Change: &config.ChangeDescriptor{LinesAdded: ip(900), LinesDeleted: ip(120), Files: ip(14), Author: "carol"}}}
	b.ReportAllocs()
	for b.Loop() {
		if Assess(st, rel, t0) == nil {
			b.Fatal("no assessment")
		}
	}
}

// BenchmarkSuggestWindow times the window half: ranking every 30-minute
// start of the next 7 days under windows, a blackout and an on-call
// rotation, with a traffic profile.
func BenchmarkSuggestWindow(b *testing.B) {
	spec := &config.ScheduleSpec{
		Timezone:  "Europe/Berlin",
		Windows:   []string{"Mon-Thu 09:00-16:00", "Fri 09:00-12:00"},
		Blackouts: []config.BlackoutSpec{{From: "2026-11-27T00:00:00+01:00", To: "2026-11-28T00:00:00+01:00", Reason: "freeze"}},
	}
	var samples []window.Sample
	for h := 0; h < 21*24; h++ {
		at := t0.Add(-time.Duration(h) * time.Hour)
		samples = append(samples, window.Sample{Start: at, Value: float64(1000 + 500*((at.Hour()+6)%24)/12)})
	}
	loc, _ := time.LoadLocation("Europe/Berlin")
	in := window.Input{Schedule: spec, Duration: 40 * time.Minute, Traffic: window.BuildProfile(samples, loc), Risk: 0.6}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := window.Suggest(in, t0); err != nil {
			b.Fatal(err)
		}
	}
}
