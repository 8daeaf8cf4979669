package config

import (
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Name rules.
var (
	// dnsLabel is the rule for metadata.name (RFC 1123 label).
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// versionName is the rule for spec.versions[].name.
	versionName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
)

// maxNameLen is the longest metadata.name accepted (a DNS label).
const maxNameLen = 63

// maxPort is the highest TCP port.
const maxPort = 65535

// reporter collects rule violations for one document, placing each at the
// document's recorded position for the field (when it came from a file).
type reporter struct {
	doc  *Document
	errs Errors
	// skip holds paths whose values already failed to decode.
	skip map[string]bool
	// dropped counts problems beyond maxStoredErrors, not kept.
	dropped int
}

func (r *reporter) addf(path, format string, args ...any) {
	for p := path; p != ""; p = parentPath(p) {
		if r.skip[p] {
			return
		}
	}
	kind := r.doc.Kind
	if !isKnownKind(kind) {
		kind = "" // do not label the message with a kind that is itself wrong
	}
	if len(r.errs) >= maxStoredErrors {
		r.dropped++
		return
	}
	r.errs = append(r.errs, newFieldError(r.doc.FieldPos(path), kind, r.doc.Name, path, fmt.Sprintf(format, args...)))
}

// result returns the problems found, the last entry counting those not
// kept.
func (r *reporter) result() Errors {
	if r.dropped > 0 {
		r.errs = append(r.errs, FieldError{Message: omittedMessage, Omitted: r.dropped})
	}
	return r.errs
}

// knownKinds renders Kinds for messages: "Service, ReleasePolicy".
func knownKinds() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

func isKnownKind(k Kind) bool {
	for _, known := range Kinds {
		if k == known {
			return true
		}
	}
	return false
}

// checkHeader applies the rules for apiVersion, kind and metadata.name.
func checkHeader(r *reporter, apiVersion string, kind Kind, name string) {
	switch {
	case apiVersion == "":
		r.addf("apiVersion", "required: must be %q", APIVersion)
	case apiVersion != APIVersion:
		r.addf("apiVersion", "unsupported apiVersion %q: must be %q", apiVersion, APIVersion)
	}
	switch {
	case kind == "":
		r.addf("kind", "required: one of %s", knownKinds())
	case !isKnownKind(kind):
		r.addf("kind", "unknown kind %q: known kinds are %s", kind, knownKinds())
	}
	checkName(r, "metadata.name", name)
}

func checkName(r *reporter, path, name string) {
	switch {
	case name == "":
		r.addf(path, "required")
	case len(name) > maxNameLen:
		r.addf(path, "%q is %d characters long, at most %d are allowed", name, len(name), maxNameLen)
	case !dnsLabel.MatchString(name):
		r.addf(path, "invalid name %q: use lowercase letters, digits and '-', starting and ending with a letter or digit", name)
	}
}

// validateDocument applies every rule that needs only the document itself:
// the header, the consistency of Kind and Name with the body, and the field
// rules of the body. Parse and Check both run it. skip lists field paths
// that are not to be reported again (they failed to decode).
func validateDocument(d *Document, skip map[string]bool) Errors {
	r := &reporter{doc: d, skip: skip}
	bodies := 0
	for _, set := range []bool{d.Service != nil, d.ReleasePolicy != nil, d.Release != nil, d.ReleaseTrain != nil, d.Notifier != nil} {
		if set {
			bodies++
		}
	}
	switch {
	case bodies > 1:
		r.addf("", "document has more than one body (Service, ReleasePolicy, Release, ReleaseTrain, Notifier)")
	case d.Notifier != nil:
		n := d.Notifier
		checkHeader(r, n.APIVersion, n.Kind, n.Metadata.Name)
		checkBody(r, d, KindNotifier, n.Kind, n.Metadata.Name)
		checkNotifier(r, n)
	case d.ReleaseTrain != nil:
		tr := d.ReleaseTrain
		checkHeader(r, tr.APIVersion, tr.Kind, tr.Metadata.Name)
		checkBody(r, d, KindReleaseTrain, tr.Kind, tr.Metadata.Name)
		checkTrain(r, tr)
	case d.Release != nil:
		rel := d.Release
		checkHeader(r, rel.APIVersion, rel.Kind, rel.Metadata.Name)
		checkBody(r, d, KindRelease, rel.Kind, rel.Metadata.Name)
		checkRelease(r, rel)
	case d.Service != nil:
		s := d.Service
		checkHeader(r, s.APIVersion, s.Kind, s.Metadata.Name)
		checkBody(r, d, KindService, s.Kind, s.Metadata.Name)
		checkService(r, s)
	case d.ReleasePolicy != nil:
		p := d.ReleasePolicy
		checkHeader(r, p.APIVersion, p.Kind, p.Metadata.Name)
		checkBody(r, d, KindReleasePolicy, p.Kind, p.Metadata.Name)
		checkPolicy(r, p)
	default:
		if isKnownKind(d.Kind) {
			r.addf("", "document has no %s body", d.Kind)
		} else {
			checkHeader(r, APIVersion, d.Kind, d.Name)
		}
	}
	if bodies == 1 {
		for _, body := range []any{d.Service, d.ReleasePolicy, d.Release, d.ReleaseTrain, d.Notifier} {
			if v := reflect.ValueOf(body); !v.IsNil() {
				checkMaxima(r, v, "")
			}
		}
	}
	return r.result()
}

// checkBody makes sure Document.Kind and Document.Name agree with the body,
// which matters for documents that did not come from Parse.
func checkBody(r *reporter, d *Document, bodyKind, kind Kind, name string) {
	if kind == bodyKind && d.Kind != bodyKind {
		r.addf("kind", "document kind %q does not match its %s body", d.Kind, bodyKind)
	}
	if kind != "" && kind != bodyKind && isKnownKind(kind) {
		r.addf("kind", "kind %q does not match its %s body", kind, bodyKind)
	}
	if d.Name != name {
		r.addf("metadata.name", "document name %q does not match metadata.name %q", d.Name, name)
	}
}

func checkService(r *reporter, s *Service) {
	spec := &s.Spec
	switch spec.Protocol {
	case ProtocolHTTP, ProtocolGRPC:
	case "":
		r.addf("spec.protocol", "required: %q or %q", ProtocolHTTP, ProtocolGRPC)
	default:
		r.addf("spec.protocol", "must be %q or %q, got %q", ProtocolHTTP, ProtocolGRPC, spec.Protocol)
	}
	switch {
	case spec.Port > maxPort:
		r.addf("spec.port", "must be 1-%d, got %d", maxPort, spec.Port)
	case spec.Port == 0 && spec.Protocol == ProtocolHTTP:
		r.addf("spec.port", "required for http services (1-%d)", maxPort)
	}
	checkDomains(r, spec.Domains)
	checkVersions(r, spec.Versions)
	checkWeights(r, spec.Versions)
	checkDeclaredVersion(r, spec)
	checkChangeAnnotations(r, s.Metadata.Annotations)
	seen := map[string]int{}
	for i, dep := range spec.DependsOn {
		path := fmt.Sprintf("spec.dependsOn[%d]", i)
		switch first, dup := seen[dep]; {
		case dep == "":
			r.addf(path, "must not be empty")
		case dep == s.Metadata.Name:
			r.addf(path, "a service cannot depend on itself")
		case dup:
			r.addf(path, "duplicate dependency %q (also spec.dependsOn[%d])", dep, first)
		default:
			seen[dep] = i
		}
	}
}

func checkDomains(r *reporter, domains []string) {
	seen := map[string]int{}
	for i, dom := range domains {
		path := fmt.Sprintf("spec.domains[%d]", i)
		key := strings.ToLower(dom)
		switch first, dup := seen[key]; {
		case dom == "":
			r.addf(path, "must not be empty")
		case strings.ContainsFunc(dom, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }):
			r.addf(path, "domain %q must not contain spaces or control characters", dom)
		case dup:
			r.addf(path, "duplicate domain %q (also spec.domains[%d])", dom, first)
		default:
			seen[key] = i
		}
	}
}

