package config

import (
	"slices"
	"time"
)

// Every default Sluice applies to a document lives in this file.
//
// Required fields (apiVersion, kind, metadata.name, spec.protocol, the port
// of an http service, versions, endpoints and their addresses, the services
// of a ReleasePolicy) have no default: leaving one out is an error.

const (
	// DefaultRegion is the region of an endpoint that names none. The empty
	// region is a valid locality of its own: endpoints without a region are
	// grouped together, apart from those that name one.
	DefaultRegion = ""
	// DefaultZone is the zone of an endpoint that names none. Like the
	// region, the empty zone is a valid locality.
	DefaultZone = ""

	// TotalWeight is what the weights of a service's versions add up to.
	TotalWeight = 100
	// StableWeight is the share of traffic the first version gets when no
	// version sets a weight; every other version then gets 0.
	StableWeight = TotalWeight
)

// ApplyDefaults fills in defaults and puts d into its canonical form, so
// that a document read from a file equals the same document after a JSON
// round trip (through the Raft log, or `get -o yaml` and back):
//
//   - empty optional lists and maps (domains: [], dependsOn: [],
//     labels: {}, annotations: {}) become absent;
//   - endpoint region and zone are DefaultRegion and DefaultZone when not
//     set, which is the zero value and needs no change.
//
// Weights are not filled in: a version without a weight stays without one,
// and EffectiveWeights says how traffic is split.
func ApplyDefaults(d *Document) {
	if s := d.Service; s != nil {
		if len(s.Metadata.Labels) == 0 {
			s.Metadata.Labels = nil
		}
		if len(s.Metadata.Annotations) == 0 {
			s.Metadata.Annotations = nil
		}
		if len(s.Spec.Domains) == 0 {
			s.Spec.Domains = nil
		}
		if len(s.Spec.DependsOn) == 0 {
			s.Spec.DependsOn = nil
		}
	}
	if p := d.ReleasePolicy; p != nil {
		if len(p.Metadata.Labels) == 0 {
			p.Metadata.Labels = nil
		}
	}
}

// EffectiveWeights returns the static traffic share of each version of s,
// in the order of s.Versions: StableWeight for the declared Version when
// there is one, the explicit weights when versions set them (a version
// without one counts as 0), otherwise StableWeight for the first version
// and 0 for the others.
func EffectiveWeights(s *ServiceSpec) []uint32 {
	w := make([]uint32, len(s.Versions))
	if s.Version != "" {
		for i, v := range s.Versions {
			if v.Name == s.Version {
				w[i] = StableWeight
			}
		}
		return w
	}
	explicit := false
	for i, v := range s.Versions {
		if v.Weight != nil {
			w[i] = *v.Weight
			explicit = true
		}
	}
	if !explicit && len(w) > 0 {
		w[0] = StableWeight
	}
	return w
}

// Release analysis defaults. docs/analysis.md explains how they were chosen;
// Cohort and exposure defaults.
const (
	// DefaultTenantHeader carries the tenant id that tenant stages match.
	DefaultTenantHeader = "x-tenant-id"
	// DefaultExposureQuery estimates traffic by tenant or region from the
	// conventional requests_total counter.
	DefaultExposureQuery = `sum by (` + PlaceholderLabel + `) (rate(requests_total{service="` + PlaceholderService + `"}[` + PlaceholderWindow + `]))`
	// DefaultTenantLabel and DefaultRegionLabel are the labels the
	// exposure query groups by.
	DefaultTenantLabel = "tenant"
	DefaultRegionLabel = "region"
	// DefaultExposureWindow is the range traffic shares are averaged over:
	// long enough to smooth bursts, short enough to follow the day.
	DefaultExposureWindow = time.Hour
	// MinExposureWindow is the shortest exposure window accepted.
	MinExposureWindow = time.Minute
)

