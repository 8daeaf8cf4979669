// Package config turns YAML or JSON documents into typed, validated specs.
//
// Documents are Kubernetes-style: apiVersion, kind, metadata.name and spec.
// Decoding is strict (unknown fields and wrong types are errors), every
// problem is reported at once with file:line:col and the field path, and
// defaults are applied in one place (defaults.go).
package config

import (
	"encoding/json"
	"fmt"
	"time"
)

// APIVersion is the only apiVersion this release of Sluice accepts.
const APIVersion = "sluice.dev/v1alpha1"

// Kind names a document type.
type Kind string

// The kinds Sluice understands.
const (
	KindService       Kind = "Service"
	KindReleasePolicy Kind = "ReleasePolicy"
	KindRelease       Kind = "Release"
	KindReleaseTrain  Kind = "ReleaseTrain"
	KindNotifier      Kind = "Notifier"
)

// Kinds lists every kind in the order they are applied within one request,
// so that a document may refer to another in the same request.
var Kinds = []Kind{KindService, KindReleasePolicy, KindRelease, KindReleaseTrain, KindNotifier}

// Metadata identifies an object.
type Metadata struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are free-form notes. On a Service, the keys under
	// change.sluice.dev/ and gate.sluice.dev/ describe the change a new
	// declared version ships (see annotations.go).
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Protocol is the protocol a service speaks.
type Protocol string

// Supported protocols.
const (
	ProtocolHTTP Protocol = "http"
	ProtocolGRPC Protocol = "grpc"
)

// Service is a routable service with one or more versions.
type Service struct {
	APIVersion string      `json:"apiVersion"`
	Kind       Kind        `json:"kind"`
	Metadata   Metadata    `json:"metadata"`
	Spec       ServiceSpec `json:"spec"`
}

// ServiceSpec describes a service: how clients address it and where each
// version runs.
type ServiceSpec struct {
	// Domains clients use to reach the service (HTTP Host / gRPC target).
	// The service name is always one of the names gRPC clients may dial.
	Domains []string `json:"domains,omitempty"`
	// Protocol is http or grpc.
	Protocol Protocol `json:"protocol"`
	// Port is the gateway listener port for http services. For grpc
	// services it is optional; when set, "name:port" is also a valid target.
	Port uint32 `json:"port,omitempty"`
	// Version is the version the service should run. On a Service covered
	// by a ReleasePolicy, changing it starts a progressive release from the
	// version running now; re-applying it changes nothing. Without a
	// policy it moves traffic at once. It is one of Versions' names and
	// excludes static weights.
	Version string `json:"version,omitempty"`
	// Versions of the service. The first is the stable version unless
	// weights (or Version) say otherwise.
	Versions []Version `json:"versions"`
	// DependsOn names other services this one calls.
	DependsOn []string `json:"dependsOn,omitempty"`
}

// Version is one deployable version of a service.
type Version struct {
	Name string `json:"name"`
	// Weight is the static share of traffic (0-100) used when no release is
	// running. Either every version sets a weight and they sum to 100, or
	// none does and all traffic goes to the first version.
	Weight *uint32 `json:"weight,omitempty"`
	// Endpoints are the version's addresses, listed by hand. A version
	// lists them or names a Discovery source, not both.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// Discovery finds the version's endpoints (a DNS name, a watched
	// file) and checks their health; see discovery.go.
	Discovery *Discovery `json:"discovery,omitempty"`
}

// Endpoint is one backend address of a version.
type Endpoint struct {
	// Address is host:port.
	Address string `json:"address"`
	Region  string `json:"region,omitempty"`
	Zone    string `json:"zone,omitempty"`
}

// ReleasePolicy says how releases of the services it covers are run.
type ReleasePolicy struct {
	APIVersion string            `json:"apiVersion"`
	Kind       Kind              `json:"kind"`
	Metadata   Metadata          `json:"metadata"`
	Spec       ReleasePolicySpec `json:"spec"`
}