func checkVersions(r *reporter, versions []Version) {
	if len(versions) == 0 {
		r.addf("spec.versions", "at least one version is required")
		return
	}
	names := map[string]int{}
	for i, v := range versions {
		vpath := fmt.Sprintf("spec.versions[%d]", i)
		switch first, dup := names[v.Name]; {
		case v.Name == "":
			r.addf(vpath+".name", "required")
		case !versionName.MatchString(v.Name):
			r.addf(vpath+".name", "invalid version name %q: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit", v.Name)
		case dup:
			r.addf(vpath+".name", "duplicate version name %q (also spec.versions[%d])", v.Name, first)
		default:
			names[v.Name] = i
		}
		if v.Discovery != nil {
			checkDiscovery(r, vpath, &v)
			continue
		}
		if len(v.Endpoints) == 0 {
			r.addf(vpath+".endpoints", "at least one endpoint is required")
		}
		addrs := map[string]int{}
		for j, ep := range v.Endpoints {
			apath := fmt.Sprintf("%s.endpoints[%d].address", vpath, j)
			norm, msg := checkAddress(ep.Address)
			if msg != "" {
				r.addf(apath, "%s", msg)
				continue
			}
			if first, dup := addrs[norm]; dup {
				r.addf(apath, "duplicate address %q (also %s.endpoints[%d])", ep.Address, vpath, first)
				continue
			}
			addrs[norm] = j
		}
	}
}