// PolicyDefaults applies them. A zero value in a policy means "use the
// default", so these numbers are also what an empty field stands for.
const (
	// DefaultAnalysisInterval is the time between two analyses of a step:
	// short enough that a bad canary is caught within seconds, long enough
	// that one analysis (about a dozen queries) finishes before the next.
	DefaultAnalysisInterval = 5 * time.Second
	// DefaultQueryTimeout bounds one Prometheus query. It equals the
	// interval: a query still running when the next analysis is due has
	// failed anyway.
	DefaultQueryTimeout = 5 * time.Second
	// DefaultFailureLimit: one Failed analysis rolls the release back. The
	// burn rules already demand that both a long and a short window burn,
	// so one verdict is evidence enough.
	DefaultFailureLimit = 1
	// DefaultInconclusiveLimit is 24 consecutive analyses without enough
	// data (2 minutes at the default interval) before a release is rolled
	// back. A step starts with an empty baseline window: the canary needs up
	// to one DefaultBaselineWindow of traffic to reach
	// DefaultBaselineMinRequests, so the limit is twice that window.
	DefaultInconclusiveLimit = 24
	// DefaultErrorLimit is 12 consecutive analyses that could not ask
	// Prometheus (1 minute at the default interval): enough to ride out a
	// Prometheus restart or a network blip, short enough that a canary
	// nobody can see does not keep serving traffic.
	DefaultErrorLimit = 12

	// DefaultBaselineWindow is the range canary and stable are compared
	// over, and the range the canary's minimum sample is counted in.
	DefaultBaselineWindow = time.Minute
	// DefaultBaselineMinRequests is how many requests a version needs in
	// the baseline window to be compared; the canary also needs them for
	// any analysis to be Successful.
	DefaultBaselineMinRequests = 50
	// DefaultBaselineMaxRatio: the canary fails when its error ratio is
	// more than twice the stable version's (plus DefaultBaselineMinDelta).
	DefaultBaselineMaxRatio = 2
	// DefaultBaselineMinDelta is half a percentage point of absolute margin:
	// a floor of practical significance only; the false-rollback bound
	// comes from the sequential test (alpha), whatever the floor.
	DefaultBaselineMinDelta = 0.005
	// DefaultBaselineZScore is the one-sided significance of the
	// two-proportion z-test: 3 standard errors, about 1 false alarm in 740
	// comparisons of equal versions.
	DefaultBaselineZScore = 3

	// DefaultStepBake is the bake of a step that sets none. It equals the
	// long window of the fast burn rule and the baseline window, so each
	// step is judged on at least one full window of its own traffic.
	DefaultStepBake = time.Minute
	// DefaultAckTimeout is how long a step waits for every proxy group to
	// ACK its routes before the release holds.
	DefaultAckTimeout = 30 * time.Second

	// MaxSteps is the longest release plan accepted.
	MaxSteps = 20
	// MinAnalysisInterval is the shortest analysis interval accepted.
	MinAnalysisInterval = 100 * time.Millisecond
	// MinQueryTimeout is the shortest query timeout accepted.
	MinQueryTimeout = 100 * time.Millisecond
	// MinBurnWindow is the shortest burn-rule or baseline window accepted.
	MinBurnWindow = time.Second
	// MinAckTimeout is the shortest ackTimeout accepted.
	MinAckTimeout = time.Second
)

// DefaultMirrorFailure is what a failed mirror step does when the policy
// does not say: roll back, as any failed step does. It is filled in only
// for plans with a mirror step.
const DefaultMirrorFailure = MirrorFailureRollback

// DefaultSteps returns the release plan of a policy that sets none: 1%, 5%,
// 25%, 50% and 100% of traffic, each baked DefaultStepBake. The first step
// exposes few users while there is still little evidence; each later step
// is reached only after a full window of clean data at the previous one.
// It returns a new slice on every call.
func DefaultSteps() []StepSpec {
	bake := Duration(DefaultStepBake)
	return []StepSpec{
		{Weight: 1, Bake: bake},
		{Weight: 5, Bake: bake},
		{Weight: 25, Bake: bake},
		{Weight: 50, Bake: bake},
		{Weight: 100, Bake: bake},
	}
}

// DefaultBurnRules returns the multiwindow burn-rate rules of a policy
// that sets none. They follow the Google SRE Workbook's multiwindow,
// multi-burn-rate alerts, scaled from hours to the minutes a canary bakes:
//
//   - "fast": long 1m, short 10s, burn rate 14.4 (at a 99.9% objective, an
//     error ratio above 1.44% over the last minute and still now);
//   - "slow": long 5m, short 30s, burn rate 6 (above 0.6% over five
//     minutes, spanning several steps, and still now).
//
// Both need a scrape interval of a few seconds; docs/analysis.md has
// windows for slower scrapes. It returns a new slice on every call.
func DefaultBurnRules() []BurnRule {
	return []BurnRule{
		{Name: "fast", LongWindow: Duration(time.Minute), ShortWindow: Duration(10 * time.Second), BurnRate: 14.4},
		{Name: "slow", LongWindow: Duration(5 * time.Minute), ShortWindow: Duration(30 * time.Second), BurnRate: 6},
	}
}

