package ui

import (
	"html/template"
	"strings"
	"time"
)

// funcs are the helpers the templates use; each formats, none decides.
func funcs() template.FuncMap {
	return template.FuncMap{
		"num":        FormatNumber,
		"phaseClass": phaseClass,
		"stepText":   stepText,
		"stepNo":     stepNo,
		"trainClass": trainPhaseClass,
		"join":       strings.Join,
		"lines":      func(l []string) string { return strings.Join(l, "\n") },
		"percent":    func(p float64) string { return FormatNumber(p*100) + "%" },
		"rfc3339":    func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
		"clock": func(t time.Time) string {
			if t.IsZero() {
				return "–"
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"signed": func(f float64) string {
			if f >= 0 {
				return "+" + FormatNumber(f)
			}
			return FormatNumber(f)
		},
	}
}