// checkAddress validates an endpoint address and returns its normal form
// (for duplicate detection) or a problem.
func checkAddress(addr string) (string, string) {
	if addr == "" {
		return "", "required (host:port)"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Sprintf("invalid address %q: want host:port, e.g. \"10.0.0.1:8080\" or \"[2001:db8::1]:8080\"", addr)
	}
	if host == "" {
		return "", fmt.Sprintf("invalid address %q: the host is missing", addr)
	}
	if strings.ContainsFunc(host, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) {
		return "", fmt.Sprintf("invalid address %q: the host must not contain spaces or control characters", addr)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return "", fmt.Sprintf("invalid address %q: the host must be an IP address (Envoy's EDS does not resolve names), e.g. \"10.0.0.1:8080\"", addr)
	}
	host = ip.String()
	p, err := strconv.ParseUint(port, 10, 32)
	if err != nil || p < 1 || p > maxPort {
		return "", fmt.Sprintf("invalid address %q: the port must be 1-%d", addr, maxPort)
	}
	return net.JoinHostPort(strings.ToLower(host), strconv.FormatUint(p, 10)), ""
}

func checkWeights(r *reporter, versions []Version) {
	set := 0
	for _, v := range versions {
		if v.Weight != nil {
			set++
		}
	}
	if set == 0 {
		return
	}
	if set < len(versions) {
		for i, v := range versions {
			if v.Weight == nil {
				r.addf(fmt.Sprintf("spec.versions[%d].weight", i),
					"required because other versions set a weight (set a weight on every version or on none)")
			}
		}
		return
	}
	var sum uint64
	parts := make([]string, len(versions))
	inRange := true
	for i, v := range versions {
		w := *v.Weight
		if w > TotalWeight {
			r.addf(fmt.Sprintf("spec.versions[%d].weight", i), "must be 0-%d, got %d", TotalWeight, w)
			inRange = false
		}
		sum += uint64(w)
		parts[i] = fmt.Sprintf("%s=%d", v.Name, w)
	}
	for i := range versions {
		if r.skip[fmt.Sprintf("spec.versions[%d].weight", i)] {
			inRange = false // a weight that did not decode says nothing of the sum
		}
	}
	if inRange && sum != TotalWeight {
		r.addf("spec.versions", "weights must sum to %d, got %d (%s)", TotalWeight, sum, strings.Join(parts, ", "))
	}
}

func checkPolicy(r *reporter, p *ReleasePolicy) {
	if len(p.Spec.Services) == 0 {
		r.addf("spec.services", "at least one service is required")
	}
	seen := map[string]int{}
	for i, svc := range p.Spec.Services {
		path := fmt.Sprintf("spec.services[%d]", i)
		switch first, dup := seen[svc]; {
		case svc == "":
			r.addf(path, "must not be empty")
		case dup:
			r.addf(path, "duplicate service %q (also spec.services[%d])", svc, first)
		default:
			seen[svc] = i
		}
	}
	checkPolicyAnalysis(r, &p.Spec)
	checkSchedule(r, p.Spec.Schedule)
	checkWebhooks(r, p.Spec.Webhooks)
}

func checkRelease(r *reporter, rel *Release) {
	spec := &rel.Spec
	if spec.Service == "" {
		r.addf("spec.service", "required: the service to release")
	}
	if spec.To == "" {
		r.addf("spec.to", "required: the version to release")
	}
	if spec.From != "" && spec.From == spec.To {
		r.addf("spec.to", "must differ from spec.from (%q)", spec.From)
	}
	seen := map[string]int{}
	for i, g := range spec.Gates {
		path := fmt.Sprintf("spec.gates[%d].name", i)
		switch first, dup := seen[g.Name]; {
		case g.Name == "":
			r.addf(path, "required")
		case dup:
			r.addf(path, "duplicate gate %q (also spec.gates[%d])", g.Name, first)
		default:
			seen[g.Name] = i
		}
	}
	if c := spec.Change; c != nil {
		for _, f := range []struct {
			path string
			v    *int
		}{
			{"spec.change.linesAdded", c.LinesAdded}, {"spec.change.linesDeleted", c.LinesDeleted},
			{"spec.change.files", c.Files}, {"spec.change.directories", c.Directories},
			{"spec.change.subsystems", c.Subsystems}, {"spec.change.authorExperience", c.AuthorExperience},
		} {
			if f.v != nil && *f.v < 0 {
				r.addf(f.path, "must not be negative, got %d", *f.v)
			}
		}
		if c.Entropy != nil && (*c.Entropy < 0 || *c.Entropy != *c.Entropy) {
			r.addf("spec.change.entropy", "must be a non-negative number")
		}
		if c.FilesAge != nil && (*c.FilesAge < 0 || *c.FilesAge != *c.FilesAge) {
			r.addf("spec.change.filesAge", "must be a non-negative number of days")
		}
	}
}