// PolicyDefaults returns a copy of spec with every default of the release
// analysis and plan filled in: the analysis interval, burn rules, baseline,
// limits and query timeout, the steps and their bakes, the ack timeout, and
// the SLO's requestsQuery (TotalQuery when unset). spec is not modified
// and the copy shares no memory with it. Prometheus.URL stays as it is:
// empty means the server's own setting. SLO and Latency stay absent when
// absent. The defaults are today's (CurrentDefaults); Apply uses
// PolicyDefaultsOf with the generation its command names.
func PolicyDefaults(spec *ReleasePolicySpec) ReleasePolicySpec {
	return PolicyDefaultsOf(CurrentDefaults, spec)
}

// PolicyDefaultsOf is PolicyDefaults with the defaults of generation gen
// (Defaults): what a release created by an older log entry got.
func PolicyDefaultsOf(gen Defaults, spec *ReleasePolicySpec) ReleasePolicySpec {
	out := ReleasePolicySpec{
		Services:        slices.Clone(spec.Services),
		AckTimeout:      spec.AckTimeout,
		OnMirrorFailure: spec.OnMirrorFailure,
	}
	out.Schedule = ScheduleWithDefaults(spec.Schedule)
	if len(spec.Webhooks) > 0 {
		out.Webhooks = webhookDefaults(spec.Webhooks)
	}
	out.Rollback = rollbackDefaults(spec.Rollback)
	if spec.RiskPlan != nil {
		rp := *spec.RiskPlan
		if rp.Bakes != nil {
			b := *rp.Bakes
			rp.Bakes = &b
		}
		out.RiskPlan = &rp
	}
	if spec.Cohorts != nil {
		c := *spec.Cohorts
		c.Stages = slices.Clone(spec.Cohorts.Stages)
		if c.TenantHeader == "" {
			c.TenantHeader = DefaultTenantHeader
		}
		out.Cohorts = &c
	}
	if spec.Exposure != nil {
		e := *spec.Exposure
		if e.TrafficQuery == "" {
			e.TrafficQuery = DefaultExposureQuery
		}
		if e.TenantLabel == "" {
			e.TenantLabel = DefaultTenantLabel
		}
		if e.RegionLabel == "" {
			e.RegionLabel = DefaultRegionLabel
		}
		setDuration(&e.Window, DefaultExposureWindow)
		out.Exposure = &e
	}
	if spec.Prometheus != nil {
		p := *spec.Prometheus
		out.Prometheus = &p
	}
	if spec.SLO != nil {
		slo := *spec.SLO
		if spec.SLO.Latency != nil {
			lat := *spec.SLO.Latency
			slo.Latency = &lat
		}
		if slo.RequestsQuery == "" {
			slo.RequestsQuery = slo.TotalQuery
		}
		out.SLO = &slo
	}

	a := AnalysisSpec{}
	if spec.Analysis != nil {
		a = *spec.Analysis
		a.BurnRules = slices.Clone(spec.Analysis.BurnRules)
	}
	b := BaselineSpec{}
	if a.Baseline != nil {
		b = *a.Baseline
	}
	a.Baseline = &b
	if len(a.BurnRules) == 0 {
		a.BurnRules = DefaultBurnRules()
	}
	setDuration(&a.Interval, DefaultAnalysisInterval)
	setDuration(&a.QueryTimeout, DefaultQueryTimeout)
	setInt(&a.FailureLimit, DefaultFailureLimit)
	setInt(&a.InconclusiveLimit, DefaultInconclusiveLimit)
	setInt(&a.ErrorLimit, DefaultErrorLimit)
	setDuration(&b.Window, DefaultBaselineWindow)
	setFloat(&b.MinRequests, DefaultBaselineMinRequests)
	setFloat(&b.MaxRatio, DefaultBaselineMaxRatio)
	setFloat(&b.MinDelta, gen.baselineMinDelta())
	setFloat(&b.ZScore, DefaultBaselineZScore)
	out.Analysis = &a

	if bg := spec.BlueGreen(); bg != nil {
		out.Strategy = &StrategySpec{BlueGreen: blueGreenDefaults(bg)}
		out.Steps = BlueGreenSteps(out.Strategy.BlueGreen)
	} else if len(spec.Steps) == 0 {
		out.Steps = DefaultSteps()
	} else {
		out.Steps = slices.Clone(spec.Steps)
		for i := range out.Steps {
			setDuration(&out.Steps[i].Bake, DefaultStepBake)
		}
	}
	setDuration(&out.AckTimeout, DefaultAckTimeout)
	if out.OnMirrorFailure == "" && HasMirrorStep(out.Steps) {
		out.OnMirrorFailure = DefaultMirrorFailure
	}
	return out
}

