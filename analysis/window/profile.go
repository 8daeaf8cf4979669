package window

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

// ErrTraffic is matched when a TrafficSource cannot deliver samples.
var ErrTraffic = errors.New("traffic history unavailable")

// HoursPerWeek is the number of hour-of-week buckets in a Profile.
const HoursPerWeek = 7 * 24

// ImplausiblyLow: a sample below this fraction of the upper median of the
// same hour on days of the same kind (weekdays, or weekend days) in the
// lookback is taken for an unflagged outage and left out with
// FlagImplausiblyLow. Real demand at one hour of a weekday does not vary
// tenfold from one weekday to the next; a server that is down or still
// recovering does.
const ImplausiblyLow = 0.1

// FlagImplausiblyLow is the Excluded key of samples ImplausiblyLow left out.
const FlagImplausiblyLow = "implausibly_low"

// minSamplesForDip is how many samples an hour of the day needs before
// its median is trusted to call another sample implausibly low: with
// three, one outage sample cannot be the upper median.
const minSamplesForDip = 3

// Sample is the traffic of one hour, [Start, Start+1h).
type Sample struct {
	Start time.Time `json:"start"`
	Value float64   `json:"value"`
	// Missing marks an hour without a trustworthy value: no data, a gap
	// in the series, or a flagged hour (an outage, a partial hour). It is
	// never read as zero traffic.
	Missing bool `json:"missing,omitempty"`
	// Flag says why the hour is missing ("absent", "no_data",
	// "outage_hurricane_erin", ...).
	Flag string `json:"flag,omitempty"`
}

// TrafficSource delivers hourly traffic: one Sample for each whole hour in
// [from, to), in order, with Missing set for hours it has no trustworthy
// value for. Hours after to are never returned, so a profile built at
// time t uses nothing from after t.
type TrafficSource interface {
	HourlyTraffic(ctx context.Context, from, to time.Time) ([]Sample, error)
}

// HourStat is the expected traffic of one hour of the week.
type HourStat struct {
	Value float64 `json:"value"`
	// Weeks is how many samples the value is the median of; 0 means the
	// hour had no usable sample and Value was estimated (see Estimated).
	Weeks int `json:"weeks"`
	// Estimated marks a value taken from the same hour of other days.
	Estimated bool `json:"estimated,omitempty"`
}

// Profile is the expected traffic of each hour of the week, in a time
// zone: Hours[0] is Monday 00:00-01:00, Hours[167] Sunday 23:00-24:00.
// The zero Profile is empty: Suggest then assumes flat traffic and says
// so.
type Profile struct {
	Timezone string                 `json:"timezone,omitempty"`
	Hours    [HoursPerWeek]HourStat `json:"hours"`
	// Used counts the samples behind the profile; Excluded counts the
	// samples left out, by flag.
	Used     int            `json:"used"`
	Excluded map[string]int `json:"excluded,omitempty"`
	// Note says why a profile is empty or thin ("the query returned no
	// data"), for the reasons of a suggestion.
	Note string `json:"note,omitempty"`
	// StaleSince is set when the metric has had no trustworthy sample
	// from that time right up to when the profile was built, for at least
	// StaleAfter: the service may be down or its metric renamed, so the
	// profile no longer says when it is quiet (see Suggest).
	StaleSince time.Time `json:"staleSince,omitzero"`
}

// StaleAfter is how long a traffic metric may be absent right up to now
// before its profile is stale: longer than a scrape or two going missing,
// shorter than any wait for a quiet hour.
const StaleAfter = 3 * time.Hour

// Stale reports whether the metric has been absent right up to when the
// profile was built.
func (p *Profile) Stale() bool { return !p.StaleSince.IsZero() }

// staleSince returns the end of the last trustworthy sample when it is at
// least StaleAfter before now, else the zero time. Without any
// trustworthy sample it returns from.
func staleSince(samples []Sample, from, now time.Time) time.Time {
	last := from
	for _, s := range samples {
		if !s.Missing && s.Start.Add(time.Hour).After(last) {
			last = s.Start.Add(time.Hour)
		}
	}
	if now.Sub(last) >= StaleAfter {
		return last
	}
	return time.Time{}
}

// Empty reports whether the profile has no data at all.
func (p *Profile) Empty() bool { return p.Used == 0 }

// Peak is the highest hourly value.
func (p *Profile) Peak() float64 {
	peak := 0.0
	for _, h := range p.Hours {
		peak = math.Max(peak, h.Value)
	}
	return peak
}

// HourOfWeek returns the profile bucket of t in loc: Monday 00:00-01:00
// is 0.
func HourOfWeek(t time.Time, loc *time.Location) int {
	lt := t.In(loc)
	return (int(lt.Weekday())+6)%7*24 + lt.Hour()
}

