package window

import "time"

// Outcome is how one past release went: when it started and whether it
// was promoted (true) or rolled back or aborted (false).
type Outcome struct {
	Start   time.Time `json:"start"`
	Success bool      `json:"success"`
}

// priorStrength is how many pseudo-releases the prior of an hour is
// worth: an hour needs several real outcomes before it looks different
// from its neighbours.
const priorStrength = 4

// The overall prior is Beta(priorSuccesses, priorFailures): releases
// usually succeed, and ten pseudo-releases at 90% keep the first few real
// outcomes from swinging the overall rate.
const (
	priorSuccesses = 9
	priorFailures  = 1
)

type tally struct{ n, ok int }

func (t *tally) add(success bool) {
	t.n++
	if success {
		t.ok++
	}
}

// successModel is the smoothed success rate of releases by the hour of
// the week they started at. Three levels shrink into each other: overall
// (with a Beta(9,1) prior), hour of the day (shrunk to overall
// with priorStrength pseudo-releases) and hour of the week (shrunk to its
// hour of the day the same way). With no outcomes every hour has the same
// rate, so past success does not change the ranking.
type successModel struct {
	how   [HoursPerWeek]tally
	hod   [24]tally
	all   tally
	total float64 // smoothed overall rate
}

// newSuccessModel counts the outcomes that started before now, by their
// hour of the week in loc. Later ones are ignored: a suggestion at time t
// knows nothing after t.
func newSuccessModel(outcomes []Outcome, now time.Time, loc *time.Location) *successModel {
	m := &successModel{}
	for _, o := range outcomes {
		if !o.Start.Before(now) {
			continue
		}
		h := HourOfWeek(o.Start, loc)
		m.how[h].add(o.Success)
		m.hod[h%24].add(o.Success)
		m.all.add(o.Success)
	}
	m.total = (float64(m.all.ok) + priorSuccesses) / (float64(m.all.n) + priorSuccesses + priorFailures)
	return m
}

// rate is the smoothed success rate of releases started in hour-of-week h.
func (m *successModel) rate(h int) float64 {
	hod := m.hod[h%24]
	pHod := (float64(hod.ok) + priorStrength*m.total) / (float64(hod.n) + priorStrength)
	how := m.how[h]
	return (float64(how.ok) + priorStrength*pHod) / (float64(how.n) + priorStrength)
}

// failureShare maps an hour's failure rate to 0..1 against the overall
// one: 0.5 is average, above is worse. f/(f+mean) keeps a rare-failure
// service's differences as visible as a frequent-failure one's.
func (m *successModel) failureShare(h int) float64 {
	f, mean := 1-m.rate(h), 1-m.total
	if f+mean == 0 {
		return 0.5
	}
	return f / (f + mean)
}
