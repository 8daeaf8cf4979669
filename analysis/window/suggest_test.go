package window

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

// The reference week: decisions are made on Friday 2026-06-05 at 12:00
// in Berlin; the quiet hours under test are on Tuesday 2026-06-09.
func refNow(t *testing.T) time.Time {
	return time.Date(2026, 6, 5, 12, 0, 0, 0, mustLoc(t, berlinTZ))
}

func tuesday(t *testing.T, hour int) time.Time {
	return time.Date(2026, 6, 9, hour, 0, 0, 0, mustLoc(t, berlinTZ))
}

// quietTuesday is busy everywhere except Tue 10:00-12:00, which is almost
// empty: the hour every score wants.
func quietTuesday() Profile {
	return withHours(flatProfile(berlinTZ, 1000), 1, how(time.Tuesday, 10), how(time.Tuesday, 11))
}

func suggest(t *testing.T, in Input) Suggestion {
	t.Helper()
	s, err := Suggest(in, refNow(t))
	require.NoError(t, err)
	return s
}

func TestConstraintsBeatScores(t *testing.T) {
	quietFrom := tuesday(t, 10)
	base := Input{Schedule: businessSpec(), Duration: 2 * time.Hour, Traffic: quietTuesday(), Risk: 1}

	// Control: without constraints in the way the quiet hours win, so the
	// cases below could fail.
	s := suggest(t, base)
	require.True(t, s.Best.Start.Equal(quietFrom), "best %s", s.Best.Start)

	cases := []struct {
		name string
		spec func(*config.ScheduleSpec)
		// forbidden is the span no chosen release may touch.
		forbidden  [2]time.Time
		constraint func(Rejected) int
		reason     string
	}{
		{
			name: "blackout",
			spec: func(s *config.ScheduleSpec) {
				s.Blackouts = []config.BlackoutSpec{{From: "2026-06-09 10:30", To: "2026-06-09 11:00", Reason: "db migration"}}
			},
			forbidden:  [2]time.Time{tuesday(t, 10).Add(30 * time.Minute), tuesday(t, 11)},
			constraint: func(r Rejected) int { return r.Blackout },
			reason:     "db migration",
		},
		{
			name: "calendar holiday",
			spec: func(s *config.ScheduleSpec) {
				s.Calendar = &config.CalendarSpec{ICS: "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20260609\nSUMMARY:Company day\nEND:VEVENT\nEND:VCALENDAR\n"}
			},
			forbidden:  [2]time.Time{tuesday(t, 0), tuesday(t, 24)},
			constraint: func(r Rejected) int { return r.Calendar },
			reason:     "Company day",
		},
		{
			name: "no one on call for part of the release",
			spec: func(s *config.ScheduleSpec) {
				s.OnCall = &config.OnCallSpec{Shifts: []config.ShiftSpec{
					{Who: "alice", From: "2026-06-01 00:00", To: "2026-06-09 11:30"},
					{Who: "bob", From: "2026-06-09 11:45", To: "2026-06-30 00:00"},
				}}
			},
			forbidden:  [2]time.Time{tuesday(t, 11).Add(30 * time.Minute), tuesday(t, 11).Add(45 * time.Minute)},
			constraint: func(r Rejected) int { return r.OnCall },
			reason:     "no one is on call from Tue 2026-06-09 11:30 CEST to Tue 2026-06-09 11:45 CEST",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			spec := *businessSpec()
			tc.spec(&spec)
			in.Schedule = &spec
			s := suggest(t, in)
			for _, c := range allChosen(s) {
				require.False(t, overlapsSpan(c, tc.forbidden[0], tc.forbidden[1]), "chose %s, which touches the forbidden span", c.Start)
				ok, why := s.InWindow(c.Start)
				require.True(t, ok, why)
			}
			// The quiet slot itself is rejected, and says why.
			ok, why := s.InWindow(quietFrom)
			require.False(t, ok)
			require.Contains(t, why, tc.reason)
			if tc.name != "no one on call for part of the release" {
				require.True(t, slices.ContainsFunc(s.Rejected.ByReason, func(rc ReasonCount) bool { return rc.Reason == tc.reason }))
			}
			require.Positive(t, tc.constraint(s.Rejected))
			require.False(t, s.Best.Start.Equal(quietFrom))
		})
	}
}

