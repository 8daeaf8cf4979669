package risk

import (
	"math"
	"strconv"
	"strings"
)

// describe says in plain words what a feature's value is, with a qualifier
// saying how it compares with the model's reference value (z is the scaled
// value: positive means above the reference).
func describe(name string, v rawValue, z float64) string {
	n := int64(math.Round(v.x))
	switch name {
	case FeatLinesAdded:
		return qualify("adds "+count(n, "line", "lines"), z, "high churn", "small change")
	case FeatLinesDeleted:
		return qualify("deletes "+count(n, "line", "lines"), z, "many deletions", "few deletions")
	case FeatFiles:
		return qualify("touches "+count(n, "file", "files"), z, "many files", "few files")
	case FeatDirectories:
		return qualify("spans "+count(n, "directory", "directories"), z, "spread out", "localised")
	case FeatSubsystems:
		return qualify("spans "+count(n, "subsystem", "subsystems"), z, "cross-cutting", "contained")
	case FeatEntropy:
		return qualify("change entropy "+strconv.FormatFloat(v.x, 'f', 2, 64), z, "edits scattered across files", "edits concentrated")
	case FeatAuthorExperience:
		return qualify("author has "+count(n, "prior change", "prior changes"), z, "experienced", "inexperienced")
	case FeatFilesAge:
		return qualify("touched files last changed "+days(v.x)+" earlier on average", z, "long untouched", "recently changed")
	case FeatFix:
		if v.x == 1 {
			return "is a fix"
		}
		return "is not a fix"
	case FeatServicesTouched:
		return qualify("touches "+count(n, "service", "services")+" including dependents", z, "wide blast radius", "narrow blast radius")
	case FeatOffHours:
		when := ""
		if v.when != nil {
			when = " (" + v.when.Format("15:04 Mon") + ")"
		}
		if v.x == 1 {
			return "outside business hours" + when
		}
		return "in business hours" + when
	case FeatOnCallGap:
		if v.x == 1 {
			return "nobody on call for the whole release"
		}
		return "on call for the whole release"
	}
	return name + " " + strconv.FormatFloat(v.x, 'g', 6, 64)
}

// qualify adds how the value compares with the model's reference: the
// strong word ("high churn") from one standard deviation away, "above
// typical" or "below typical" from a quarter, "typical" closer than that,
// and nothing at the reference itself.
func qualify(text string, z float64, above, below string) string {
	q := ""
	switch {
	case z >= 1:
		q = above
	case z >= 0.25:
		q = "above typical"
	case z <= -1:
		q = below
	case z <= -0.25:
		q = "below typical"
	case z != 0:
		q = "typical"
	}
	if q == "" {
		return text
	}
	return text + " (" + q + ")"
}

// count writes "1 line", "1,240 lines".
func count(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return thousands(n) + " " + many
}

// thousands writes n with comma thousands separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// days writes a number of days: "3 hours", "1 day", "12 days".
func days(d float64) string {
	if d < 1 {
		return count(int64(math.Round(d*24)), "hour", "hours")
	}
	return count(int64(math.Round(d)), "day", "days")
}
