package window

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/calendar"
	"github.com/sluicehq/sluice/config"
)

const berlinTZ = "Europe/Berlin"

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := calendar.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

// flatProfile is a profile of value v at every hour, in tz.
func flatProfile(tz string, v float64) Profile {
	p := Profile{Timezone: tz, Used: HoursPerWeek * 3}
	for h := range p.Hours {
		p.Hours[h] = HourStat{Value: v, Weeks: 3}
	}
	return p
}

// how is the hour-of-week index of a weekday and hour.
func how(day time.Weekday, hour int) int { return (int(day)+6)%7*24 + hour }

// withHours sets the given hours of the week to v.
func withHours(p Profile, v float64, hours ...int) Profile {
	for _, h := range hours {
		p.Hours[h].Value = v
	}
	return p
}

// businessSpec is a Berlin schedule with weekday windows and no on-call.
func businessSpec(windows ...string) *config.ScheduleSpec {
	if len(windows) == 0 {
		windows = []string{"Mon-Fri 09:00-17:00"}
	}
	return &config.ScheduleSpec{Timezone: berlinTZ, Windows: windows}
}

// allChosen returns the best start and the alternatives.
func allChosen(s Suggestion) []Candidate {
	return append([]Candidate{s.Best}, s.Alternatives...)
}

func overlapsSpan(c Candidate, from, to time.Time) bool {
	return c.Start.Before(to) && from.Before(c.End)
}

func calendarInterval(start time.Time, d time.Duration) calendar.Interval {
	return calendar.Interval{Start: start, End: start.Add(d)}
}
