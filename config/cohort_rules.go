package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/sluicehq/sluice/xds/re2"
)

// headerName is a lowercase HTTP/2 header name (gRPC metadata keys are
// lowercase, and Envoy matches names case-insensitively).
var headerName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// promLabel is a Prometheus label name.
var promLabel = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// placeholderRef finds {{...}} placeholders.
var placeholderRef = regexp.MustCompile(`\{\{[^}]*\}\}`)

// PlaceholderLabel is replaced by the tenant or region label in an
// exposure trafficQuery.
const PlaceholderLabel = "{{label}}"

func checkHeaderName(r *reporter, path, name string, required bool) {
	switch {
	case name == "" && required:
		r.addf(path, "required: a header name, e.g. \"x-tenant-id\"")
	case name != "" && !headerName.MatchString(name):
		r.addf(path, "invalid header name %q: use lowercase letters, digits, '-', '_' and '.'", name)
	case strings.HasPrefix(name, "grpc-"):
		r.addf(path, "invalid header name %q: names starting with \"grpc-\" are reserved", name)
	}
}

// checkCohorts applies the rules of spec.cohorts and spec.exposure, and
// those of steps that name cohort stages.
func checkCohorts(r *reporter, spec *ReleasePolicySpec) {
	stages := map[string]int{}
	if c := spec.Cohorts; c != nil {
		checkHeaderName(r, "spec.cohorts.tenantHeader", c.TenantHeader, false)
		checkHeaderName(r, "spec.cohorts.regionHeader", c.RegionHeader, false)
		checkHeaderName(r, "spec.cohorts.stickyHeader", c.StickyHeader, false)
		if len(c.Stages) == 0 {
			r.addf("spec.cohorts.stages", "at least one stage is required")
		}
		for i, st := range c.Stages {
			path := fmt.Sprintf("spec.cohorts.stages[%d]", i)
			switch first, dup := stages[st.Name]; {
			case st.Name == "":
				r.addf(path+".name", "required: steps refer to the stage by name")
			case dup:
				r.addf(path+".name", "duplicate stage %q (also spec.cohorts.stages[%d])", st.Name, first)
			case !dnsLabel.MatchString(st.Name):
				r.addf(path+".name", "invalid name %q: use lowercase letters, digits and '-'", st.Name)
			default:
				stages[st.Name] = i
			}
			checkStage(r, path, st)
		}
	}
	if e := spec.Exposure; e != nil {
		if e.MaxTrafficShare < 0 || e.MaxTrafficShare > 100 {
			r.addf("spec.exposure.maxTrafficShare", "must be a percentage between 0 and 100, got %v", e.MaxTrafficShare)
		}
		if e.MaxTenants < 0 {
			r.addf("spec.exposure.maxTenants", "must not be negative, got %d", e.MaxTenants)
		}
		if e.MaxRegions < 0 {
			r.addf("spec.exposure.maxRegions", "must not be negative, got %d", e.MaxRegions)
		}
		for _, l := range []struct{ path, v string }{{"spec.exposure.tenantLabel", e.TenantLabel}, {"spec.exposure.regionLabel", e.RegionLabel}} {
			if l.v != "" && !promLabel.MatchString(l.v) {
				r.addf(l.path, "invalid Prometheus label name %q", l.v)
			}
		}
		if q := e.TrafficQuery; q != "" && checkQueryTemplate(r, "spec.exposure.trafficQuery", q, PlaceholderService, PlaceholderLabel, PlaceholderWindow) {
			if !strings.Contains(q, PlaceholderLabel) {
				r.addf("spec.exposure.trafficQuery", "must group by %s (the tenant or region label), e.g. \"sum by (%s) (rate(requests_total{service=\\\"%s\\\"}[%s]))\"",
					PlaceholderLabel, PlaceholderLabel, PlaceholderService, PlaceholderWindow)
			}
		}
		if e.Window != 0 && e.Window.D() < MinExposureWindow {
			r.addf("spec.exposure.window", "must be at least %s when set, got %s", MinExposureWindow, e.Window.D())
		}
	}
	for i, st := range spec.Steps {
		if st.Cohort == "" {
			continue
		}
		path := fmt.Sprintf("spec.steps[%d]", i)
		if st.Weight != 0 {
			r.addf(path+".weight", "a step is either a weight or a cohort stage, not both (the stage's percent applies)")
		}
		if _, ok := stages[st.Cohort]; !ok {
			r.addf(path+".cohort", "unknown cohort stage %q (stages: %s)", st.Cohort, stageNames(spec.Cohorts))
		}
	}
}

func stageNames(c *CohortSpec) string {
	if c == nil || len(c.Stages) == 0 {
		return "none; define them under spec.cohorts.stages"
	}
	names := make([]string, len(c.Stages))
	for i, s := range c.Stages {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

func checkStage(r *reporter, path string, st CohortStage) {
	if !st.Selective() && st.Percent == nil {
		r.addf(path, "a stage needs tenants, regions, headers or a percent")
	}
	if st.Percent != nil && *st.Percent > TotalWeight {
		r.addf(path+".percent", "must be 0-%d, got %d", TotalWeight, *st.Percent)
	}
	checkNames := func(field string, list []string) {
		seen := map[string]int{}
		for i, v := range list {
			p := fmt.Sprintf("%s.%s[%d]", path, field, i)
			if first, dup := seen[v]; dup {
				r.addf(p, "duplicate %q (also %s[%d])", v, field, first)
			} else if strings.TrimSpace(v) == "" {
				r.addf(p, "must not be empty")
			}
			seen[v] = i
		}
	}
	checkNames("tenants", st.Tenants)
	checkNames("regions", st.Regions)
	for i, h := range st.Headers {
		p := fmt.Sprintf("%s.headers[%d]", path, i)
		checkHeaderName(r, p+".name", h.Name, true)
		set := 0
		for _, v := range []bool{h.Exact != "", h.Prefix != "", h.Suffix != "", h.Regex != "", h.Present != nil} {
			if v {
				set++
			}
		}
		if set != 1 {
			r.addf(p, "set exactly one of exact, prefix, suffix, regex or present (got %d)", set)
		}
		if h.Regex != "" {
			if _, err := regexp.Compile(h.Regex); err != nil {
				r.addf(p+".regex", "invalid regular expression (RE2 syntax): %v", err)
			} else if err := re2.Check(h.Regex); err != nil {
				// Envoy refuses a regex whose RE2 program is too large.
				r.addf(p+".regex", "%v", err)
			}
		}
	}
	if st.ExpectedShare != nil && (*st.ExpectedShare < 0 || *st.ExpectedShare > 100) {
		r.addf(path+".expectedShare", "must be a percentage between 0 and 100, got %v", *st.ExpectedShare)
	}
}
