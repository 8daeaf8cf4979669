package window

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

func hourly(start time.Time, values ...float64) []Sample {
	out := make([]Sample, len(values))
	for i, v := range values {
		out[i] = Sample{Start: start.Add(time.Duration(i) * time.Hour), Value: v}
	}
	return out
}

func TestBuildProfileMedianAndExclusions(t *testing.T) {
	loc := mustLoc(t, "UTC")
	mon := time.Date(2026, 6, 1, 10, 0, 0, 0, loc) // Monday 10:00
	week := 7 * 24 * time.Hour
	samples := []Sample{
		{Start: mon, Value: 100},
		{Start: mon.Add(week), Value: 300},
		{Start: mon.Add(2 * week), Value: 0, Missing: true, Flag: "outage"},
		{Start: mon.Add(3 * week), Value: 200},
		{Start: mon.Add(time.Hour), Value: 50},
		{Start: mon.Add(time.Hour + week), Value: 70},
		{Start: mon.Add(2 * time.Hour), Missing: true},
		{Start: mon.Add(3 * time.Hour), Value: math.NaN()},
		{Start: mon.Add(4 * time.Hour), Value: -1},
	}
	p := BuildProfile(samples, loc)
	require.Equal(t, "UTC", p.Timezone)
	require.Equal(t, HourStat{Value: 200, Weeks: 3}, p.Hours[how(time.Monday, 10)], "median of 100, 300, 200; the outage is not a zero")
	require.Equal(t, HourStat{Value: 70, Weeks: 2}, p.Hours[how(time.Monday, 11)], "two weeks: the larger")
	require.Equal(t, map[string]int{"outage": 1, "missing": 3}, p.Excluded)
	require.Equal(t, 5, p.Used)
	require.False(t, p.Empty())

	// Hours without data are estimated from the same hour on other days
	// of the same kind.
	tue := p.Hours[how(time.Tuesday, 10)]
	require.True(t, tue.Estimated)
	require.Zero(t, tue.Weeks)
	require.Equal(t, 200.0, tue.Value)
	sat := p.Hours[how(time.Saturday, 3)]
	require.True(t, sat.Estimated)
	require.Equal(t, 200.0, sat.Value, "no 03:00 anywhere: the median of all known hours (70, 200)")

	none := BuildProfile(nil, loc)
	require.True(t, none.Empty())
	gaps := BuildProfile([]Sample{{Start: mon, Missing: true, Flag: "absent"}}, loc)
	require.True(t, gaps.Empty())
}

func TestBuildProfileDropsImplausiblyLowSamples(t *testing.T) {
	loc := mustLoc(t, "UTC")
	// Four weekdays at 1000 requests at 09:00, then one at 20: a server
	// still recovering from an outage that nobody flagged.
	start := time.Date(2026, 6, 1, 9, 0, 0, 0, loc)
	var samples []Sample
	for d, v := range []float64{1000, 900, 1100, 20, 950} {
		samples = append(samples, Sample{Start: start.AddDate(0, 0, d), Value: v})
	}
	// Weekend hours are judged against weekends: 300 is low for a weekday
	// but normal for a Sunday.
	samples = append(samples, Sample{Start: time.Date(2026, 6, 7, 9, 0, 0, 0, loc), Value: 300})
	p := BuildProfile(samples, loc)
	require.Equal(t, map[string]int{FlagImplausiblyLow: 1}, p.Excluded)
	require.True(t, p.Hours[how(time.Thursday, 9)].Estimated, "Thursday's only sample was dropped")
	require.Greater(t, p.Hours[how(time.Thursday, 9)].Value, 500.0)
	require.Equal(t, 300.0, p.Hours[how(time.Sunday, 9)].Value)
}

// synthCSV writes three weeks of hourly traffic with a clear daily shape
// (quiet at night, busy in the afternoon) and quieter weekends. In the
// second week Wednesday 08:00-20:00 is an outage: flagged zeros, then an
// unflagged recovery hour at 21:00 with almost nothing.
func synthCSV(start time.Time) string {
	var b strings.Builder
	b.WriteString("hour_start_local,requests,seconds_covered,flag\n")
	for i := range 21 * 24 {
		t := start.Add(time.Duration(i) * time.Hour)
		h := t.Hour()
		v := 1000 + 2000*math.Sin(math.Pi*float64(h)/24)
		if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
			v *= 0.5
		}
		// Monday 08:00-10:00 is the quietest time inside the windows.
		if t.Weekday() == time.Monday && (h == 8 || h == 9) {
			v = 900
		}
		flag := ""
		if i/(7*24) == 1 && t.Weekday() == time.Wednesday && h >= 8 && h < 20 {
			v, flag = 0, "outage"
		}
		if i/(7*24) == 1 && t.Weekday() == time.Wednesday && h == 20 {
			v = 15
		}
		fmt.Fprintf(&b, "%s,%.0f,3600,%s\n", t.Format(time.RFC3339), v, flag)
	}
	return b.String()
}

