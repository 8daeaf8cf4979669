package importer

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/config"
)

// successCondition matches the conditions Sluice can express: the result
// compared with a number, e.g. "result >= 0.95" or "result[0] < 0.01".
var successCondition = regexp.MustCompile(`^\s*result(?:\[0\])?\s*(>=|>|<=|<)\s*([0-9]*\.?[0-9]+)\s*$`)

// argoAnalysis builds the policy's SLO and analysis from the
// AnalysisTemplates the references name. Several convertible metrics
// make the strictest objective the SLO; the others are reported.
func (w *walk) argoAnalysis(refs []node, docs *argoDocs, spec *config.ReleasePolicySpec) {
	for _, ref := range refs {
		var names []node
		names = append(names, ref.get("templates").list()...)
		if t := ref.get("templateName"); t.ok() {
			names = append(names, ref)
		}
		ref.get("args").unmapped("Sluice's query templates take {{service}}, {{version}} and {{window}}: argument placeholders became {{service}}")
		ref.rest(nil, "no Sluice equivalent")
		for _, n := range names {
			tn := n.get("templateName").str()
			n.rest(map[string]string{"clusterScope": "Sluice has no namespaces"}, "no Sluice equivalent")
			if docs.used[tn] {
				continue
			}
			t, ok := docs.templates[tn]
			if !ok {
				n.unmapped(fmt.Sprintf("AnalysisTemplate %q is not in this file: give it in the same file to convert it", clip(tn)))
				continue
			}
			docs.used[tn] = true
			prev := w.doc
			w.doc = "AnalysisTemplate/" + tn
			w.analysisTemplate(t, spec)
			w.doc = prev
		}
	}
	if spec.SLO == nil && len(refs) > 0 {
		refs[0].unmapped("no metric converted into an SLO: the policy has no SLO, and Sluice does not advance a release it cannot judge")
	}
}

// analysisTemplate converts the metrics of one AnalysisTemplate.
func (w *walk) analysisTemplate(t node, spec *config.ReleasePolicySpec) {
	commonMetadata(t)
	ts := t.get("spec")
	ts.get("args").unmapped("Sluice's query templates take {{service}}, {{version}} and {{window}}: argument placeholders became {{service}}")
	for _, m := range ts.get("metrics").list() {
		w.argoMetric(m, spec)
	}
	ts.rest(map[string]string{
		"dryRun":               "Sluice has no dry-run metrics: every SLO query decides",
		"measurementRetention": "Sluice records every analysis with its inputs",
	}, "no Sluice equivalent")
}

// argoMetric converts one metric: a Prometheus query with a success
// condition on a ratio becomes the SLO.
func (w *walk) argoMetric(m node, spec *config.ReleasePolicySpec) {
	prov := m.get("provider")
	prom := prov.get("prometheus")
	if !prom.ok() {
		prov.unmapped("not a Prometheus provider: Sluice reads its metrics from Prometheus only")
		m.rest(nil, "belongs to a metric that was not converted")
		return
	}
	prov.rest(nil, "Sluice reads its metrics from Prometheus only")
	cond := m.get("successCondition")
	slo, notes, ok := w.argoSLO(prom.get("query"), cond)
	m.get("failureCondition").unmapped("Sluice fails a release on its SLO's burn rules and the baseline comparison, not on a second condition")
	if !ok {
		m.rest(nil, "belongs to a metric that was not converted")
		prom.rest(nil, "belongs to a metric that was not converted")
		return
	}
	if spec.SLO != nil && spec.SLO.Objective >= slo.Objective {
		m.unmapped(fmt.Sprintf("a further success objective (%g%%): the SLO keeps the strictest, %g%%", slo.Objective, spec.SLO.Objective))
		return
	}
	notes()
	spec.SLO = slo
	if addr := prom.get("address").str(); addr != "" {
		spec.Prometheus = &config.PrometheusSpec{URL: addr}
	}
	prom.rest(map[string]string{
		"authentication": "Sluice sends no credentials to Prometheus",
		"headers":        "Sluice sends no extra headers to Prometheus",
		"timeout":        "became nothing: spec.analysis.queryTimeout (5s) bounds every query",
		"insecure":       "Sluice verifies Prometheus' certificate",
	}, "no Sluice equivalent")
	if spec.Analysis == nil {
		spec.Analysis = &config.AnalysisSpec{}
	}
	an := spec.Analysis
	if d, ok := m.get("interval").duration(false); ok && d > 0 {
		an.Interval = config.Duration(d)
	}
	// Argo fails when more than failureLimit measurements failed; Sluice
	// rolls back at failureLimit Failed analyses.
	limits := []struct {
		key string
		to  *int
	}{{"failureLimit", &an.FailureLimit}, {"consecutiveErrorLimit", &an.ErrorLimit}, {"inconclusiveLimit", &an.InconclusiveLimit}}
	for _, l := range limits {
		if v, ok := m.get(l.key).count(9999); ok {
			*l.to = v + 1
		}
	}
	m.get("name").unmapped("the metric's name: Sluice's decisions name the SLO's rules instead")
	m.rest(map[string]string{
		"count":        "Sluice analyses for as long as each step bakes, not a fixed number of times",
		"initialDelay": "Sluice starts analysing when a step's routes are ACKed by every proxy group",
	}, "no Sluice equivalent")
}

// argoSLO converts a query and its success condition into an SLO.
// The notes it returns are to be reported when the SLO is kept.
func (w *walk) argoSLO(q, cond node) (*config.SLOSpec, func(), bool) {
	mm := successCondition.FindStringSubmatch(cond.str())
	if mm == nil {
		if cond.ok() {
			cond.unmapped(fmt.Sprintf("condition %q: Sluice converts only a result compared with a number (result >= 0.95)", clip(cond.str())))
		} else {
			q.unmapped("a metric without successCondition: Sluice needs a success objective")
		}
		return nil, nil, false
	}
	x, _ := strconv.ParseFloat(mm[2], 64)
	if x > 1 && x < 100 {
		x /= 100 // written as a percentage
	}
	if err := checkQueryLen(q.str()); err != nil {
		q.unmapped(fmt.Sprintf("not converted: %v", err))
		return nil, nil, false
	}
	good, total, ratio := splitRatio(q.str())
	if !ratio {
		q.unmapped("not a ratio A / B: Sluice's SLO needs good and total requests, or an error ratio and a request count")
		return nil, nil, false
	}
	var changes []string
	rewrite := func(s string) string {
		r, err := sluiceQuery(s)
		if err != nil {
			q.fail("%v", err)
			return ""
		}
		changes = r.Changes
		return r.Template
	}
	slo := &config.SLOSpec{}
	var condNote string
	switch mm[1] {
	case ">=", ">":
		slo.Objective = roundObjective(x * 100)
		slo.GoodQuery = rewrite(good) + " or vector(0)"
		slo.TotalQuery = rewrite(total)
		condNote = fmt.Sprintf("became spec.slo.objective %g: the query's numerator is the good requests, its denominator all requests", slo.Objective)
	default:
		slo.Objective = roundObjective((1 - x) * 100)
		slo.ErrorRatioQuery = rewrite(good + " / " + total)
		slo.RequestsQuery = rewrite(total)
		condNote = fmt.Sprintf("an upper bound on an error ratio became spec.slo.objective %g (errorRatioQuery, with the denominator as requestsQuery)", slo.Objective)
	}
	return slo, func() {
		cond.note(condNote)
		q.note("rewritten as Sluice templates: " + strings.Join(changes, "; "))
	}, true
}