func TestGreatHourWithoutOnCallIsNeverChosen(t *testing.T) {
	spec := businessSpec()
	// Cover is there every weekday except all of Tuesday.
	spec.OnCall = &config.OnCallSpec{Shifts: []config.ShiftSpec{
		{Who: "alice", From: "2026-06-01 00:00", To: "2026-06-09 00:00"},
		{Who: "bob", From: "2026-06-10 00:00", To: "2026-06-30 00:00"},
	}}
	s := suggest(t, Input{Schedule: spec, Duration: time.Hour, Traffic: quietTuesday(), Risk: 1})
	for _, c := range allChosen(s) {
		require.NotEqual(t, 9, c.Start.Day(), "nobody is on call on Tuesday, yet %s was chosen", c.Start)
		require.NotEmpty(t, c.OnCall)
	}
	require.Equal(t, 15, s.Rejected.OnCall, "Tue 09:00-16:00 in 30m slots (a 1h release must end by 17:00)")
	ok, why := s.InWindow(tuesday(t, 10))
	require.False(t, ok)
	require.Contains(t, why, "no one is on call from Tue 2026-06-09 10:00 CEST to Tue 2026-06-09 11:00 CEST")
}

func TestDSTSpringForwardBerlin(t *testing.T) {
	loc := mustLoc(t, berlinTZ)
	spec := businessSpec("Sun 01:00-04:00")
	now := time.Date(2026, 3, 28, 12, 0, 0, 0, loc)
	s, err := Suggest(Input{Schedule: spec, Duration: 30 * time.Minute, Traffic: flatProfile(berlinTZ, 10), Horizon: 24 * time.Hour}, now)
	require.NoError(t, err)
	// 01:00-04:00 on the night clocks jump from 02:00 to 03:00 is 2h:
	// starts 01:00, 01:30, 03:00 and 03:30.
	require.Equal(t, 4, s.Feasible)
	require.Equal(t, 49, s.Considered)
	var local []string
	for _, c := range allChosen(s) {
		local = append(local, c.Start.In(loc).Format("15:04 MST"))
	}
	slices.Sort(local)
	require.Equal(t, []string{"01:00 CET", "01:30 CET", "03:00 CEST", "03:30 CEST"}, local)
}

func TestDSTFallBackBerlin(t *testing.T) {
	loc := mustLoc(t, berlinTZ)
	now := time.Date(2026, 10, 24, 12, 0, 0, 0, loc)
	s, err := Suggest(Input{Schedule: businessSpec("Sun 01:00-04:00"), Duration: 30 * time.Minute,
		Traffic: flatProfile(berlinTZ, 10), Horizon: 24 * time.Hour, Alternatives: 10}, now)
	require.NoError(t, err)
	// The night clocks fall back from 03:00 to 02:00 the window is 4h:
	// 02:00 and 02:30 happen twice.
	require.Equal(t, 8, s.Feasible)
	require.Equal(t, 49, s.Considered, "24h of horizon in 30m slots")
	var local []string
	for _, c := range allChosen(s) {
		local = append(local, c.Start.In(loc).Format("15:04 MST"))
	}
	slices.Sort(local)
	require.Equal(t, []string{"01:00 CEST", "01:30 CEST", "02:00 CEST", "02:00 CET", "02:30 CEST", "02:30 CET", "03:00 CET", "03:30 CET"}, local)
}

func TestTrafficFollowsLocalHoursAcrossDST(t *testing.T) {
	loc := mustLoc(t, berlinTZ)
	// Quiet at 10:00 local on Monday, the day after summer time starts.
	p := withHours(flatProfile(berlinTZ, 1000), 100, how(time.Monday, 10))
	now := time.Date(2026, 3, 27, 12, 0, 0, 0, loc) // Friday before the change
	s, err := Suggest(Input{Schedule: businessSpec(), Duration: time.Hour, Traffic: p, Risk: 1}, now)
	require.NoError(t, err)
	require.True(t, s.Best.Start.Equal(time.Date(2026, 3, 30, 10, 0, 0, 0, loc)), "best %s", s.Best.Start.In(loc))
	require.Equal(t, 8, s.Best.Start.UTC().Hour(), "10:00 CEST")
	require.InDelta(t, 0.1, s.Best.TrafficShare, 1e-9)
}

