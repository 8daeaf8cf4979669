package config

import (
	"fmt"
	"strings"
	"time"
	"unicode"
)

// This file holds a ReleasePolicy's traffic strategy. Without one a
// release follows the policy's steps (weighted and cohort stages); with
// blueGreen it brings the new version up behind a preview route, switches
// all traffic at once and keeps the old version reachable for a while.
// Rules are in checkStrategy below, defaults in defaults.go.

// StrategySpec chooses how a release moves traffic. At most one field is
// set; none means the policy's steps.
type StrategySpec struct {
	// BlueGreen: preview, then switch 0 -> 100 at once.
	BlueGreen *BlueGreenSpec `json:"blueGreen,omitempty"`
}

// BlueGreenSpec is the blue/green strategy. A release has two steps: the
// preview (only requests matching Preview reach the new version, and the
// analysis judges that traffic for PreviewBake) and the switch (all
// traffic on the new version, judged for PostSwitchBake; a failure
// switches straight back). From the switch on, and for KeepOldFor after
// promotion, the preview route leads to the old version.
type BlueGreenSpec struct {
	// Preview selects the requests that reach the version that is not
	// live (default: header x-sluice-preview: "true").
	Preview *PreviewSpec `json:"preview,omitempty"`
	// PreviewBake is how long the preview is judged before the switch.
	PreviewBake Duration `json:"previewBake,omitempty"`
	// PostSwitchBake is how long the switched release is judged before
	// it is promoted.
	PostSwitchBake Duration `json:"postSwitchBake,omitempty"`
	// KeepOldFor is how long the old version stays reachable through the
	// preview route after promotion.
	KeepOldFor Duration `json:"keepOldFor,omitempty"`
}

// PreviewSpec is the preview route: exactly one of Header or Domain.
type PreviewSpec struct {
	// Header matches requests carrying this header with this exact value.
	Header *PreviewHeader `json:"header,omitempty"`
	// Domain is a host name (HTTP Host / :authority) served only by the
	// version that is not live, on the service's gateway port.
	Domain string `json:"domain,omitempty"`
}

// PreviewHeader is an exact header match.
type PreviewHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// BlueGreen returns the policy's blue/green strategy, or nil.
func (s *ReleasePolicySpec) BlueGreen() *BlueGreenSpec {
	if s == nil || s.Strategy == nil {
		return nil
	}
	return s.Strategy.BlueGreen
}

// Blue/green defaults.
const (
	// DefaultPreviewHeader and DefaultPreviewValue are the preview route
	// of a blue/green policy that names none.
	DefaultPreviewHeader = "x-sluice-preview"
	DefaultPreviewValue  = "true"
	// DefaultPreviewBake is two default analysis windows of preview
	// traffic.
	DefaultPreviewBake = 2 * time.Minute
	// DefaultPostSwitchBake covers the slow burn rule's long window at
	// full traffic.
	DefaultPostSwitchBake = 5 * time.Minute
	// DefaultKeepOldFor is long enough to compare old and new by hand
	// after a switch and short enough not to keep two versions for long.
	DefaultKeepOldFor = 30 * time.Minute
)

// Bounds of a preview route: a DNS name, and a header value long enough
// for any token a test client sends.
const (
	maxPreviewDomain = 253
	maxPreviewValue  = 256
)

// Blue/green plan steps: the preview first, then the switch.
const (
	BlueGreenPreviewStep = 0
	BlueGreenSwitchStep  = 1
)

// BlueGreenSteps is the plan of a blue/green release: the preview (weight
// 0: only preview requests reach the new version) and the switch (100).
func BlueGreenSteps(bg *BlueGreenSpec) []StepSpec {
	return []StepSpec{
		{Weight: 0, Bake: bg.PreviewBake},
		{Weight: TotalWeight, Bake: bg.PostSwitchBake},
	}
}

// blueGreenDefaults returns a copy of bg with every default filled in.
func blueGreenDefaults(bg *BlueGreenSpec) *BlueGreenSpec {
	out := *bg
	if bg.Preview == nil || bg.Preview.Header == nil && bg.Preview.Domain == "" {
		out.Preview = &PreviewSpec{Header: &PreviewHeader{Name: DefaultPreviewHeader, Value: DefaultPreviewValue}}
	} else {
		p := *bg.Preview
		if p.Header != nil {
			h := *p.Header
			p.Header = &h
		}
		out.Preview = &p
	}
	setDuration(&out.PreviewBake, DefaultPreviewBake)
	setDuration(&out.PostSwitchBake, DefaultPostSwitchBake)
	setDuration(&out.KeepOldFor, DefaultKeepOldFor)
	return &out
}

