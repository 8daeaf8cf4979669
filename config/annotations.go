package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Annotation prefixes that describe the change a declared version ships.
// A Service's new spec.version starts a release; these annotations are
// its change descriptor and quality gate results, so a pipeline that
// applies YAML gets the same risk scoring and gates as `release start`.
const (
	// ChangeAnnotationPrefix keys describe the change (see changeKeys).
	ChangeAnnotationPrefix = "change.sluice.dev/"
	// GateAnnotationPrefix keys are gate results: "passed" or "failed".
	GateAnnotationPrefix = "gate.sluice.dev/"
	// RequiredGateAnnotationPrefix keys are results of required gates.
	RequiredGateAnnotationPrefix = "required-gate.sluice.dev/"
)

// changeKey is one change.sluice.dev/ annotation: how it is parsed into a
// ChangeDescriptor field.
type changeKey struct {
	name string
	set  func(c *ChangeDescriptor, v string) error
}

func intField(dst func(*ChangeDescriptor) **int) func(*ChangeDescriptor, string) error {
	return func(c *ChangeDescriptor, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return fmt.Errorf("must be a whole number 0 or more, got %q", v)
		}
		*dst(c) = &n
		return nil
	}
}

// changeKeys lists the change.sluice.dev/ keys, in the order of
// ChangeDescriptor's fields.
func changeKeys() []changeKey {
	return []changeKey{
		{"lines-added", intField(func(c *ChangeDescriptor) **int { return &c.LinesAdded })},
		{"lines-deleted", intField(func(c *ChangeDescriptor) **int { return &c.LinesDeleted })},
		{"files", intField(func(c *ChangeDescriptor) **int { return &c.Files })},
		{"directories", intField(func(c *ChangeDescriptor) **int { return &c.Directories })},
		{"subsystems", intField(func(c *ChangeDescriptor) **int { return &c.Subsystems })},
		{"services-touched", func(c *ChangeDescriptor, v string) error {
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					c.ServicesTouched = append(c.ServicesTouched, s)
				}
			}
			return nil
		}},
		{"entropy", func(c *ChangeDescriptor, v string) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				return fmt.Errorf("must be a number from 0 to 1, got %q", v)
			}
			c.Entropy = &f
			return nil
		}},
		{"author-experience", intField(func(c *ChangeDescriptor) **int { return &c.AuthorExperience })},
		{"files-age", func(c *ChangeDescriptor, v string) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f != f || f > 1e6 {
				return fmt.Errorf("must be a number of days from 0 to 1000000, got %q", v)
			}
			c.FilesAge = &f
			return nil
		}},
		{"author", func(c *ChangeDescriptor, v string) error { c.Author = v; return nil }},
		{"fix", func(c *ChangeDescriptor, v string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("must be true or false, got %q", v)
			}
			c.Fix = &b
			return nil
		}},
		{"commit", func(c *ChangeDescriptor, v string) error { c.Commit = v; return nil }},
		{"description", func(c *ChangeDescriptor, v string) error { c.Description = v; return nil }},
	}
}

// annotationPath is the field path of one annotation in messages.
func annotationPath(key string) string { return fmt.Sprintf("metadata.annotations[%q]", key) }

// ChangeFromAnnotations reads the change descriptor and gate results a
// Service's annotations carry: nil and no gates when there are none. It
// assumes the annotations passed validation; a bad value is skipped.
func ChangeFromAnnotations(annotations map[string]string) (*ChangeDescriptor, []GateResult) {
	c, gates, _ := parseChangeAnnotations(annotations)
	return c, gates
}

// parseChangeAnnotations parses every Sluice annotation and reports each
// bad one by key.
func parseChangeAnnotations(annotations map[string]string) (*ChangeDescriptor, []GateResult, map[string]string) {
	var (
		c         ChangeDescriptor
		described bool
		gates     []GateResult
		bad       = map[string]string{}
	)
	byName := map[string]changeKey{}
	for _, k := range changeKeys() {
		byName[k.name] = k
	}
	keys := make([]string, 0, len(annotations))
	for k := range annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		v := annotations[key]
		switch {
		case strings.HasPrefix(key, ChangeAnnotationPrefix):
			k, ok := byName[strings.TrimPrefix(key, ChangeAnnotationPrefix)]
			if !ok {
				bad[key] = "unknown change annotation (known: " + changeKeyNames() + ")"
				continue
			}
			if err := k.set(&c, v); err != nil {
				bad[key] = err.Error()
				continue
			}
			described = true
		case strings.HasPrefix(key, GateAnnotationPrefix), strings.HasPrefix(key, RequiredGateAnnotationPrefix):
			required := strings.HasPrefix(key, RequiredGateAnnotationPrefix)
			name := strings.TrimPrefix(strings.TrimPrefix(key, GateAnnotationPrefix), RequiredGateAnnotationPrefix)
			switch {
			case name == "":
				bad[key] = "a gate annotation names its gate after the prefix"
			case v != "passed" && v != "failed":
				bad[key] = fmt.Sprintf("must be \"passed\" or \"failed\", got %q", v)
			default:
				gates = append(gates, GateResult{Name: name, Passed: v == "passed", Required: required})
			}
		}
	}
	if !described {
		return nil, gates, bad
	}
	return &c, gates, bad
}

func changeKeyNames() string {
	var names []string
	for _, k := range changeKeys() {
		names = append(names, k.name)
	}
	return strings.Join(names, ", ")
}

// checkChangeAnnotations reports every Sluice annotation that does not
// parse, so a typo never silently drops a risk input or a gate.
func checkChangeAnnotations(r *reporter, annotations map[string]string) {
	_, gates, bad := parseChangeAnnotations(annotations)
	keys := make([]string, 0, len(bad))
	for k := range bad {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.addf(annotationPath(k), "%s", bad[k])
	}
	seen := map[string]bool{}
	for _, g := range gates {
		if seen[g.Name] {
			r.addf("metadata.annotations", "gate %q is given twice (as %s and %s)", g.Name, GateAnnotationPrefix+g.Name, RequiredGateAnnotationPrefix+g.Name)
		}
		seen[g.Name] = true
	}
}

// checkDeclaredVersion applies the rules of spec.version: it names one of
// the versions, and a declared version excludes static weights (the
// version says where traffic goes).
func checkDeclaredVersion(r *reporter, spec *ServiceSpec) {
	if spec.Version == "" {
		return
	}
	found := false
	var names []string
	for _, v := range spec.Versions {
		found = found || v.Name == spec.Version
		names = append(names, v.Name)
	}
	if !found {
		r.addf("spec.version", "%q is not one of spec.versions (%s)", spec.Version, strings.Join(names, ", "))
	}
	for i, v := range spec.Versions {
		if v.Weight != nil {
			r.addf(fmt.Sprintf("spec.versions[%d].weight", i),
				"a Service that declares spec.version (%s) gets no static weights: the declared version takes all traffic once released; remove the weights, or remove spec.version to split traffic by hand", spec.Version)
		}
	}
}