func TestAlternativesAreDistinct(t *testing.T) {
	// Traffic that varies smoothly within the day: neighbouring slots score
	// almost alike, which is what alternatives must not be.
	p := flatProfile(berlinTZ, 0)
	for h := range p.Hours {
		p.Hours[h].Value = 500 + 40*math.Abs(float64(h%24-13)) + float64(h/24)
	}
	s := suggest(t, Input{Schedule: businessSpec("Mon-Fri 09:00-17:00", "Sat 10:00-12:00"), Duration: time.Hour, Traffic: p, Risk: 0.8})
	chosen := allChosen(s)
	require.Len(t, chosen, 1+DefaultAlternatives)
	days := map[int]bool{}
	for i, a := range chosen {
		for _, b := range chosen[i+1:] {
			require.False(t, a.Start.Before(b.End) && b.Start.Before(a.End), "%s and %s overlap", a.Start, b.Start)
		}
		require.False(t, days[a.Start.YearDay()], "two choices on %s: not distinct windows", a.Start)
		days[a.Start.YearDay()] = true
	}
	for i := 1; i < len(s.Alternatives); i++ {
		require.LessOrEqual(t, s.Alternatives[i-1].Score, s.Alternatives[i].Score)
	}
	require.LessOrEqual(t, s.Best.Score, s.Alternatives[0].Score)

	// With a single window occurrence, alternatives come from the same
	// window but never overlap.
	s = suggest(t, Input{Schedule: businessSpec("Mon 09:00-17:00"), Duration: 2 * time.Hour, Traffic: p, Risk: 0.8})
	chosen = allChosen(s)
	require.Len(t, chosen, 3, "the best (12:00) and the non-overlapping 14:00 and 10:00")
	for i, a := range chosen {
		for _, b := range chosen[i+1:] {
			require.False(t, a.Start.Before(b.End) && b.Start.Before(a.End), "%s and %s overlap", a.Start, b.Start)
		}
	}
}

func TestSuggestIsDeterministic(t *testing.T) {
	loc := mustLoc(t, berlinTZ)
	var outcomes []Outcome
	for i := range 40 {
		outcomes = append(outcomes, Outcome{Start: time.Date(2026, 5, 1+i%28, 9+i%8, 0, 0, 0, loc), Success: i%3 != 0})
	}
	spec := businessSpec("Mon-Thu 09:00-16:00", "Fri 09:00-12:00")
	spec.Blackouts = []config.BlackoutSpec{{From: "2026-06-08", To: "2026-06-09", Reason: "freeze"}}
	in := Input{Schedule: spec, Duration: 90 * time.Minute, Traffic: quietTuesday(), Outcomes: outcomes, Risk: 0.6}
	first, err := json.Marshal(suggest(t, in))
	require.NoError(t, err)
	for range 3 {
		again, err := json.Marshal(suggest(t, in))
		require.NoError(t, err)
		require.JSONEq(t, string(first), string(again))
	}
	// The order of past outcomes does not matter.
	rev := slices.Clone(outcomes)
	slices.Reverse(rev)
	in.Outcomes = rev
	again, err := json.Marshal(suggest(t, in))
	require.NoError(t, err)
	require.JSONEq(t, string(first), string(again))
}

func TestFallbackWithoutTrafficSaysSo(t *testing.T) {
	now := refNow(t)
	for _, tc := range []struct {
		name    string
		profile Profile
		want    string
	}{
		{"no profile", Profile{}, "no traffic profile was given"},
		{"metric missing", Profile{Timezone: berlinTZ, Note: "no traffic data in the last 504h0m0s (504 hours asked, none usable)"}, "no traffic data in the last"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Suggest(Input{Schedule: businessSpec(), Duration: time.Hour, Traffic: tc.profile, Risk: 0.9}, now)
			require.NoError(t, err)
			require.Contains(t, strings.Join(s.Notes, "\n"), "flat traffic assumed: "+tc.want)
			require.Contains(t, strings.Join(s.Best.Reasons, "\n"), "traffic not considered: "+tc.want)
			require.Equal(t, 1.0, s.Best.TrafficShare)
			// With flat traffic and no history, the earliest allowed start wins.
			require.True(t, s.Best.Start.Equal(time.Date(2026, 6, 5, 12, 0, 0, 0, now.Location())), "best %s", s.Best.Start)
		})
	}
}

