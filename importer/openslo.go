package importer

import (
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/config"
)

func (w *walk) openslo(trees []*yaml.Node) Result {
	slis := map[string]node{}
	var slos []node
	for _, t := range trees {
		doc := w.root(t)
		kind := doc.get("kind").str()
		isOpenSLO := strings.HasPrefix(doc.get("apiVersion").str(), "openslo/")
		switch {
		case isOpenSLO && kind == "SLO":
			slos = append(slos, doc)
		case isOpenSLO && kind == "SLI":
			slis[doc.get("metadata").get("name").str()] = doc
		default:
			w.doc = fmt.Sprintf("%s/%s", kind, doc.get("metadata").get("name").str())
			doc.unmapped("not an OpenSLO SLO or SLI: skipped (a Sluice Service lists its endpoints; an OpenSLO Service or DataSource has none)")
		}
	}
	var res Result
	for _, s := range slos {
		res.Policies = append(res.Policies, w.slo(s, slis))
	}
	return res
}

// slo converts one OpenSLO SLO into a ReleasePolicy for its service.
func (w *walk) slo(doc node, slis map[string]node) *config.ReleasePolicy {
	name := objectName(doc)
	w.doc = "SLO/" + name
	doc.get("metadata").get("displayName").unmapped("display text: not copied")
	commonMetadata(doc)
	spec := doc.get("spec")
	spec.mapping()
	svcNode := spec.get("service")
	svc := svcNode.str()
	if !dnsLabel(svc) {
		svcNode.fail("the service must be a Sluice Service name (lowercase letters, digits and '-'), got %q", clip(svc))
	}
	svcNode.note(fmt.Sprintf("the policy covers Service %q, which must be applied already (its endpoints are not in an SLO)", clip(svc)))
	pol := newPolicy(name, svc)

	objective, ok := w.objective(spec.get("objectives"))
	ind := spec.get("indicator")
	if ref := spec.get("indicatorRef"); ref.ok() {
		sli, found := slis[ref.str()]
		if !found {
			ref.unmapped(fmt.Sprintf("SLI %q is not in this file: give it in the same file to convert it", clip(ref.str())))
		}
		ind = sli
	}
	if ok {
		pol.Spec.SLO = w.indicator(ind, objective)
	}
	spec.rest(map[string]string{
		"description":     "text: not copied",
		"timeWindow":      "Sluice judges a release over its burn rules' windows, not over the SLO's compliance window: the objective sets the error budget the burn rates are measured against",
		"budgetingMethod": "Sluice counts requests over each window (Occurrences); time slices have no equivalent",
		"alertPolicies":   "while a release runs, Sluice's burn rules (spec.analysis.burnRules) play the part of burn-rate alerts",
	}, "no Sluice equivalent")
	return pol
}

// objective reads the first objective's target; further ones are
// reported.
func (w *walk) objective(objs node) (float64, bool) {
	list := objs.list()
	if len(list) == 0 {
		objs.unmapped("no objectives: the policy has no SLO")
		return 0, false
	}
	var pct float64
	o := list[0]
	if v, ok := o.get("target").number(); ok {
		pct = roundObjective(v * 100)
	} else if v, ok := o.get("targetPercent").number(); ok {
		pct = v
	} else {
		o.unmapped("no target or targetPercent")
		return 0, false
	}
	o.get("target").note(fmt.Sprintf("the objective %g%%: spec.slo.objective, when the indicator converts", pct))
	o.rest(map[string]string{
		"displayName":     "display text: not copied",
		"op":              "a threshold metric's comparison: Sluice's objective is a success ratio",
		"value":           "a threshold metric's bound: Sluice's objective is a success ratio",
		"timeSliceTarget": "time slices have no equivalent: Sluice counts requests",
		"timeSliceWindow": "time slices have no equivalent: Sluice counts requests",
		"compositeWeight": "Sluice has no composite SLOs",
	}, "no Sluice equivalent")
	for _, extra := range list[1:] {
		extra.unmapped(fmt.Sprintf("a further objective: a Sluice SLO has one, the first (%g%%)", pct))
	}
	return pct, true
}

// indicator converts an SLI's ratio metric into an SLO with objective.
func (w *walk) indicator(ind node, objective float64) *config.SLOSpec {
	if !ind.ok() {
		return nil
	}
	ind.get("metadata").unmapped("the SLI's name and display text: not copied")
	is := ind.get("spec")
	if is.has("thresholdMetric") {
		is.get("thresholdMetric").unmapped("a threshold metric: Sluice's SLO is a ratio of good (or failed) requests to all requests")
		return nil
	}
	rm := is.get("ratioMetric")
	if !rm.ok() {
		is.unmapped("no ratioMetric: nothing to convert")
		return nil
	}
	counter := rm.get("counter")
	isCounter := counter.str() == "true"
	// Every side is read, so that each one Sluice cannot use is reported.
	total, totalOK := w.sliQuery(rm.get("total"), isCounter)
	good, goodOK := w.sliQuery(rm.get("good"), isCounter)
	bad, badOK := w.sliQuery(rm.get("bad"), isCounter)
	rm.rest(map[string]string{"raw": "a precomputed ratio: Sluice needs request counts for its minimum sample"}, "no Sluice equivalent")
	is.rest(nil, "no Sluice equivalent")
	slo := &config.SLOSpec{Objective: objective}
	switch {
	case totalOK && goodOK:
		slo.GoodQuery, slo.TotalQuery = good+" or vector(0)", total
	case totalOK && badOK:
		slo.ErrorRatioQuery = "(" + bad + " or vector(0)) / " + total
		slo.RequestsQuery = total
	default:
		return nil
	}
	return slo
}

// sliQuery converts one metric source's Prometheus query.
func (w *walk) sliQuery(m node, counter bool) (string, bool) {
	if !m.ok() {
		return "", false
	}
	src := m.get("metricSource")
	typ := src.get("type").str()
	src.get("metricSourceRef").unmapped("a DataSource: spec.prometheus.url (or the server's --prometheus-url) says where Sluice's queries go")
	if !strings.EqualFold(typ, "prometheus") {
		src.get("type").unmapped(fmt.Sprintf("a %q metric source: Sluice reads its metrics from Prometheus only, so the SLO is not converted", clip(typ)))
		src.rest(nil, "belongs to a query that was not converted")
		return "", false
	}
	q := src.get("spec").get("query")
	text := q.str()
	if err := checkQueryLen(text); err != nil {
		q.unmapped(fmt.Sprintf("not converted: %v", err))
		src.get("spec").rest(nil, "no Sluice equivalent")
		src.rest(nil, "no Sluice equivalent")
		return "", false
	}
	if counter {
		text = counterQuery(text)
	}
	r, err := sluiceQuery(text)
	if err != nil {
		q.fail("%v", err)
		return "", false
	}
	changes := r.Changes
	if counter {
		changes = append([]string{"counters (counter: true) read with increase over {{window}}"}, changes...)
	}
	q.note("rewritten as a Sluice template: " + strings.Join(changes, "; "))
	src.get("spec").rest(nil, "no Sluice equivalent")
	src.rest(nil, "no Sluice equivalent")
	return r.Template, true
}