// Rollback defaults and bounds.
const (
	// DefaultRollbackSteps: three steps back (e.g. 50% -> 34 -> 17 -> 0).
	DefaultRollbackSteps = 3
	// DefaultRollbackBake is long enough for the stable version to scale
	// up a little and for a short burn window to see the new share.
	DefaultRollbackBake = 20 * time.Second
	// DefaultRollbackWorsenFactor: half as bad again as the burn that
	// started the rollback is worse, not noise.
	DefaultRollbackWorsenFactor = 1.5
	// MaxRollbackSteps bounds Steps.
	MaxRollbackSteps = MaxSteps
	// MinRollbackBake and MaxRollbackBake bound Bake: a gradual rollback
	// must not outlast a few minutes per step.
	MinRollbackBake = time.Second
	MaxRollbackBake = 10 * time.Minute
	// MaxRollbackWorsenFactor bounds WorsenFactor.
	MaxRollbackWorsenFactor = 100
)

// rollbackDefaults returns a copy of s with its defaults, or nil for a
// policy that sets no rollback (instant).
func rollbackDefaults(s *RollbackSpec) *RollbackSpec {
	if s == nil {
		return nil
	}
	out := *s
	if out.Mode == "" {
		out.Mode = RollbackInstant
	}
	if out.Mode != RollbackGradual {
		return &out
	}
	setInt(&out.Steps, DefaultRollbackSteps)
	setDuration(&out.Bake, DefaultRollbackBake)
	setFloat(&out.WorsenFactor, DefaultRollbackWorsenFactor)
	return &out
}

func setDuration(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}

func setInt(v *int, def int) {
	if *v == 0 {
		*v = def
	}
}

func setFloat(v *float64, def float64) {
	if *v == 0 {
		*v = def
	}
}

// Discovery defaults and bounds (discovery.go).
const (
	// DefaultDNSMinInterval and DefaultDNSMaxInterval bound the time
	// between two lookups of a DNS name when the version sets none: a
	// record's TTL is followed within them.
	DefaultDNSMinInterval = 5 * time.Second
	DefaultDNSMaxInterval = 5 * time.Minute
	// MinDNSInterval is the shortest minInterval accepted.
	MinDNSInterval = time.Second
	// DefaultFileInterval is how often a targets file is looked at.
	DefaultFileInterval = 2 * time.Second
	// MinFileInterval is the shortest file interval accepted.
	MinFileInterval = 100 * time.Millisecond
	// DefaultHealthInterval, DefaultHealthTimeout and
	// DefaultHealthThreshold are an endpoint health check's when unset.
	DefaultHealthInterval  = 5 * time.Second
	DefaultHealthTimeout   = time.Second
	DefaultHealthThreshold = 2
	// MinHealthInterval and MinHealthTimeout are the shortest accepted.
	MinHealthInterval = 100 * time.Millisecond
	MinHealthTimeout  = 10 * time.Millisecond
)

// ResolveBounds are the shortest and longest time between two lookups.
type ResolveBounds struct{ Min, Max time.Duration }

// ResolveBounds returns d's lookup bounds with defaults applied.
func (d *DNSDiscovery) ResolveBounds() ResolveBounds {
	b := ResolveBounds{Min: d.MinInterval.D(), Max: d.MaxInterval.D()}
	if b.Min == 0 {
		b.Min = DefaultDNSMinInterval
	}
	if b.Max == 0 {
		b.Max = max(DefaultDNSMaxInterval, b.Min)
	}
	return b
}

// PollInterval is how often the file is looked at, with the default.
func (f *FileDiscovery) PollInterval() time.Duration {
	if f.Interval == 0 {
		return DefaultFileInterval
	}
	return f.Interval.D()
}

// Probing is a health check's timing with defaults applied.
type Probing struct {
	Interval, Timeout                    time.Duration
	HealthyThreshold, UnhealthyThreshold int
}

// Probing returns h's timing with defaults applied.
func (h *EndpointHealthCheck) Probing() Probing {
	p := Probing{Interval: h.Interval.D(), Timeout: h.Timeout.D(), HealthyThreshold: int(h.HealthyThreshold), UnhealthyThreshold: int(h.UnhealthyThreshold)}
	if p.Interval == 0 {
		p.Interval = DefaultHealthInterval
	}
	if p.Timeout == 0 {
		p.Timeout = min(DefaultHealthTimeout, p.Interval)
	}
	if p.HealthyThreshold == 0 {
		p.HealthyThreshold = DefaultHealthThreshold
	}
	if p.UnhealthyThreshold == 0 {
		p.UnhealthyThreshold = DefaultHealthThreshold
	}
	return p
}
