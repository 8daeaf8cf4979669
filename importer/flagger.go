package importer

import (
	"fmt"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/config"
)

// Flagger's defaults where the Canary leaves a field out.
const (
	flaggerInterval  = time.Minute
	flaggerMaxWeight = 100
)

// abStage names the cohort stage an A/B test's match conditions become.
const abStage = "ab-test"

func (w *walk) flagger(trees []*yaml.Node) Result {
	var res Result
	for _, t := range trees {
		doc := w.root(t)
		if doc.get("kind").str() != "Canary" || !strings.HasPrefix(doc.get("apiVersion").str(), "flagger.app/") {
			w.doc = fmt.Sprintf("%s/%s", doc.get("kind").str(), doc.get("metadata").get("name").str())
			doc.unmapped("not a Flagger Canary (flagger.app/*, kind Canary): skipped")
			continue
		}
		svc, pol := w.canary(doc)
		res.Services = append(res.Services, svc)
		res.Policies = append(res.Policies, pol)
	}
	return res
}

// canary converts one Canary into a Service and the ReleasePolicy that
// covers it.
func (w *walk) canary(doc node) (*config.Service, *config.ReleasePolicy) {
	name := objectName(doc)
	w.doc = "Canary/" + name
	commonMetadata(doc)
	spec := doc.get("spec")
	spec.mapping()

	target := spec.get("targetRef")
	target.unmapped(endpointsReason)
	svcName := name
	if n := target.get("name").str(); dnsLabel(n) {
		svcName = n
	}
	sv := spec.get("service")
	if n := sv.get("name"); n.ok() {
		svcName = n.str()
		if !dnsLabel(svcName) {
			n.fail("want a name of lowercase letters, digits and '-', got %q", clip(svcName))
		}
	}
	port, _ := sv.get("port").count(65535)
	proto := config.ProtocolHTTP
	if pn := sv.get("portName").str(); pn == "grpc" {
		proto = config.ProtocolGRPC
	} else if pn != "" && pn != "http" {
		sv.get("portName").note(fmt.Sprintf("port name %q: converted as an http service", clip(pn)))
	}
	var domains []string
	for _, h := range sv.get("hosts").list() {
		domains = append(domains, h.str())
	}
	sv.rest(map[string]string{
		"targetPort": "the container port: the placeholder endpoints use spec.service.port",
		"gateways":   "Istio gateways: every Envoy that takes Sluice's routes serves the Service on its port",
	}, "routing detail of the mesh or ingress Flagger drives: Sluice's routes come from the Service and the release")
	svc := newService(svcName, proto, uint32(port), domains, "primary", "canary")
	pol := newPolicy(name, svcName)

	an := spec.get("analysis")
	if !an.ok() {
		an = spec.get("canaryAnalysis")
	}
	w.flaggerAnalysis(an, &pol.Spec)

	spec.rest(map[string]string{
		"provider":                "Sluice is the control plane the proxies take routes from: there is no mesh or ingress provider to choose",
		"progressDeadlineSeconds": "Sluice does not watch the workload's rollout; a step the proxies do not ACK within spec.ackTimeout (30s) holds the release",
		"autoscalerRef":           "Kubernetes object Flagger scales: Sluice routes traffic and manages no workload",
		"ingressRef":              "Kubernetes object Flagger drives: Sluice routes traffic itself",
		"routeRef":                "Kubernetes object Flagger drives: Sluice routes traffic itself",
		"upstreamRef":             "Kubernetes object Flagger drives: Sluice routes traffic itself",
		"skipAnalysis":            "Sluice analyses every release; to move traffic at once, declare the version on a Service no policy covers",
		"revertOnDeletion":        "Sluice keeps the Service's routes when a policy is deleted",
		"suspend":                 "Sluice has no suspended policies: pause a running release with `sluice release pause`",
	}, "no Sluice equivalent")
	return svc, pol
}