// BuildProfile builds the hour-of-week profile of samples in loc.
//
// Samples that are Missing, negative or not finite are left out (counted
// in Excluded by flag): a gap or an outage is not low traffic. So are
// samples below ImplausiblyLow times the typical value of their hour on
// days of the same kind:
// the dip of a service that is still recovering is not low demand. Each hour
// of the week gets the upper median of its remaining samples, one per
// week: robust to one odd week out of three (an unflagged recovery dip
// right after an outage, a holiday), and with two weeks it takes the
// larger, because overestimating traffic only makes an hour less
// preferred, while underestimating it could make an outage look quiet.
// Hours without any sample are estimated from the median of the same hour
// on other days of the same kind (weekdays or weekends), then of any day,
// and marked Estimated.
func BuildProfile(samples []Sample, loc *time.Location) Profile {
	p := Profile{Timezone: loc.String()}
	exclude := func(flag string) {
		if p.Excluded == nil {
			p.Excluded = map[string]int{}
		}
		p.Excluded[flag]++
	}
	var valid []Sample
	var byHour [2][24][]float64 // weekday or weekend, hour of the day
	for _, s := range samples {
		if s.Missing || math.IsNaN(s.Value) || math.IsInf(s.Value, 0) || s.Value < 0 {
			exclude(cmpOrString(s.Flag, "missing"))
			continue
		}
		valid = append(valid, s)
		k, h := dayKind(s.Start, loc)
		byHour[k][h] = append(byHour[k][h], s.Value)
	}
	// The typical value of each hour of a weekday and of a weekend day, to
	// catch outages nobody flagged (a server that answers almost nothing
	// while it recovers).
	var typical [2][24]float64
	for k := range byHour {
		for h, vals := range byHour[k] {
			if len(vals) >= minSamplesForDip {
				typical[k][h] = upperMedian(vals)
			}
		}
	}
	var buckets [HoursPerWeek][]float64
	for _, s := range valid {
		k, h := dayKind(s.Start, loc)
		if t := typical[k][h]; t > 0 && s.Value < ImplausiblyLow*t {
			exclude(FlagImplausiblyLow)
			continue
		}
		how := HourOfWeek(s.Start, loc)
		buckets[how] = append(buckets[how], s.Value)
		p.Used++
	}
	if p.Used == 0 {
		return p
	}
	for h, vals := range buckets {
		if len(vals) > 0 {
			p.Hours[h] = HourStat{Value: upperMedian(vals), Weeks: len(vals)}
		}
	}
	for h := range p.Hours {
		if p.Hours[h].Weeks > 0 {
			continue
		}
		p.Hours[h] = HourStat{Value: p.estimate(h), Estimated: true}
	}
	return p
}

// estimate fills an hour without data from the same hour of other days.
func (p *Profile) estimate(h int) float64 {
	day, hour := h/24, h%24
	weekend := day >= 5
	var same, any []float64
	for d := range 7 {
		o := p.Hours[d*24+hour]
		if d == day || o.Weeks == 0 {
			continue
		}
		any = append(any, o.Value)
		if (d >= 5) == weekend {
			same = append(same, o.Value)
		}
	}
	switch {
	case len(same) > 0:
		return upperMedian(same)
	case len(any) > 0:
		return upperMedian(any)
	}
	var all []float64
	for _, o := range p.Hours {
		if o.Weeks > 0 {
			all = append(all, o.Value)
		}
	}
	return upperMedian(all)
}

// upperMedian is the middle value, or the larger of the two middle values.
func upperMedian(vals []float64) float64 {
	if len(vals) == 0 {
		return 0
	}
	s := slices.Clone(vals)
	sort.Float64s(s)
	return s[len(s)/2]
}

// LoadProfile asks src for the hours in [now-lookback, now) and builds
// the profile in loc. On error it returns an empty profile whose Note
// says what failed, with the error: the caller may go on with the flat
// fallback.
func LoadProfile(ctx context.Context, src TrafficSource, now time.Time, lookback time.Duration, loc *time.Location) (Profile, error) {
	samples, err := src.HourlyTraffic(ctx, now.Add(-lookback), now)
	if err != nil {
		p := Profile{Timezone: loc.String(), Note: fmt.Sprintf("traffic history unavailable: %v", err)}
		return p, fmt.Errorf("%w: %w", ErrTraffic, err)
	}
	p := BuildProfile(samples, loc)
	if p.Empty() {
		p.Note = fmt.Sprintf("no traffic data in the last %s (%d hours asked, none usable)", lookback, len(samples))
		return p, nil
	}
	p.StaleSince = staleSince(samples, now.Add(-lookback), now)
	return p, nil
}

func cmpOrString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// dayKind returns 0 for Monday to Friday, 1 for the weekend, and the hour
// of the day of t in loc.
func dayKind(t time.Time, loc *time.Location) (int, int) {
	lt := t.In(loc)
	if wd := lt.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return 1, lt.Hour()
	}
	return 0, lt.Hour()
}