func TestRiskShiftsTheChoice(t *testing.T) {
	// Thursday 14:00-15:00 has half the traffic of every other hour.
	p := withHours(flatProfile(berlinTZ, 1000), 500, how(time.Thursday, 14))
	loc := mustLoc(t, berlinTZ)
	now := time.Date(2026, 6, 8, 8, 0, 0, 0, loc) // Monday
	pick := func(risk float64) time.Time {
		s, err := Suggest(Input{Schedule: businessSpec(), Duration: time.Hour, Traffic: p, Risk: risk}, now)
		require.NoError(t, err)
		return s.Best.Start
	}
	require.True(t, pick(0).Equal(time.Date(2026, 6, 8, 9, 0, 0, 0, loc)), "a safe release goes first thing")
	require.True(t, pick(1).Equal(time.Date(2026, 6, 11, 14, 0, 0, 0, loc)), "a risky release waits for the quiet hour")
	w0, w1 := WeightsFor(0, DefaultHorizon), WeightsFor(1, DefaultHorizon)
	require.Zero(t, w0.WaitBudget)
	require.Equal(t, DefaultHorizon, w1.WaitBudget)
	require.Greater(t, w1.Failure, w0.Failure)
}

func TestPastFailuresSteerRiskyReleases(t *testing.T) {
	loc := mustLoc(t, berlinTZ)
	now := time.Date(2026, 6, 7, 12, 0, 0, 0, loc) // Sunday
	var outcomes []Outcome
	for w := range 5 {
		day := time.Date(2026, 5, 4+7*w, 0, 0, 0, 0, loc) // Mondays May 4 to Jun 1
		outcomes = append(outcomes,
			Outcome{Start: day.Add(9 * time.Hour), Success: false},
			Outcome{Start: day.Add(9*time.Hour + 20*time.Minute), Success: false},
			Outcome{Start: day.Add(11 * time.Hour), Success: true},
		)
	}
	// A release after now must not count.
	outcomes = append(outcomes, Outcome{Start: now.Add(time.Hour), Success: false})
	in := Input{Schedule: businessSpec("Mon 09:00-12:00"), Duration: time.Hour, Traffic: flatProfile(berlinTZ, 10), Outcomes: outcomes, Risk: 1}
	s, err := Suggest(in, now)
	require.NoError(t, err)
	require.NotEqual(t, 9, s.Best.Start.In(loc).Hour(), "Mon 09:00 failed 10 times in 10")
	require.Equal(t, 0, s.Best.PastReleases-s.Best.PastSuccesses, "the best hour has no failures")

	nine := s.Alternatives[slices.IndexFunc(s.Alternatives, func(c Candidate) bool { return c.Start.In(loc).Hour() == 9 })]
	require.Equal(t, 10, nine.PastReleases)
	require.Equal(t, 0, nine.PastSuccesses)
	require.Less(t, nine.SuccessRate, s.Best.SuccessRate)
	require.Contains(t, strings.Join(nine.Reasons, "\n"), "past releases started on Mon 09:00-10:00: 0 of 10 succeeded")

	// Without outcomes the earliest start wins: the steering came from them.
	in.Outcomes = nil
	s, err = Suggest(in, now)
	require.NoError(t, err)
	require.Equal(t, 9, s.Best.Start.In(loc).Hour())
	require.Contains(t, strings.Join(s.Notes, "\n"), "no past release outcomes")
}

func TestNoAllowedStart(t *testing.T) {
	spec := businessSpec("Mon-Fri 09:00-17:00")
	spec.Blackouts = []config.BlackoutSpec{{From: "2026-06-01", To: "2026-07-01", Reason: "June freeze"}}
	s, err := Suggest(Input{Schedule: spec, Duration: time.Hour, Traffic: quietTuesday(), Risk: 0.5}, refNow(t))
	require.ErrorIs(t, err, ErrNoWindow)
	require.Contains(t, err.Error(), `"June freeze" removed`)
	require.Zero(t, s.Feasible)
	require.Equal(t, s.Considered, s.Rejected.Total())
	require.Positive(t, s.Rejected.Window)
	require.Positive(t, s.Rejected.Blackout)
	require.Equal(t, []ReasonCount{{Constraint: ConstraintBlackout, Reason: "June freeze", Count: s.Rejected.Blackout}}, s.Rejected.ByReason)

	// A release longer than any window cannot start either.
	_, err = Suggest(Input{Schedule: businessSpec(), Duration: 9 * time.Hour, Risk: 0.5}, refNow(t))
	require.ErrorIs(t, err, ErrNoWindow)
}

