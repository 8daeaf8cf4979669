package config

// This file holds the blast-radius parts of a ReleasePolicy: cohort stages
// (who meets a new version first) and the exposure budget (how much a step
// may expose before a person must approve it). Their rules are in
// cohort_rules.go, their defaults in defaults.go.

// CohortSpec names the cohort stages a release plan can use.
type CohortSpec struct {
	// TenantHeader carries the tenant id (default DefaultTenantHeader).
	TenantHeader string `json:"tenantHeader,omitempty"`
	// RegionHeader, when set, lets edge proxies that serve many regions
	// apply a region stage to requests carrying one of its regions.
	RegionHeader string `json:"regionHeader,omitempty"`
	// StickyHeader, when set, makes percentage splits consistent per value
	// of this header (a user or session key) on Envoy: the same key keeps
	// landing on the same version as the percentage grows.
	StickyHeader string `json:"stickyHeader,omitempty"`
	// Stages, referenced by name from steps.
	Stages []CohortStage `json:"stages"`
}

// CohortStage is one group of requests that meets the new version. Tenants
// and headers each select requests that go to the new version entirely;
// regions limit the stage to proxies (or requests, with RegionHeader) in
// those regions; percent splits the remaining traffic in scope.
type CohortStage struct {
	Name    string        `json:"name"`
	Tenants []string      `json:"tenants,omitempty"`
	Regions []string      `json:"regions,omitempty"`
	Headers []HeaderMatch `json:"headers,omitempty"`
	// Percent of the remaining in-scope traffic sent to the new version.
	// Unset, it is 100 for a stage that selects no tenants or headers
	// (all traffic of its regions) and 0 otherwise (only the selected
	// requests); see EffectivePercent.
	Percent *uint32 `json:"percent,omitempty"`
	// ExpectedShare is the share of all traffic (percent) this stage is
	// expected to expose, used when Prometheus has no traffic breakdown.
	ExpectedShare *float64 `json:"expectedShare,omitempty"`
}

// HeaderMatch selects requests by one header. Exactly one of Exact,
// Prefix, Suffix, Regex or Present is set; Invert negates the match.
type HeaderMatch struct {
	Name    string `json:"name"`
	Exact   string `json:"exact,omitempty"`
	Prefix  string `json:"prefix,omitempty"`
	Suffix  string `json:"suffix,omitempty"`
	Regex   string `json:"regex,omitempty"`
	Present *bool  `json:"present,omitempty"`
	Invert  bool   `json:"invert,omitempty"`
}

// ExposureSpec bounds what one step may expose before a person with the
// approver role approves it.
type ExposureSpec struct {
	// MaxTrafficShare is the largest estimated share of all traffic
	// (percent) a step may send to the new version.
	MaxTrafficShare float64 `json:"maxTrafficShare,omitempty"`
	// MaxTenants and MaxRegions bound how many tenants and regions a step
	// may expose; a plain percentage step exposes all of them.
	MaxTenants int `json:"maxTenants,omitempty" max:"1000000"`
	MaxRegions int `json:"maxRegions,omitempty" max:"1000000"`
	// TrafficQuery returns request rates by a label: {{service}},
	// {{label}} (TenantLabel or RegionLabel) and {{window}} are replaced.
	TrafficQuery string `json:"trafficQuery,omitempty"`
	// TenantLabel and RegionLabel name the labels TrafficQuery groups by.
	TenantLabel string `json:"tenantLabel,omitempty"`
	RegionLabel string `json:"regionLabel,omitempty"`
	// Window is the range traffic is averaged over.
	Window Duration `json:"window,omitempty"`
}

// Stage returns the cohort stage with the given name.
func (c *CohortSpec) Stage(name string) (CohortStage, bool) {
	if c == nil {
		return CohortStage{}, false
	}
	for _, s := range c.Stages {
		if s.Name == name {
			return s, true
		}
	}
	return CohortStage{}, false
}

// EffectivePercent is the share of the remaining in-scope traffic the
// stage sends to the new version.
func (s CohortStage) EffectivePercent() uint32 {
	switch {
	case s.Percent != nil:
		return *s.Percent
	case len(s.Tenants) == 0 && len(s.Headers) == 0:
		return 100
	}
	return 0
}

// Selective reports whether the stage narrows who meets the new version
// (tenants, regions or headers), as opposed to a plain percentage.
func (s CohortStage) Selective() bool {
	return len(s.Tenants) > 0 || len(s.Regions) > 0 || len(s.Headers) > 0
}
