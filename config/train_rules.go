package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// TrainRequirement is how far a member's dependencies must have got.
type TrainRequirement struct {
	// Step is 0 for "promoted", else the 1-based step that must be ACKed.
	Step int
}

// ParseRequires reads spec.requires: "" or "promoted", or "step:N".
func ParseRequires(s string) (TrainRequirement, error) {
	switch {
	case s == "" || s == "promoted":
		return TrainRequirement{}, nil
	case strings.HasPrefix(s, "step:"):
		n, err := strconv.Atoi(strings.TrimPrefix(s, "step:"))
		if err != nil || n < 1 {
			return TrainRequirement{}, fmt.Errorf("invalid requires %q: want \"promoted\" or \"step:N\" with N >= 1", s)
		}
		return TrainRequirement{Step: n}, nil
	}
	return TrainRequirement{}, fmt.Errorf("invalid requires %q: want \"promoted\" or \"step:N\" (e.g. \"step:2\")", s)
}

func checkTrain(r *reporter, t *ReleaseTrain) {
	spec := &t.Spec
	if len(spec.Members) == 0 {
		r.addf("spec.members", "at least one member is required")
	}
	if _, err := ParseRequires(spec.Requires); err != nil {
		r.addf("spec.requires", "%v", err)
	}
	names := map[string]int{}
	services := map[string]int{}
	for i, m := range spec.Members {
		path := fmt.Sprintf("spec.members[%d]", i)
		if m.Service == "" {
			r.addf(path+".service", "required")
		} else if first, dup := services[m.Service]; dup {
			r.addf(path+".service", "Service %q is already released by spec.members[%d]: one member per service", m.Service, first)
		} else {
			services[m.Service] = i
		}
		if m.To == "" {
			r.addf(path+".to", "required: the version to release")
		}
		if m.From != "" && m.From == m.To {
			r.addf(path+".to", "must differ from from (%q)", m.From)
		}
		name := m.MemberName()
		switch first, dup := names[name]; {
		case name == "":
		case dup:
			r.addf(path+".name", "duplicate member %q (also spec.members[%d])", name, first)
		case !dnsLabel.MatchString(name):
			r.addf(path+".name", "invalid name %q: use lowercase letters, digits and '-'", name)
		default:
			names[name] = i
		}
		if hc := m.HealthCheck; hc != nil {
			checkHealthCheck(r, path+".healthCheck", hc)
		}
	}
	for i, m := range spec.Members {
		for j, a := range m.After {
			p := fmt.Sprintf("spec.members[%d].after[%d]", i, j)
			switch _, ok := names[a]; {
			case a == m.MemberName():
				r.addf(p, "a member cannot wait for itself")
			case !ok:
				r.addf(p, "unknown member %q (members: %s)", a, strings.Join(sortedKeysOf(names), ", "))
			}
		}
	}
}

func checkHealthCheck(r *reporter, path string, hc *HealthCheck) {
	if hc.HTTP == nil && strings.TrimSpace(hc.Query) == "" {
		r.addf(path, "set http, query or both")
	}
	if h := hc.HTTP; h != nil {
		if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
			r.addf(path+".http.path", "must start with /, got %q", h.Path)
		}
		if h.Port > maxPort {
			r.addf(path+".http.port", "must be 1-%d, got %d", maxPort, h.Port)
		}
		if h.ExpectStatus != 0 && (h.ExpectStatus < 100 || h.ExpectStatus > 599) {
			r.addf(path+".http.expectStatus", "must be an HTTP status (100-599), got %d", h.ExpectStatus)
		}
	}
	if q := hc.Query; q != "" {
		checkQueryTemplate(r, path+".query", q, PlaceholderService, PlaceholderVersion)
	}
	if hc.Retries < 0 || hc.Retries > 100 {
		r.addf(path+".retries", "must be 0-100, got %d", hc.Retries)
	}
	if hc.Timeout != 0 && hc.Timeout.D() < MinAckTimeout/10 {
		r.addf(path+".timeout", "must be at least 100ms when set, got %s", hc.Timeout.D())
	}
}

func sortedKeysOf(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TrainGraph is the dependency order of a train's members.
type TrainGraph struct {
	// Deps maps a member to the members it waits for (sorted).
	Deps map[string][]string
	// Levels groups members: level 0 depends on nothing, level i only on
	// earlier levels. Members of one level may run together.
	Levels [][]string
}

// BuildTrainGraph orders a train's members from their after lists and
// from dependsOn between their services (followed through services that
// are not members). dependsOn gives a service's direct dependencies. It
// fails on a cycle, naming it.
func BuildTrainGraph(spec *ReleaseTrainSpec, dependsOn func(service string) []string) (*TrainGraph, error) {
	byService := map[string]string{}
	for _, m := range spec.Members {
		byService[m.Service] = m.MemberName()
	}
	g := &TrainGraph{Deps: map[string][]string{}}
	for _, m := range spec.Members {
		name := m.MemberName()
		set := map[string]bool{}
		for _, a := range m.After {
			set[a] = true
		}
		// Walk dependsOn from the member's service; stop at the first
		// member on each path.
		seen := map[string]bool{m.Service: true}
		stack := append([]string(nil), dependsOn(m.Service)...)
		for len(stack) > 0 {
			svc := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[svc] {
				continue
			}
			seen[svc] = true
			if dep, ok := byService[svc]; ok {
				set[dep] = true
				continue
			}
			stack = append(stack, dependsOn(svc)...)
		}
		delete(set, name)
		deps := make([]string, 0, len(set))
		for d := range set {
			deps = append(deps, d)
		}
		sort.Strings(deps)
		g.Deps[name] = deps
	}
	// Kahn's algorithm, level by level, names sorted for determinism.
	indeg := map[string]int{}
	for n, deps := range g.Deps {
		indeg[n] += 0
		indeg[n] = len(deps)
	}
	done := map[string]bool{}
	for len(done) < len(g.Deps) {
		var level []string
		for n, d := range indeg {
			if !done[n] && d == 0 {
				level = append(level, n)
			}
		}
		if len(level) == 0 {
			return nil, fmt.Errorf("members depend on each other in a cycle: %s", findCycle(g.Deps, done))
		}
		sort.Strings(level)
		for _, n := range level {
			done[n] = true
		}
		for n, deps := range g.Deps {
			if done[n] {
				continue
			}
			c := 0
			for _, d := range deps {
				if !done[d] {
					c++
				}
			}
			indeg[n] = c
		}
		g.Levels = append(g.Levels, level)
	}
	return g, nil
}

// findCycle returns one cycle among the members not yet ordered, e.g.
// "a -> b -> a" (a waits for b, which waits for a).
func findCycle(deps map[string][]string, done map[string]bool) string {
	var names []string
	for n := range deps {
		if !done[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, start := range names {
		path := []string{start}
		pos := map[string]int{start: 0}
		cur := start
		for {
			next := ""
			for _, d := range deps[cur] {
				if !done[d] {
					next = d
					break
				}
			}
			if next == "" {
				break
			}
			if i, ok := pos[next]; ok {
				return strings.Join(append(path[i:], next), " -> ")
			}
			pos[next] = len(path)
			path = append(path, next)
			cur = next
		}
	}
	return strings.Join(names, ", ")
}