// checkStrategy applies the rules of spec.strategy.
func checkStrategy(r *reporter, spec *ReleasePolicySpec) {
	s := spec.Strategy
	if s == nil {
		return
	}
	bg := s.BlueGreen
	if bg == nil {
		r.addf("spec.strategy", "set blueGreen (the only strategy), or leave strategy out to follow spec.steps")
		return
	}
	const why = "a blue/green release has its own two steps (preview, then the switch); set previewBake and postSwitchBake instead"
	if len(spec.Steps) > 0 {
		r.addf("spec.steps", "must not be set with spec.strategy.blueGreen: %s", why)
	}
	if spec.RiskPlan != nil {
		r.addf("spec.riskPlan", "must not be set with spec.strategy.blueGreen: %s", why)
	}
	if spec.Rollback.Gradual() {
		r.addf("spec.rollback.mode", "must not be %q with spec.strategy.blueGreen: a blue/green release switches back at once (both versions are up, one route update moves all traffic); leave spec.rollback out", RollbackGradual)
	}
	p := bg.Preview
	if p == nil {
		return
	}
	const path = "spec.strategy.blueGreen.preview"
	switch {
	case p.Header != nil && p.Domain != "":
		r.addf(path, "set either header or domain, not both")
	case p.Header != nil:
		checkHeaderName(r, path+".header.name", p.Header.Name, true)
		switch v := p.Header.Value; {
		case v == "":
			r.addf(path+".header.value", "required: the exact value preview requests carry, e.g. \"true\"")
		case strings.ContainsFunc(v, unicode.IsControl):
			r.addf(path+".header.value", "must not contain control characters")
		case len(v) > maxPreviewValue:
			r.addf(path+".header.value", "must be at most %d bytes, got %d", maxPreviewValue, len(v))
		}
	case p.Domain != "":
		checkPreviewDomain(r, path+".domain", p.Domain)
	default:
		r.addf(path, "set header (name and value) or domain, or leave preview out for header %s: %q", DefaultPreviewHeader, DefaultPreviewValue)
	}
}

func checkPreviewDomain(r *reporter, path, dom string) {
	switch {
	case strings.ContainsFunc(dom, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }):
		r.addf(path, "domain %q must not contain spaces or control characters", dom)
	case strings.Contains(dom, "*"):
		r.addf(path, "domain %q must be one host name, without wildcards", dom)
	case strings.Contains(dom, ":"):
		r.addf(path, "domain %q must not carry a port: it is served on each service's gateway port", dom)
	case len(dom) > maxPreviewDomain:
		r.addf(path, "must be at most %d bytes (a DNS name), got %d", maxPreviewDomain, len(dom))
	}
}

// checkPreviewTargets reports preview domains that a service's gateway
// host already answers to, that two covered services would share on one
// port, or that a covered service without a gateway port cannot serve.
func (c *crossCheck) checkPreviewTargets() {
	owners := map[string]string{}
	for _, e := range c.services {
		for _, t := range serviceTargets(e.name, e.svc) {
			owners[t.key] = fmt.Sprintf("%s of Service %q", t.label, e.name)
		}
	}
	const path = "spec.strategy.blueGreen.preview.domain"
	for _, e := range c.policies {
		bg := e.policy.Spec.BlueGreen()
		if e.doc == nil || bg == nil || bg.Preview == nil || bg.Preview.Domain == "" {
			continue
		}
		dom := strings.ToLower(bg.Preview.Domain)
		for _, name := range e.policy.Spec.Services {
			s, ok := c.service(name)
			if !ok {
				continue // reported by checkPolicies
			}
			port := s.svc.Spec.Port
			if port == 0 {
				c.cross = append(c.cross, docError(e.doc, path,
					"Service %q has no gateway port, so a preview domain cannot reach it; use a preview header", name))
				continue
			}
			key := fmt.Sprintf("http\x00%d\x00%s", port, dom)
			if o, taken := owners[key]; taken {
				c.cross = append(c.cross, docError(e.doc, path,
					"preview domain %q on port %d is already the %s", bg.Preview.Domain, port, o))
				continue
			}
			owners[key] = fmt.Sprintf("preview domain of Service %q", name)
		}
	}
}
