// Package importer converts another tool's release resources into Sluice
// documents: Flagger Canaries, Argo Rollouts (with their
// AnalysisTemplates) and OpenSLO SLOs. A conversion is a pure function of
// the input bytes: it returns the Sluice documents (Service,
// ReleasePolicy) and a report of every input field that has no Sluice
// equivalent, or only an approximate one, and why. The mapping decisions
// are written down in docs/imports.md.
package importer

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/sluicehq/sluice/config"
)

// Format names a source format.
type Format string

// The formats Import reads.
const (
	FormatFlagger Format = "flagger"
	FormatArgo    Format = "argo"
	FormatOpenSLO Format = "openslo"
)

// Formats lists every format, in the order the CLI documents them.
var Formats = []Format{FormatFlagger, FormatArgo, FormatOpenSLO}

// ErrUnknownFormat is returned for a format Import does not read.
var ErrUnknownFormat = errors.New("unknown import format")

// ErrNothingToImport is returned when the input holds no resource of the
// format (for example an Argo file without a Rollout).
var ErrNothingToImport = errors.New("nothing to import")

// ErrUnreadable is matched by input whose resources cannot be read: a
// field of the wrong type, or a value outside what the source format
// allows. The error lists each problem at its line.
var ErrUnreadable = errors.New("resource cannot be read")

// ErrNotConvertible is matched when the converted documents would not be
// valid Sluice configuration (for example a success rate of 100%, which
// leaves no error budget). The error carries config's problems.
var ErrNotConvertible = errors.New("converted documents are not valid")

// ErrTooLarge is returned for input over MaxInputBytes.
var ErrTooLarge = errors.New("input too large")

// MaxInputBytes bounds one input: resources of these kinds are a few
// kilobytes, and a bound keeps a hostile file from costing more.
const MaxInputBytes = 4 << 20

// Unmapped is one input field without an exact Sluice equivalent.
type Unmapped struct {
	// Path is the field's path in its source document, prefixed with the
	// document's kind and name, e.g.
	// "Canary/podinfo: spec.analysis.webhooks[0]".
	Path string `json:"path"`
	// Line is the field's line in the input.
	Line int `json:"line,omitempty"`
	// Kind says whether the field was left out or converted with a
	// different meaning.
	Kind UnmappedKind `json:"kind"`
	// Reason says why it has no equivalent, or what it became instead.
	Reason string `json:"reason"`
}

// UnmappedKind classifies a report entry.
type UnmappedKind string

// The kinds of report entries.
const (
	// Dropped: the field has no Sluice equivalent and was left out.
	Dropped UnmappedKind = "dropped"
	// Approximated: the field was converted, but the Sluice document does
	// not mean exactly the same (the reason says how it differs).
	Approximated UnmappedKind = "approximated"
)

// Result is one conversion.
type Result struct {
	// Services and Policies are the converted documents.
	Services []*config.Service       `json:"services,omitempty"`
	Policies []*config.ReleasePolicy `json:"policies,omitempty"`
	// Unmapped lists the fields left out or approximated, in input order.
	Unmapped []Unmapped `json:"unmapped"`
}

// YAML renders the documents as one YAML stream, Services first, ready for
// `sluice apply -f`.
func (r Result) YAML() ([]byte, error) {
	var vs []any
	for _, s := range r.Services {
		vs = append(vs, s)
	}
	for _, p := range r.Policies {
		vs = append(vs, p)
	}
	return config.EncodeYAMLStream(vs...)
}

// Import converts data, read from file (used in messages), from format.
// The documents it returns pass config.Parse; whether they fit what is
// already applied is config.Check's question.
func Import(format Format, file string, data []byte) (Result, error) {
	if len(data) > MaxInputBytes {
		return Result{}, fmt.Errorf("%s: %w: %d bytes, at most %d are read", file, ErrTooLarge, len(data), MaxInputBytes)
	}
	trees, err := config.ReadTrees(file, data)
	if err != nil {
		return Result{}, err
	}
	w := &walk{file: file}
	var res Result
	switch format {
	case FormatFlagger:
		res = w.flagger(trees)
	case FormatArgo:
		res = w.argo(trees)
	case FormatOpenSLO:
		res = w.openslo(trees)
	default:
		return Result{}, fmt.Errorf("%w %q: want one of %s", ErrUnknownFormat, format, formatList())
	}
	if len(w.problems) > 0 {
		return Result{}, fmt.Errorf("%s: %w:\n%w", file, ErrUnreadable, w.problems)
	}
	if len(res.Services)+len(res.Policies) == 0 {
		return Result{}, fmt.Errorf("%s: %w: no %s resource found", file, ErrNothingToImport, format)
	}
	sortUnmapped(w.unmapped)
	res.Unmapped = w.unmapped
	if res.Unmapped == nil {
		res.Unmapped = []Unmapped{}
	}
	out, err := res.YAML()
	if err != nil {
		return Result{}, err
	}
	if _, err := config.Parse(file+" (converted)", out); err != nil {
		return Result{}, fmt.Errorf("%w:\n%w", ErrNotConvertible, err)
	}
	return res, nil
}