func TestSuggestInputErrors(t *testing.T) {
	good := Input{Schedule: businessSpec(), Duration: time.Hour, Risk: 0.5}
	for name, mutate := range map[string]func(*Input){
		"negative risk":     func(in *Input) { in.Risk = -0.1 },
		"risk above 1":      func(in *Input) { in.Risk = 1.1 },
		"NaN risk":          func(in *Input) { in.Risk = math.NaN() },
		"zero duration":     func(in *Input) { in.Duration = 0 },
		"horizon too long":  func(in *Input) { in.Horizon = 40 * 24 * time.Hour },
		"slot too fine":     func(in *Input) { in.Slot = 30 * time.Second },
		"profile elsewhere": func(in *Input) { in.Traffic = flatProfile("UTC", 1) },
	} {
		in := good
		mutate(&in)
		_, err := Suggest(in, refNow(t))
		require.ErrorIs(t, err, ErrInput, name)
	}
	in := good
	in.Schedule = &config.ScheduleSpec{Timezone: "Mars/Olympus"}
	_, err := Suggest(in, refNow(t))
	require.ErrorIs(t, err, ErrSchedule)
	in.Schedule = &config.ScheduleSpec{Timezone: "UTC", Windows: []string{"Mon-Thu 9-16"}}
	_, err = Suggest(in, refNow(t))
	require.ErrorIs(t, err, ErrSchedule)
}

func TestInWindow(t *testing.T) {
	loc := mustLoc(t, berlinTZ)
	spec := businessSpec("Mon-Thu 09:00-16:00", "Fri 09:00-12:00")
	spec.Blackouts = []config.BlackoutSpec{{From: "2026-06-10 13:00", To: "2026-06-10 14:00", Reason: "load test"}}
	// Daily turns handed over at noon: alice has Sun-Mon, bob Mon-Tue, ...
	spec.OnCall = &config.OnCallSpec{Rotations: []config.RotationSpec{{People: []string{"alice", "bob"}, Start: "2026-06-01 12:00", Every: config.Duration(24 * time.Hour)}}}
	s := suggest(t, Input{Schedule: spec, Duration: time.Hour, Risk: 0.5})

	at := func(day, h, m int) time.Time { return time.Date(2026, 6, day, h, m, 0, 0, loc) }
	cases := []struct {
		t    time.Time
		ok   bool
		want string
	}{
		{at(8, 10, 0), true, `inside the window "Mon-Thu 09:00-16:00", no blackout or calendar event, on call: alice`},
		{at(8, 11, 30), true, "on call: alice, bob"},
		{at(8, 8, 30), false, "outside the allowed windows"},
		{at(8, 15, 0), true, "inside the window"},
		{at(8, 15, 30), false, "would run until Mon 2026-06-08 16:30 CEST, past the end of the allowed window"},
		{at(8, 19, 0), false, `Mon 2026-06-08 19:00 CEST is outside the allowed windows ("Mon-Thu 09:00-16:00", "Fri 09:00-12:00"; Europe/Berlin)`},
		{at(12, 11, 30), false, "past the end of the allowed window"},
		{at(10, 12, 30), false, `overlaps the blackout "load test" (Wed 2026-06-10 13:00 CEST to Wed 2026-06-10 14:00 CEST)`},
		{at(13, 10, 0), false, "outside the allowed windows"},
	}
	for _, tc := range cases {
		ok, why := s.InWindow(tc.t)
		require.Equal(t, tc.ok, ok, "%s: %s", tc.t, why)
		require.Contains(t, why, tc.want, tc.t.String())
	}
	var zero Suggestion
	ok, why := zero.InWindow(at(8, 10, 0))
	require.False(t, ok)
	require.Contains(t, why, "no schedule")
}

func TestNoScheduleAllowsAnyTime(t *testing.T) {
	s := suggest(t, Input{Duration: time.Hour, Risk: 0.5})
	require.Equal(t, "UTC", s.Timezone)
	require.Equal(t, s.Considered, s.Feasible)
	require.Contains(t, strings.Join(s.Notes, "\n"), "the policy has no schedule")
	ok, why := s.InWindow(refNow(t).Add(3 * time.Hour))
	require.True(t, ok)
	require.Contains(t, why, "no release windows are set")
	require.Contains(t, why, "on-call not checked")
}

func TestExpectedDuration(t *testing.T) {
	bakes := []time.Duration{time.Minute, 5 * time.Minute, 10 * time.Minute}
	require.Equal(t, 16*time.Minute+3*DefaultStepAllowance, ExpectedDuration(bakes, DefaultStepAllowance))
	require.Zero(t, ExpectedDuration(nil, DefaultStepAllowance))
}
