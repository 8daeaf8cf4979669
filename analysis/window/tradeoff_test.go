package window

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

func TestWaitBudgetIsTheTradeOff(t *testing.T) {
	loc := mustLoc(t, berlinTZ)
	now := time.Date(2026, 6, 8, 8, 0, 0, 0, loc) // Monday
	// Tuesday 14:00 has 80% of the traffic of other hours, Saturday 03:00
	// 20%.
	p := withHours(withHours(flatProfile(berlinTZ, 1000), 800, how(time.Tuesday, 14)), 200, how(time.Saturday, 3))
	spec := &config.ScheduleSpec{Timezone: berlinTZ}
	pick := func(risk float64, maxWait time.Duration) Suggestion {
		t.Helper()
		s, err := Suggest(Input{Schedule: spec, Duration: time.Hour, Traffic: p, Risk: risk, MaxWait: maxWait}, now)
		require.NoError(t, err)
		return s
	}
	at := func(day, hour int) time.Time { return time.Date(2026, 6, day, hour, 0, 0, 0, loc) }

	// Risk 1 with the default budget (the horizon) waits for the quietest
	// hour of the week, five days away.
	s := pick(1, 0)
	require.True(t, s.Best.Start.Equal(at(13, 3)), "best %s", s.Best.Start)
	require.Equal(t, DefaultHorizon, s.Weights.WaitBudget)
	// Risk 0.2 may wait 0.2 × 7 days = 33.6 h: Tuesday 14:00 is in reach,
	// Saturday is not.
	s = pick(0.2, 0)
	require.True(t, s.Best.Start.Equal(at(9, 14)), "best %s", s.Best.Start)
	// The policy's maxWait caps the wait: with 24 h even risk 1 cannot
	// reach Tuesday 14:00 (30 h away) and takes the earliest of the equal
	// hours.
	s = pick(1, 24*time.Hour)
	require.True(t, s.Best.Start.Equal(now), "best %s", s.Best.Start)
	// Risk 0 takes the earliest allowed start whatever the traffic.
	s = pick(0, 0)
	require.True(t, s.Best.Start.Equal(now))
	// Starts past the budget are still offered as alternatives, ranked
	// after every start within it.
	s = pick(0.2, 0)
	var sawSaturday bool
	for _, a := range s.Alternatives {
		sawSaturday = sawSaturday || a.Start.Equal(at(13, 3))
		require.Greater(t, a.Score, s.Best.Score)
	}
	require.False(t, sawSaturday, "Saturday is past the budget and the alternatives within it are enough")

	// The schedule's maxWait is read when the input has none.
	spec.MaxWait = config.Duration(24 * time.Hour)
	s = pick(1, 0)
	require.Equal(t, 24*time.Hour, s.Weights.WaitBudget)
}

func TestNearTiesGoToTheEarlierStart(t *testing.T) {
	loc := mustLoc(t, berlinTZ)
	now := time.Date(2026, 6, 8, 8, 0, 0, 0, loc)
	// Friday 10:00 is 3% quieter than Monday: not worth four days.
	p := withHours(flatProfile(berlinTZ, 1000), 970, how(time.Friday, 10))
	s, err := Suggest(Input{Schedule: &config.ScheduleSpec{Timezone: berlinTZ}, Duration: time.Hour, Traffic: p, Risk: 1}, now)
	require.NoError(t, err)
	require.True(t, s.Best.Start.Equal(now), "best %s", s.Best.Start)
}

// gapSource is hourly traffic with the last hours missing.
type gapSource struct {
	missingFrom time.Time
}

func (g gapSource) HourlyTraffic(_ context.Context, from, to time.Time) ([]Sample, error) {
	var out []Sample
	for t := from.Truncate(time.Hour); t.Before(to); t = t.Add(time.Hour) {
		s := Sample{Start: t, Value: 1000}
		if t.Hour() == 3 {
			s.Value = 100 // a quiet hour every night
		}
		if !t.Before(g.missingFrom) {
			s = Sample{Start: t, Missing: true, Flag: "absent"}
		}
		out = append(out, s)
	}
	return out, nil
}

func TestStaleMetricIsNotTrusted(t *testing.T) {
	loc := mustLoc(t, berlinTZ)
	now := time.Date(2026, 6, 8, 8, 0, 0, 0, loc)
	spec := &config.ScheduleSpec{Timezone: berlinTZ}

	// Absent for the last two hours: not stale yet, the quiet 03:00 wins.
	p, err := LoadProfile(context.Background(), gapSource{missingFrom: now.Add(-2 * time.Hour)}, now, 21*24*time.Hour, loc)
	require.NoError(t, err)
	require.False(t, p.Stale())
	s, err := Suggest(Input{Schedule: spec, Duration: time.Hour, Traffic: p, Risk: 1}, now)
	require.NoError(t, err)
	require.Equal(t, 3, s.Best.Start.In(loc).Hour())
	require.False(t, s.TrafficStale)

	// Absent for 58 hours right up to now: stale. The profile's quiet hours
	// are not trusted, the release goes at its earliest allowed start, and
	// the suggestion says why.
	since := now.Add(-58 * time.Hour)
	p, err = LoadProfile(context.Background(), gapSource{missingFrom: since}, now, 21*24*time.Hour, loc)
	require.NoError(t, err)
	require.True(t, p.Stale())
	require.True(t, p.StaleSince.Equal(since), "stale since %s", p.StaleSince)
	s, err = Suggest(Input{Schedule: spec, Duration: time.Hour, Traffic: p, Risk: 1}, now)
	require.NoError(t, err)
	require.True(t, s.TrafficStale)
	require.True(t, s.Best.Start.Equal(now))
	require.Contains(t, s.Notes[len(s.Notes)-2], "the traffic metric has had no data since Fri 2026-06-05 22:00 CEST (2d10h up to now), so its profile is not trusted")
}
