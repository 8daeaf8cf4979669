package importer

import (
	"fmt"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/config"
)

// argoDocs holds the AnalysisTemplates of one input by name, and which of
// them a Rollout used.
type argoDocs struct {
	templates map[string]node
	order     []string
	used      map[string]bool
}

func (w *walk) argo(trees []*yaml.Node) Result {
	docs := argoDocs{templates: map[string]node{}, used: map[string]bool{}}
	var rollouts []node
	for _, t := range trees {
		doc := w.root(t)
		kind := doc.get("kind").str()
		isArgo := strings.HasPrefix(doc.get("apiVersion").str(), "argoproj.io/")
		switch {
		case isArgo && kind == "Rollout":
			rollouts = append(rollouts, doc)
		case isArgo && (kind == "AnalysisTemplate" || kind == "ClusterAnalysisTemplate"):
			name := doc.get("metadata").get("name").str()
			docs.templates[name] = doc
			docs.order = append(docs.order, name)
		default:
			w.doc = fmt.Sprintf("%s/%s", kind, doc.get("metadata").get("name").str())
			doc.unmapped("not an Argo Rollout or AnalysisTemplate (argoproj.io/*): skipped")
		}
	}
	var res Result
	for _, r := range rollouts {
		svc, pol := w.rollout(r, &docs)
		res.Services = append(res.Services, svc)
		res.Policies = append(res.Policies, pol)
	}
	for _, name := range docs.order {
		if !docs.used[name] {
			w.doc = "AnalysisTemplate/" + name
			docs.templates[name].unmapped("not referenced by a Rollout in this file: not converted")
		}
	}
	return res
}

// rollout converts one Rollout into a Service and its ReleasePolicy.
func (w *walk) rollout(doc node, docs *argoDocs) (*config.Service, *config.ReleasePolicy) {
	name := objectName(doc)
	w.doc = "Rollout/" + name
	commonMetadata(doc)
	spec := doc.get("spec")
	spec.mapping()
	tmpl := spec.get("template")
	tmpl.unmapped(endpointsReason)
	port := containerPort(tmpl)
	svc := newService(name, config.ProtocolHTTP, port, nil, "stable", "canary")
	pol := newPolicy(name, name)
	var refs []node
	strat := spec.get("strategy")
	switch {
	case strat.has("canary"):
		refs = w.argoCanary(strat.get("canary"), &pol.Spec)
	case strat.has("blueGreen"):
		refs = w.argoBlueGreen(strat.get("blueGreen"), &pol.Spec)
	default:
		strat.unmapped("no canary or blueGreen strategy: the policy keeps Sluice's default steps")
	}
	strat.rest(nil, "no Sluice equivalent")
	w.argoAnalysis(refs, docs, &pol.Spec)
	if a := pol.Spec.Analysis; a != nil && a.Interval == 0 && a.FailureLimit == 0 && a.ErrorLimit == 0 && a.InconclusiveLimit == 0 {
		pol.Spec.Analysis = nil // nothing converted: Sluice's defaults
	}
	w.doc = "Rollout/" + name
	spec.rest(map[string]string{
		"replicas":                "Kubernetes workload detail: Sluice routes traffic and manages no pods",
		"selector":                "Kubernetes workload detail: Sluice routes traffic and manages no pods",
		"workloadRef":             endpointsReason,
		"revisionHistoryLimit":    "Kubernetes workload detail: Sluice keeps every version the Service lists",
		"minReadySeconds":         "Sluice does not watch pod readiness",
		"progressDeadlineSeconds": "Sluice does not watch the workload's rollout; a step the proxies do not ACK within spec.ackTimeout (30s) holds the release",
		"paused":                  "pause a running release with `sluice release pause`",
		"rollbackWindow":          "`sluice release undo` goes back to the version before the last promotion",
	}, "no Sluice equivalent")
	return svc, pol
}

// containerPort finds the first container port of a pod template, or 0.
func containerPort(tmpl node) uint32 {
	for _, c := range tmpl.get("spec").get("containers").list() {
		for _, p := range c.get("ports").list() {
			if v, ok := p.get("containerPort").count(65535); ok && v > 0 {
				return uint32(v)
			}
		}
	}
	return 0
}