// naiveProfile reads every hour, outages included, as traffic and
// averages: what the robust profile must not do.
func naiveProfile(samples []Sample, loc *time.Location) Profile {
	p := Profile{Timezone: loc.String()}
	var n [HoursPerWeek]int
	for _, s := range samples {
		h := HourOfWeek(s.Start, loc)
		p.Hours[h].Value += s.Value
		n[h]++
		p.Used++
	}
	for h := range p.Hours {
		if n[h] > 0 {
			p.Hours[h] = HourStat{Value: p.Hours[h].Value / float64(n[h]), Weeks: n[h]}
		}
	}
	return p
}

func TestOutageIsNotReadAsQuiet(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, ny) // Monday
	src, err := ReadCSV(strings.NewReader(synthCSV(start)))
	require.NoError(t, err)
	now := start.Add(21 * 24 * time.Hour)
	in := Input{
		Schedule: &config.ScheduleSpec{Timezone: "America/New_York", Windows: []string{"Mon-Fri 08:00-20:00"}},
		Duration: 2 * time.Hour, Risk: 1,
	}
	outage := func(c Candidate) bool {
		lt := c.Start.In(ny)
		return lt.Weekday() == time.Wednesday
	}

	// A naive profile of the outage week reads the outage as the quietest
	// hours of the week and walks right into them: the checks below could
	// fail.
	afterOutage := start.Add(14 * 24 * time.Hour)
	samples, err := src.HourlyTraffic(context.Background(), afterOutage.Add(-7*24*time.Hour), afterOutage)
	require.NoError(t, err)
	in.Traffic = naiveProfile(samples, ny)
	s, err := Suggest(in, afterOutage)
	require.NoError(t, err)
	require.True(t, outage(s.Best), "naive pick %s", s.Best.Start.In(ny))

	for _, lookback := range []time.Duration{7 * 24 * time.Hour, 14 * 24 * time.Hour, 21 * 24 * time.Hour} {
		// The weeks ending right after the outage week (7d, 14d) and all three.
		at := afterOutage
		if lookback == 21*24*time.Hour {
			at = now
		}
		p, err := LoadProfile(context.Background(), src, at, lookback, ny)
		require.NoError(t, err)
		require.Equal(t, 12, p.Excluded["outage"], lookback.String())
		require.Equal(t, 1, p.Excluded[FlagImplausiblyLow], lookback.String())
		wed := p.Hours[how(time.Wednesday, 12)]
		require.Greater(t, wed.Value, 2000.0, "Wednesday noon is busy, whatever the outage week said (%s)", lookback)
		in.Traffic = p
		s, err := Suggest(in, at)
		require.NoError(t, err)
		require.False(t, outage(s.Best), "robust pick %s with %s of history", s.Best.Start.In(ny), lookback)
		require.Equal(t, time.Monday, s.Best.Start.In(ny).Weekday(), "Monday 08:00 is the real quiet time")
		require.Equal(t, 8, s.Best.Start.In(ny).Hour())
		require.Contains(t, strings.Join(s.Notes, "\n"), "gaps and outages are not read as quiet hours")
	}
}

// nasaCSV is the NASA-HTTP 1995 hourly trace, kept outside the repository.
const nasaCSV = "/work/shared/data/traffic/nasa-http-1995/nasa_http_1995_hourly.csv"