// flaggerAnalysis converts spec.analysis: the plan, the failure limit and
// the SLO.
func (w *walk) flaggerAnalysis(an node, spec *config.ReleasePolicySpec) {
	if !an.mapping() {
		return
	}
	interval := flaggerInterval
	if d, ok := an.get("interval").duration(false); ok && d > 0 {
		interval = d
	}
	spec.Analysis = &config.AnalysisSpec{Interval: config.Duration(interval)}
	if t, ok := an.get("threshold").count(10000); ok && t > 0 {
		spec.Analysis.FailureLimit = t
	}
	w.flaggerPlan(an, spec, interval)
	w.flaggerMetrics(an.get("metrics"), spec)
	for i, h := range an.get("webhooks").list() {
		h.unmapped(webhookReason(h.get("type").str(), i))
	}
	an.rest(map[string]string{
		"alerts":                "Sluice has no notification providers: watch releases with `sluice release watch` or the event stream",
		"mirror":                "not converted: Sluice mirrors as a plan step before any user is served (`- mirror: N` in spec.steps); add one by hand",
		"mirrorWeight":          "not converted: Sluice mirrors as a plan step before any user is served (`- mirror: N` in spec.steps); add one by hand",
		"stepWeightPromotion":   "Sluice promotes in one step after the last one",
		"sessionAffinity":       "Sluice keeps clients on one version by a header (spec.cohorts.stickyHeader, on Envoy), not by a cookie it sets",
		"primaryReadyThreshold": "Sluice does not watch pod readiness: proxies route only to the endpoints the Service lists",
		"canaryReadyThreshold":  "Sluice does not watch pod readiness: proxies route only to the endpoints the Service lists",
	}, "no Sluice equivalent")
}

// webhookReason explains what a Flagger webhook of type kind becomes.
func webhookReason(kind string, i int) string {
	switch kind {
	case "confirm-rollout", "confirm-promotion", "confirm-traffic-increase":
		return "a manual gate: in Sluice a person approves a step with `sluice release approve` when it exceeds spec.exposure, and a required gate (spec.gates or a required-gate.sluice.dev/ annotation) holds a release until it passes"
	case "pre-rollout":
		return "a test before traffic moves: run it outside Sluice and record its result as a gate of the release (spec.gates, or a gate.sluice.dev/ annotation on the Service)"
	case "post-rollout", "rollback", "event":
		return "Sluice calls no hooks: follow releases with `sluice release watch` or the API's event stream"
	default:
		return "Sluice calls no hooks during analysis: generate load (e.g. with the load tester) outside Sluice; the SLO judges the requests it sees"
	}
}

// flaggerPlan converts the traffic plan: stepWeight/maxWeight or
// stepWeights (progressive), iterations with match (A/B test) or
// iterations alone (blue/green).
func (w *walk) flaggerPlan(an node, spec *config.ReleasePolicySpec, interval time.Duration) {
	iters, hasIters := an.get("iterations").count(10000)
	match := an.get("match")
	switch {
	case match.ok():
		stage := config.CohortStage{Name: abStage}
		for _, m := range match.list() {
			stage.Headers = append(stage.Headers, flaggerMatch(m)...)
		}
		if len(stage.Headers) == 0 {
			match.unmapped("no header condition Sluice can route on: the A/B test became a 5% step")
			spec.Steps, _ = weightSteps([]uint32{5}, interval*time.Duration(max(iters, 1)))
			return
		}
		spec.Cohorts = &config.CohortSpec{Stages: []config.CohortStage{stage}}
		spec.Steps = []config.StepSpec{
			{Cohort: abStage, Bake: config.Duration(interval * time.Duration(max(iters, 1)))},
			{Weight: 100, Bake: config.Duration(interval)},
		}
		for _, k := range []string{"maxWeight", "stepWeight", "stepWeights"} {
			an.get(k).unmapped("ignored by Flagger itself when the analysis has match conditions")
		}
	case hasIters:
		an.get("iterations").note("blue/green: Flagger tests the new version before any live traffic reaches it; " +
			"Sluice judges live traffic, so the plan moves all traffic at once and watches it for iterations × interval, rolling back on failure")
		spec.Steps = []config.StepSpec{{Weight: 100, Bake: config.Duration(interval * time.Duration(max(iters, 1)))}}
		for _, k := range []string{"maxWeight", "stepWeight", "stepWeights"} {
			an.get(k).unmapped("ignored by Flagger itself when the analysis has iterations (blue/green)")
		}
	case an.has("stepWeights"):
		var ws []uint32
		for _, s := range an.get("stepWeights").list() {
			v, _ := s.count(100)
			ws = append(ws, uint32(v))
		}
		w.planSteps(an.get("stepWeights"), spec, ws, interval)
	case an.has("stepWeight"):
		step, _ := an.get("stepWeight").count(100)
		maxW := flaggerMaxWeight
		if m, ok := an.get("maxWeight").count(100); ok {
			maxW = m
		}
		if step == 0 {
			an.get("stepWeight").fail("want a step of 1 to 100 percent")
			return
		}
		// Flagger adds stepWeight each interval and caps the weight at
		// maxWeight.
		var ws []uint32
		for v := step; v < maxW+step; v += step {
			ws = append(ws, uint32(min(v, maxW)))
		}
		w.planSteps(an.get("stepWeight"), spec, ws, interval)
	default:
		an.unmapped("no stepWeight, stepWeights or iterations: the policy keeps Sluice's default steps")
	}
}