// argoCanary converts the canary strategy's steps; it returns the
// analysis references (background and per step) to build the SLO from.
func (w *walk) argoCanary(c node, spec *config.ReleasePolicySpec) []node {
	var refs []node
	if bg := c.get("analysis"); bg.ok() {
		refs = append(refs, bg)
		bg.get("startingStep").unmapped("Sluice analyses every step from the first")
	}
	var (
		steps  []config.StepSpec
		weight uint32
	)
	for _, st := range c.get("steps").list() {
		switch {
		case st.has("setWeight"):
			v, ok := st.get("setWeight").count(100)
			if !ok {
				continue
			}
			if uint32(v) <= weight {
				st.unmapped(fmt.Sprintf("setWeight %d after %d: Sluice's weights only grow within a release; step left out", v, weight))
				continue
			}
			weight = uint32(v)
			steps = append(steps, config.StepSpec{Weight: weight})
		case st.has("pause"):
			w.argoPause(st.get("pause"), steps, weight, spec)
		case st.has("analysis"):
			refs = append(refs, st.get("analysis"))
			st.get("analysis").note("analysis as a step: Sluice judges every step with the policy's SLO, built from the referenced templates")
		default:
			st.unmapped("no Sluice equivalent: Sluice steps set a traffic weight or a cohort stage, and bake")
		}
	}
	for i := range steps {
		if steps[i].Bake == 0 && i < len(steps) {
			// Argo moves on at once; Sluice bakes every step (1m unless set).
			steps[i].Bake = config.Duration(time.Minute)
		}
	}
	if len(steps) > 0 && steps[len(steps)-1].Weight < 100 {
		steps = append(steps, config.StepSpec{Weight: 100, Bake: config.Duration(time.Minute)})
	}
	if len(steps) > maxSteps {
		c.get("steps").fail("%d weight steps: Sluice allows at most %d", len(steps), maxSteps)
	}
	spec.Steps = steps
	c.rest(argoRoutingReasons, "no Sluice equivalent")
	return refs
}

// argoPause adds a pause to the bake of the last weight step, or turns an
// indefinite pause into an approval.
func (w *walk) argoPause(p node, steps []config.StepSpec, weight uint32, spec *config.ReleasePolicySpec) {
	if len(steps) == 0 {
		p.unmapped("a pause before any setWeight: Sluice starts a release at its first step")
		return
	}
	d, ok := p.get("duration").duration(true)
	if ok {
		steps[len(steps)-1].Bake += config.Duration(d)
		p.rest(nil, "no Sluice equivalent")
		return
	}
	if spec.Exposure != nil {
		p.unmapped("a further indefinite pause: every step beyond the first paused share already waits for an approver")
		return
	}
	spec.Exposure = &config.ExposureSpec{MaxTrafficShare: float64(weight)}
	p.note(fmt.Sprintf("an indefinite pause became spec.exposure.maxTrafficShare %d: every later step (above %d%%) waits for `sluice release approve`, not only the next one", weight, weight))
}

// argoRoutingReasons explain the canary strategy's routing fields.
var argoRoutingReasons = map[string]string{
	"canaryService":              "Sluice routes to the Service's versions itself: no Kubernetes Services to switch",
	"stableService":              "Sluice routes to the Service's versions itself: no Kubernetes Services to switch",
	"trafficRouting":             "Sluice is the control plane the proxies take routes from: there is no mesh or ingress to drive",
	"maxSurge":                   "Kubernetes workload detail: Sluice manages no pods",
	"maxUnavailable":             "Kubernetes workload detail: Sluice manages no pods",
	"scaleDownDelaySeconds":      "Kubernetes workload detail: Sluice manages no pods",
	"abortScaleDownDelaySeconds": "Kubernetes workload detail: Sluice manages no pods",
	"dynamicStableScale":         "Kubernetes workload detail: Sluice manages no pods",
	"canaryMetadata":             "pod labels of the canary: Sluice's versions are the Service's versions",
	"stableMetadata":             "pod labels of the stable version: Sluice's versions are the Service's versions",
	"antiAffinity":               "Kubernetes scheduling: Sluice manages no pods",
}

// argoBlueGreen converts the blue/green strategy: one step to 100%.
func (w *walk) argoBlueGreen(bg node, spec *config.ReleasePolicySpec) []node {
	step := config.StepSpec{Weight: 100, Bake: config.Duration(time.Minute)}
	if d, ok := bg.get("autoPromotionSeconds").duration(true); ok && d > 0 {
		step.Bake = config.Duration(d)
	}
	spec.Steps = []config.StepSpec{step}
	bg.get("autoPromotionEnabled").unmapped("Sluice promotes by itself when the analysis passes; a person approves a step only when it exceeds spec.exposure")
	var refs []node
	if pre := bg.get("prePromotionAnalysis"); pre.ok() {
		pre.note("Sluice has no preview traffic: the templates judge the new version on live traffic after the switch, and a failure switches back")
		refs = append(refs, pre)
	}
	if post := bg.get("postPromotionAnalysis"); post.ok() {
		post.note("became the SLO judged while the step at 100% bakes; a failure switches back")
		refs = append(refs, post)
	}
	bg.rest(map[string]string{
		"activeService":         "Sluice routes to the Service's versions itself: no Kubernetes Services to switch",
		"previewService":        "Sluice has no preview route: the new version is judged on live traffic",
		"previewReplicaCount":   "Kubernetes workload detail: Sluice manages no pods",
		"scaleDownDelaySeconds": "Kubernetes workload detail: Sluice manages no pods",
		"antiAffinity":          "Kubernetes scheduling: Sluice manages no pods",
	}, "no Sluice equivalent")
	return refs
}