// ReleasePolicySpec is the body of a ReleasePolicy. Analysis, steps,
// cohorts, windows and approvals are added here as they are built; unknown
// fields are rejected so a typo never silently disables a safety check.
type ReleasePolicySpec struct {
	// Services covered by the policy. A service is covered by at most one
	// policy.
	Services []string `json:"services"`
	// Prometheus says where analysis queries go.
	Prometheus *PrometheusSpec `json:"prometheus,omitempty"`
	// SLO is what releases are judged against. Without it a release
	// cannot be analysed and never advances past its first step.
	SLO *SLOSpec `json:"slo,omitempty"`
	// Analysis tunes the judgement; defaults in defaults.go.
	Analysis *AnalysisSpec `json:"analysis,omitempty"`
	// Steps is the release plan; empty means DefaultSteps.
	Steps []StepSpec `json:"steps,omitempty"`
	// OnMirrorFailure says what a mirror step whose analysis fails does:
	// roll back (the default) or hold for a person (mirror.go).
	OnMirrorFailure MirrorFailure `json:"onMirrorFailure,omitempty"`
	// RiskPlan bounds the plan derived from a release's risk (used when
	// Steps is empty).
	RiskPlan *RiskPlanSpec `json:"riskPlan,omitempty"`
	// Cohorts are the stages a plan can expose first (tenants, regions,
	// headers, percentages).
	Cohorts *CohortSpec `json:"cohorts,omitempty"`
	// Exposure bounds what a step may expose before a person approves it.
	Exposure *ExposureSpec `json:"exposure,omitempty"`
	// AckTimeout is how long a step waits for every proxy group to ACK
	// the routes that carry it before the release holds.
	AckTimeout Duration `json:"ackTimeout,omitempty"`
	// Schedule says when releases may run (windows, blackouts, business
	// calendar, on-call) and how start times are preferred; see window.go.
	Schedule *ScheduleSpec `json:"schedule,omitempty"`
	// Webhooks are called at fixed points of a release (webhook.go); a
	// 2xx answer passes, anything else holds or rolls back.
	Webhooks []WebhookSpec `json:"webhooks,omitempty"`
	// Strategy chooses how releases move traffic (bluegreen.go); unset,
	// they follow Steps.
	Strategy *StrategySpec `json:"strategy,omitempty"`
	// Rollback says how fast a failed release sends traffic back: instant
	// (default) or gradual (rollback.go).
	Rollback *RollbackSpec `json:"rollback,omitempty"`
}

// Duration is a time.Duration that reads and writes as "30s", "5m", "1h".
type Duration time.Duration

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"30s\": %w", err)
	}
	return d.UnmarshalText([]byte(s))
}

// UnmarshalText reads a Go duration string such as "1m30s".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (want e.g. \"30s\", \"5m\")", string(b))
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: must not be negative", string(b))
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(time.Duration(d).String()), nil
}

// D returns the standard library duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Position is where a value was found in a source file.
type Position struct {
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

// String renders file:line:col, omitting unknown parts (file:line when
// only the line is known, as for some syntax errors).
func (p Position) String() string {
	file := p.File
	if file == "" {
		file = "<input>"
	}
	if p.Line == 0 {
		return file
	}
	if p.Column == 0 {
		return fmt.Sprintf("%s:%d", file, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", file, p.Line, p.Column)
}

// Document is one decoded document. Exactly one of the typed fields is set,
// matching Kind.
type Document struct {
	Kind Kind   `json:"kind"`
	Name string `json:"name"`

	Service       *Service       `json:"service,omitempty"`
	ReleasePolicy *ReleasePolicy `json:"releasePolicy,omitempty"`
	Release       *Release       `json:"release,omitempty"`
	ReleaseTrain  *ReleaseTrain  `json:"releaseTrain,omitempty"`
	Notifier      *Notifier      `json:"notifier,omitempty"`

	// Pos is where the document starts; Fields maps field paths (as used
	// in error messages, e.g. "spec.versions[1].weight") to positions so
	// that later checks can point at the right place. Neither is
	// replicated.
	Pos    Position            `json:"-"`
	Fields map[string]Position `json:"-"`
}

// FieldPos returns the position of a field path, falling back to the
// closest known parent and then to the document itself.
func (d *Document) FieldPos(path string) Position {
	for p := path; p != ""; p = parentPath(p) {
		if pos, ok := d.Fields[p]; ok {
			return pos
		}
	}
	return d.Pos
}

// parentPath strips the last element of a field path: "a.b[2].c" -> "a.b[2]"
// -> "a.b" -> "a" -> "".
func parentPath(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		switch p[i] {
		case '.':
			return p[:i]
		case '[':
			return p[:i]
		}
	}
	return ""
}