// planSteps sets weight steps, reporting when they had to be thinned.
func (w *walk) planSteps(at node, spec *config.ReleasePolicySpec, weights []uint32, interval time.Duration) {
	steps, thinned := weightSteps(weights, interval)
	spec.Steps = steps
	if thinned {
		at.note(fmt.Sprintf("%d steps: Sluice allows at most %d, so every step of the plan stands for several and bakes as long as they would together", len(weights)+1, maxSteps))
	}
}

// flaggerMatch converts one match condition's headers into cohort
// matchers.
func flaggerMatch(m node) []config.HeaderMatch {
	var out []config.HeaderMatch
	hs := m.get("headers")
	names := hs.keys()
	if len(names) > 1 {
		hs.note("Flagger requires all headers of one match item; a Sluice stage selects requests matching any of its header matchers")
	}
	for _, name := range names {
		cond := hs.get(name)
		h := config.HeaderMatch{Name: strings.ToLower(name)}
		switch {
		case cond.has("exact"):
			h.Exact = cond.get("exact").str()
		case cond.has("prefix"):
			h.Prefix = cond.get("prefix").str()
		case cond.has("suffix"):
			h.Suffix = cond.get("suffix").str()
		case cond.has("regex"):
			h.Regex = cond.get("regex").str()
		default:
			cond.unmapped("no exact, prefix, suffix or regex condition")
			continue
		}
		cond.rest(nil, "only one condition per header is converted")
		out = append(out, h)
	}
	m.rest(nil, "Sluice's cohort stages match headers only")
	return out
}

// flaggerMetrics converts the built-in metrics into the SLO.
func (w *walk) flaggerMetrics(metrics node, spec *config.ReleasePolicySpec) {
	var latency *config.LatencySLO
	for _, m := range metrics.list() {
		name := m.get("name").str()
		rng := m.get("thresholdRange")
		switch {
		case m.has("templateRef") || m.has("query"):
			m.unmapped("a custom metric: its query and threshold range do not say which requests failed; add it to the SLO's queries by hand")
			continue
		case name == "request-success-rate":
			min, ok := thresholdOf(m, rng, "min")
			if !ok {
				continue
			}
			spec.SLO = standardSLO(min)
			m.get("name").note(fmt.Sprintf("became spec.slo with objective %g%%. Flagger's built-in query reads the mesh's metrics; "+
				"the SLO reads Sluice's request metrics (requests_total{service,version,code}): edit goodQuery and totalQuery if yours differ", min))
		case name == "request-duration":
			ms, ok := thresholdOf(m, rng, "max")
			if !ok {
				continue
			}
			latency = &config.LatencySLO{Query: stdLatencyQuery, Threshold: config.Duration(time.Duration(ms * float64(time.Millisecond)))}
			m.get("name").note(fmt.Sprintf("became spec.slo.latency: P99 at most %gms, over the request_duration_seconds histogram", ms))
		default:
			m.unmapped(fmt.Sprintf("metric %q is not one of Flagger's built-in metrics and has no template in this file", clip(name)))
			continue
		}
		m.get("interval").unmapped("Sluice measures over the burn rules' windows (1m/10s and 5m/30s by default) instead of one interval")
		rng.rest(nil, "the other end of the range has no Sluice equivalent")
		m.rest(nil, "no Sluice equivalent")
	}
	switch {
	case spec.SLO != nil:
		spec.SLO.Latency = latency
	case latency != nil:
		metrics.unmapped("request-duration without request-success-rate: a Sluice SLO needs a success objective, so the policy has no SLO and its releases are not judged")
	case metrics.ok():
		metrics.unmapped("no request-success-rate metric: the policy has no SLO, and Sluice does not advance a release it cannot judge")
	}
}

// thresholdOf reads thresholdRange.<end>, or the legacy threshold field.
func thresholdOf(m, rng node, end string) (float64, bool) {
	if v, ok := rng.get(end).number(); ok {
		return v, true
	}
	if v, ok := m.get("threshold").number(); ok {
		return v, true
	}
	m.unmapped(fmt.Sprintf("no thresholdRange.%s: nothing to judge against", end))
	return 0, false
}
