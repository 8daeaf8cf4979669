package config

import (
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
)

// MaxQueryLen bounds a query template, in bytes.
const MaxQueryLen = 16 << 10

// placeholderSample is what each placeholder is replaced with before a
// template is parsed: a value of the shape Sluice substitutes.
var placeholderSample = map[string]string{
	PlaceholderService: "svc",
	PlaceholderVersion: "v1",
	PlaceholderWindow:  "5m",
	PlaceholderLabel:   "tenant",
}

// misspeltPlaceholder finds what looks like a placeholder but is not one
// exactly: a single brace, inner spaces or another case, e.g. "{service}"
// or "{{ Version }}". Left in a query it would be sent to Prometheus as
// text and match nothing, or fail there.
var misspeltPlaceholder = regexp.MustCompile(`(?i)\{+\s*(service|version|window|label)\s*\}+`)

// checkQueryTemplate applies the rules every PromQL template shares: only
// the allowed placeholders, each written exactly, and a valid PromQL
// expression with an instant-vector or scalar result once they are
// replaced, as Prometheus' own parser reads it. Rules about which
// placeholder a query must use stay with the query's field. It reports at
// most one problem per template and returns whether it found none.
func checkQueryTemplate(r *reporter, path, tmpl string, allowed ...string) bool {
	if len(tmpl) > MaxQueryLen {
		r.addf(path, "at most %d characters are allowed, got %d", MaxQueryLen, len(tmpl))
		return false
	}
	list := placeholderNames(allowed)
	for rest := tmpl; ; {
		i := strings.Index(rest, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			r.addf(path, "unterminated placeholder %q: use %s", clip(rest[i:]), list)
			return false
		}
		if ph := rest[i : i+j+2]; !slices.Contains(allowed, ph) {
			r.addf(path, "unknown placeholder %q: use %s", clip(ph), list)
			return false
		}
		rest = rest[i+j+2:]
	}
	expanded := tmpl
	for _, ph := range allowed {
		expanded = strings.ReplaceAll(expanded, ph, placeholderSample[ph])
	}
	// Exact placeholders are gone now; anything still shaped like one is
	// a misspelling.
	if m := misspeltPlaceholder.FindString(expanded); m != "" {
		r.addf(path, "%q looks like a misspelt placeholder: write %s", clip(m), list)
		return false
	}
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(expanded)
	if err != nil {
		r.addf(path, "not a valid PromQL query once %s are replaced: %s", list, Clip(err.Error(), 200))
		return false
	}
	switch t := expr.Type(); t {
	case parser.ValueTypeVector, parser.ValueTypeScalar:
	case parser.ValueTypeMatrix:
		r.addf(path, "must return an instant vector or a scalar, got a range vector (wrap it in a function such as rate())")
		return false
	default:
		r.addf(path, "must return an instant vector or a scalar, got a %s", t)
		return false
	}
	return true
}

// placeholderNames renders placeholders for messages: "a, b and c".
func placeholderNames(phs []string) string {
	switch len(phs) {
	case 0:
		return "no placeholder"
	case 1:
		return phs[0]
	}
	return strings.Join(phs[:len(phs)-1], ", ") + " and " + phs[len(phs)-1]
}