func formatList() string {
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// Placeholder endpoints. The source resources name Kubernetes workloads,
// not addresses; the converted Service carries addresses from the
// documentation range 192.0.2.0/24 (RFC 5737) to be replaced.
const (
	placeholderStable = "192.0.2.1"
	placeholderCanary = "192.0.2.2"
)

// endpointsReason is the report entry for the workload reference.
const endpointsReason = "a Kubernetes workload: its pod addresses are not in the file. The Service's " +
	"versions get placeholder endpoints in 192.0.2.0/24 (documentation addresses): replace them " +
	"before applying, or applying replaces a Service of the same name with unreachable endpoints"

// newService builds a Service with a stable and a canary version.
func newService(name string, proto config.Protocol, port uint32, domains []string, stable, canary string) *config.Service {
	p := port
	if p == 0 {
		p = 8080
	}
	s := &config.Service{
		APIVersion: config.APIVersion,
		Kind:       config.KindService,
		Metadata:   config.Metadata{Name: name},
		Spec: config.ServiceSpec{
			Domains:  domains,
			Protocol: proto,
			Versions: []config.Version{
				{Name: stable, Endpoints: []config.Endpoint{{Address: fmt.Sprintf("%s:%d", placeholderStable, p)}}},
				{Name: canary, Endpoints: []config.Endpoint{{Address: fmt.Sprintf("%s:%d", placeholderCanary, p)}}},
			},
		},
	}
	if proto == config.ProtocolHTTP || port != 0 {
		s.Spec.Port = p
	}
	return s
}

// newPolicy builds an empty ReleasePolicy covering services.
func newPolicy(name string, services ...string) *config.ReleasePolicy {
	return &config.ReleasePolicy{
		APIVersion: config.APIVersion,
		Kind:       config.KindReleasePolicy,
		Metadata:   config.Metadata{Name: name},
		Spec:       config.ReleasePolicySpec{Services: services},
	}
}

// The queries a converted SLO uses when the source names a built-in
// metric rather than a query: the request metrics Sluice's examples and
// demo backends expose (requests_total{service,version,code} and the
// request_duration_seconds histogram).
const (
	stdGoodQuery    = `sum(increase(requests_total{service="{{service}}",version="{{version}}",code!~"5..|UNAVAILABLE|INTERNAL|UNKNOWN|DEADLINE_EXCEEDED"}[{{window}}])) or vector(0)`
	stdTotalQuery   = `sum(increase(requests_total{service="{{service}}",version="{{version}}"}[{{window}}]))`
	stdLatencyQuery = `histogram_quantile(0.99, sum by (le) (rate(request_duration_seconds_bucket{service="{{service}}",version="{{version}}"}[{{window}}])))`
)

// standardSLO is an SLO over Sluice's standard request metrics.
func standardSLO(objective float64) *config.SLOSpec {
	return &config.SLOSpec{Objective: objective, GoodQuery: stdGoodQuery, TotalQuery: stdTotalQuery}
}

// weightSteps turns "stepWeight% more every interval up to maxWeight%"
// into steps, ending with the promotion to 100%. Sluice allows at most
// maxSteps steps; a longer plan is thinned evenly and each kept step
// bakes for the steps it stands for, so the plan takes as long.
func weightSteps(weights []uint32, bake time.Duration) (steps []config.StepSpec, thinned bool) {
	if len(weights) == 0 || weights[len(weights)-1] != 100 {
		weights = append(weights, 100)
	}
	every := (len(weights) + maxSteps - 1) / maxSteps
	for i := every - 1; i < len(weights); i += every {
		steps = append(steps, config.StepSpec{Weight: weights[i], Bake: config.Duration(bake * time.Duration(every))})
	}
	if last := weights[len(weights)-1]; steps[len(steps)-1].Weight != last {
		steps = append(steps, config.StepSpec{Weight: last, Bake: config.Duration(bake)})
	}
	return steps, every > 1
}

// maxSteps is the most steps a ReleasePolicy may have.
const maxSteps = 20

// dns1123 reports whether s can be a Sluice object name.
func dnsLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' && i > 0 && i < len(s)-1
		if !ok {
			return false
		}
	}
	return true
}

// objectName reads metadata.name; a name Sluice cannot use is a problem.
func objectName(doc node) string {
	n := doc.get("metadata").get("name")
	name := n.str()
	if !dnsLabel(name) {
		n.fail("want a name of lowercase letters, digits and '-' (at most 63), got %q", clip(name))
	}
	return name
}

// commonMetadata reports the metadata fields other than name.
func commonMetadata(doc node) {
	md := doc.get("metadata")
	md.rest(map[string]string{
		"namespace":   "Sluice has no namespaces: object names are unique per kind in the cluster",
		"labels":      "Kubernetes labels of the source resource; not copied",
		"annotations": "Kubernetes annotations of the source resource; not copied",
	}, "Kubernetes object metadata; not copied")
}

// roundObjective drops the binary noise of a percentage computed from a
// ratio (0.95 × 100 = 94.99999999999999).
func roundObjective(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// Report renders the unmapped fields one a line,
// "file:line: path: kind: reason".
func (r Result) Report(file string) string {
	var b strings.Builder
	for _, u := range r.Unmapped {
		fmt.Fprintf(&b, "%s:%d: %s: %s: %s\n", file, u.Line, u.Path, u.Kind, u.Reason)
	}
	return b.String()
}