func TestHurricaneErinIsNotReadAsQuiet(t *testing.T) {
	f, err := os.Open(nasaCSV)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s not present", nasaCSV)
	}
	require.NoError(t, err)
	defer f.Close()
	src, err := ReadCSV(f)
	require.NoError(t, err)
	ny := mustLoc(t, "America/New_York") // UTC-04:00 in August 1995
	// Monday after the storm: the last week holds the whole outage (Tue
	// Aug 1 14:00 to Thu Aug 3 04:00), the unflagged recovery of Thursday
	// morning and the Monday without data (Jul 31).
	now := time.Date(1995, 8, 7, 0, 0, 0, 0, ny)
	spec := &config.ScheduleSpec{Timezone: "America/New_York", Windows: []string{"Mon-Fri 08:00-20:00"}}
	future, err := src.HourlyTraffic(context.Background(), now, now.Add(8*24*time.Hour))
	require.NoError(t, err)
	truth := func(c Candidate) float64 {
		sum, n := 0.0, 0
		for _, s := range future {
			if !s.Start.Before(c.Start) && s.Start.Before(c.End) {
				sum += s.Value
				n++
			}
		}
		return sum / float64(n)
	}
	for _, lookback := range []time.Duration{7 * 24 * time.Hour, 21 * 24 * time.Hour} {
		p, err := LoadProfile(context.Background(), src, now, lookback, ny)
		require.NoError(t, err)
		require.Equal(t, 39, p.Excluded["outage_hurricane_erin"], "every outage hour is left out (%s)", lookback)
		require.Positive(t, p.Excluded[FlagImplausiblyLow], "the unflagged Thursday-morning recovery is left out")
		// Each outage hour of the week is estimated near its real level.
		for h := how(time.Tuesday, 15); h <= how(time.Thursday, 3); h++ {
			real := future[h-how(time.Monday, 0)].Value
			require.Greater(t, p.Hours[h].Value, 0.4*real, "hour %d (%s)", h, lookback)
		}
		s, err := Suggest(Input{Schedule: spec, Duration: 2 * time.Hour, Traffic: p, Risk: 0.9}, now)
		require.NoError(t, err)
		require.Greater(t, s.Best.Traffic, 0.5*truth(s.Best), "the chosen window was not mistaken for a quiet one (%s)", lookback)
	}
	// Control: reading the gaps as zeros picks a window expected empty
	// that is in fact busy.
	samples, err := src.HourlyTraffic(context.Background(), now.Add(-7*24*time.Hour), now)
	require.NoError(t, err)
	s, err := Suggest(Input{Schedule: spec, Duration: 2 * time.Hour, Traffic: naiveProfile(samples, ny), Risk: 0.9}, now)
	require.NoError(t, err)
	require.Less(t, s.Best.Traffic, 0.1*truth(s.Best))
}

func TestLoadProfileErrors(t *testing.T) {
	loc := mustLoc(t, "UTC")
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, loc)
	p, err := LoadProfile(context.Background(), failingSource{}, now, 7*24*time.Hour, loc)
	require.ErrorIs(t, err, ErrTraffic)
	require.True(t, p.Empty())
	require.Contains(t, p.Note, "traffic history unavailable")

	empty, err := ReadCSV(strings.NewReader("time,value\n"))
	require.NoError(t, err)
	p, err = LoadProfile(context.Background(), empty, now, 7*24*time.Hour, loc)
	require.NoError(t, err)
	require.True(t, p.Empty())
	require.Equal(t, "no traffic data in the last 168h0m0s (0 hours asked, none usable)", p.Note)
}

type failingSource struct{}

func (failingSource) HourlyTraffic(context.Context, time.Time, time.Time) ([]Sample, error) {
	return nil, errors.New("connection refused")
}

func TestHourOfWeek(t *testing.T) {
	loc := mustLoc(t, berlinTZ)
	require.Equal(t, 0, HourOfWeek(time.Date(2026, 6, 1, 0, 30, 0, 0, loc), loc))
	require.Equal(t, HoursPerWeek-1, HourOfWeek(time.Date(2026, 6, 7, 23, 59, 0, 0, loc), loc))
	// Sunday 22:30 UTC is Monday 00:30 in Berlin in summer.
	require.Equal(t, 0, HourOfWeek(time.Date(2026, 6, 7, 22, 30, 0, 0, time.UTC), loc))
}

func TestProfileMeanWeighsPartialHours(t *testing.T) {
	loc := mustLoc(t, "UTC")
	p := withHours(flatProfile("UTC", 100), 400, how(time.Monday, 10))
	start := time.Date(2026, 6, 1, 9, 30, 0, 0, loc)
	v, est := p.mean(calendarInterval(start, time.Hour), loc)
	require.InDelta(t, 250, v, 1e-9, "half an hour at 100, half at 400")
	require.False(t, est)
}
