package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Catalog is the read-only view of already-applied objects that
// cross-document checks need. state.State implements it.
type Catalog interface {
	Service(name string) (*Service, bool)
	ReleasePolicy(name string) (*ReleasePolicy, bool)
	// ServiceNames and ReleasePolicyNames are sorted.
	ServiceNames() []string
	ReleasePolicyNames() []string
	// Release returns a release by name (active or finished).
	Release(name string) (*Release, bool)
	// ActiveRelease names the release currently running for a service.
	ActiveRelease(service string) (string, bool)
	// ReleaseTrain returns a train by name (active or finished).
	ReleaseTrain(name string) (*ReleaseTrain, bool)
}

// Check validates documents about to be applied together against each
// other and against what is already applied: field rules, duplicate names,
// weights, and references (dependsOn, policy services). It returns Errors
// (matching ErrInvalid) or nil.
//
// It is deterministic (it runs inside the replicated state machine) and
// works with or without positions: documents from Parse get file:line:col,
// documents from the Raft log are named by kind, name and field.
func Check(docs []Document, cat Catalog) error {
	var errs Errors
	for i := range docs {
		errs = append(errs, validateDocument(&docs[i], nil)...)
	}
	c := newCrossCheck(docs, cat)
	errs = append(errs, c.errs...)
	c.checkDependsOn()
	c.checkTargets()
	c.checkPolicies()
	c.checkPreviewTargets()
	c.checkReleases(docs, cat)
	c.checkTrains(docs, cat)
	errs = append(errs, c.cross...)
	if len(errs) == 0 {
		return nil
	}
	return limitErrors(errs, 0)
}

// svcEntry is a service as it will be after the request: from the request
// (doc set) or already applied and not replaced (doc nil).
type svcEntry struct {
	name string
	svc  *Service
	doc  *Document
}

type policyEntry struct {
	name   string
	policy *ReleasePolicy
	doc    *Document
}

// crossCheck holds the merged view of the catalog with the request applied.
type crossCheck struct {
	// services and policies: catalog objects the request does not replace
	// (sorted by name), then the request's (in request order).
	services []svcEntry
	policies []policyEntry
	svcIndex map[string]int

	errs  Errors // duplicate documents
	cross Errors // reference, cycle and conflict problems
}

func newCrossCheck(docs []Document, cat Catalog) *crossCheck {
	c := &crossCheck{svcIndex: map[string]int{}}
	var reqSvcs []svcEntry
	var reqPols []policyEntry
	first := map[string]int{}
	for i := range docs {
		d := &docs[i]
		key := string(d.Kind) + "/" + d.Name
		if j, dup := first[key]; dup && d.Name != "" {
			c.errs = append(c.errs, docError(d, "metadata.name", "duplicate %s %q in this request (first %s)",
				d.Kind, d.Name, describeDoc(&docs[j], j)))
			continue
		}
		first[key] = i
		switch {
		case d.Kind == KindService && d.Service != nil && d.ReleasePolicy == nil:
			reqSvcs = append(reqSvcs, svcEntry{name: d.Name, svc: d.Service, doc: d})
		case d.Kind == KindReleasePolicy && d.ReleasePolicy != nil && d.Service == nil:
			reqPols = append(reqPols, policyEntry{name: d.Name, policy: d.ReleasePolicy, doc: d})
		}
	}
	inRequest := map[string]bool{}
	for _, e := range reqSvcs {
		inRequest[string(KindService)+"/"+e.name] = true
	}
	for _, e := range reqPols {
		inRequest[string(KindReleasePolicy)+"/"+e.name] = true
	}
	for _, name := range cat.ServiceNames() {
		if inRequest[string(KindService)+"/"+name] {
			continue
		}
		if s, ok := cat.Service(name); ok && s != nil {
			c.services = append(c.services, svcEntry{name: name, svc: s})
		}
	}
	c.services = append(c.services, reqSvcs...)
	for i, e := range c.services {
		c.svcIndex[e.name] = i
	}
	for _, name := range cat.ReleasePolicyNames() {
		if inRequest[string(KindReleasePolicy)+"/"+name] {
			continue
		}
		if p, ok := cat.ReleasePolicy(name); ok && p != nil {
			c.policies = append(c.policies, policyEntry{name: name, policy: p})
		}
	}
	c.policies = append(c.policies, reqPols...)
	return c
}

// docError is a problem in a document of the request.
func docError(d *Document, path, format string, args ...any) FieldError {
	return FieldError{
		Pos:     d.FieldPos(path),
		Kind:    d.Kind,
		Name:    d.Name,
		Field:   path,
		Message: fmt.Sprintf(format, args...),
	}
}

// describeDoc says where document i of a request is: its position when
// known, else its index.
func describeDoc(d *Document, i int) string {
	if d.Pos != (Position{}) {
		return "at " + d.Pos.String()
	}
	return fmt.Sprintf("is document %d", i+1)
}

// where says where an object in the merged view comes from.
func where(d *Document, path string) string {
	if d == nil {
		return "already applied"
	}
	if p := d.FieldPos(path); p != (Position{}) {
		return "at " + p.String()
	}
	return "in this request"
}

func (c *crossCheck) service(name string) (svcEntry, bool) {
	i, ok := c.svcIndex[name]
	if !ok {
		return svcEntry{}, false
	}
	return c.services[i], true
}

// checkDependsOn reports unknown dependencies and dependency cycles that
// the request would create.
func (c *crossCheck) checkDependsOn() {
	reported := map[string]bool{}
	for _, e := range c.services {
		if e.doc == nil {
			continue
		}
		for i, dep := range e.svc.Spec.DependsOn {
			if dep == "" || dep == e.name {
				continue // reported by the field rules
			}
			if _, ok := c.service(dep); !ok {
				c.cross = append(c.cross, docError(e.doc, fmt.Sprintf("spec.dependsOn[%d]", i),
					"unknown service %q (neither in this request nor already applied)", dep))
			}
		}
		cycle := c.cycleThrough(e.name)
		if cycle == nil {
			continue
		}
		key := canonicalCycle(cycle)
		if reported[key] {
			continue
		}
		reported[key] = true
		idx := slices.Index(e.svc.Spec.DependsOn, cycle[1])
		c.cross = append(c.cross, docError(e.doc, fmt.Sprintf("spec.dependsOn[%d]", idx),
			"dependsOn cycle: %s", strings.Join(cycle, " -> ")))
	}
}

// cycleThrough returns a dependency path start -> ... -> start, or nil.
func (c *crossCheck) cycleThrough(start string) []string {
	visited := map[string]bool{}
	var path []string
	var walk func(name string) bool
	walk = func(name string) bool {
		e, ok := c.service(name)
		if !ok {
			return false
		}
		visited[name] = true
		path = append(path, name)
		for _, dep := range e.svc.Spec.DependsOn {
			if dep == name {
				continue // a self-dependency is reported by the field rules
			}
			if dep == start {
				path = append(path, start)
				return true
			}
			if !visited[dep] && walk(dep) {
				return true
			}
		}
		path = path[:len(path)-1]
		return false
	}
	if walk(start) {
		return path
	}
	return nil
}

// canonicalCycle names a cycle independently of where it starts.
func canonicalCycle(cycle []string) string {
	ring := cycle[:len(cycle)-1]
	lo := 0
	for i, n := range ring {
		if n < ring[lo] {
			lo = i
		}
	}
	return strings.Join(append(slices.Clone(ring[lo:]), ring[:lo]...), "\x00")
}

// target is a name clients use to reach a service: an http domain on a
// port, or a gRPC target.
type target struct {
	key, label, path string
}

func serviceTargets(name string, s *Service) []target {
	var ts []target
	// Hosts on a gateway port: the domains, or the service name without
	// them (what the http listener's virtual host answers to). A grpc
	// service with a port is served on that port's gateway listener too.
	gateway := func() {
		if len(s.Spec.Domains) == 0 {
			ts = append(ts, target{
				key:   fmt.Sprintf("http\x00%d\x00%s", s.Spec.Port, strings.ToLower(name)),
				label: fmt.Sprintf("host %q on port %d", name, s.Spec.Port),
				path:  "metadata.name",
			})
		}
		for i, d := range s.Spec.Domains {
			ts = append(ts, target{
				key:   fmt.Sprintf("http\x00%d\x00%s", s.Spec.Port, strings.ToLower(d)),
				label: fmt.Sprintf("domain %q on port %d", d, s.Spec.Port),
				path:  fmt.Sprintf("spec.domains[%d]", i),
			})
		}
	}
	switch s.Spec.Protocol {
	case ProtocolHTTP:
		gateway()
	case ProtocolGRPC:
		if s.Spec.Port != 0 {
			gateway()
		}
		add := func(t, path string) {
			ts = append(ts, target{
				key:   "grpc\x00" + strings.ToLower(t),
				label: fmt.Sprintf("gRPC target %q", t),
				path:  path,
			})
		}
		add(name, "metadata.name")
		for i, d := range s.Spec.Domains {
			add(d, fmt.Sprintf("spec.domains[%d]", i))
		}
		if s.Spec.Port != 0 {
			add(fmt.Sprintf("%s:%d", name, s.Spec.Port), "spec.port")
		}
	}
	return ts
}

// checkTargets reports http domains and gRPC targets that two services
// would share.
func (c *crossCheck) checkTargets() {
	type owner struct {
		name string
		doc  *Document
		path string
	}
	owners := map[string]owner{}
	for _, e := range c.services {
		for _, t := range serviceTargets(e.name, e.svc) {
			o, taken := owners[t.key]
			switch {
			case !taken:
				owners[t.key] = owner{name: e.name, doc: e.doc, path: t.path}
			case o.name == e.name || e.doc == nil:
				// Within one service the field rules report duplicates;
				// conflicts among applied services predate this request.
			default:
				c.cross = append(c.cross, docError(e.doc, t.path, "%s is already used by Service %q (%s)",
					t.label, o.name, where(o.doc, o.path)))
			}
		}
	}
}

// checkPolicies reports policies naming unknown services and services that
// two policies would cover.
func (c *crossCheck) checkPolicies() {
	type owner struct {
		name string
		doc  *Document
		path string
	}
	owners := map[string]owner{}
	for _, e := range c.policies {
		seen := map[string]bool{}
		for i, svc := range e.policy.Spec.Services {
			path := fmt.Sprintf("spec.services[%d]", i)
			if svc == "" || seen[svc] {
				continue // reported by the field rules
			}
			seen[svc] = true
			if e.doc != nil {
				if _, ok := c.service(svc); !ok {
					c.cross = append(c.cross, docError(e.doc, path,
						"unknown service %q (neither in this request nor already applied)", svc))
					continue
				}
			}
			o, taken := owners[svc]
			switch {
			case !taken:
				owners[svc] = owner{name: e.name, doc: e.doc, path: path}
			case e.doc != nil:
				c.cross = append(c.cross, docError(e.doc, path,
					"Service %q is already covered by ReleasePolicy %q (%s); a service may be covered by one policy only",
					svc, o.name, where(o.doc, o.path)))
			}
		}
	}
}

// CheckDelete says whether kind/name may be deleted: it exists and nothing
// that stays refers to it. A missing object is an error matching
// ErrNotFound; an object still referred to is Errors (ErrInvalid) naming
// who refers to it.
func CheckDelete(kind Kind, name string, cat Catalog) error {
	switch kind {
	case KindService:
		if _, ok := cat.Service(name); !ok {
			return fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
		}
		var users []string
		for _, other := range cat.ServiceNames() {
			s, ok := cat.Service(other)
			if !ok || s == nil || other == name {
				continue
			}
			if slices.Contains(s.Spec.DependsOn, name) {
				users = append(users, fmt.Sprintf("Service %q (spec.dependsOn)", other))
			}
		}
		for _, pname := range cat.ReleasePolicyNames() {
			p, ok := cat.ReleasePolicy(pname)
			if ok && p != nil && slices.Contains(p.Spec.Services, name) {
				users = append(users, fmt.Sprintf("ReleasePolicy %q (spec.services)", pname))
			}
		}
		if rel, ok := cat.ActiveRelease(name); ok {
			users = append(users, fmt.Sprintf("active Release %q", rel))
		}
		if len(users) > 0 {
			return Errors{{Kind: kind, Name: name,
				Message: "cannot be deleted: still referred to by " + strings.Join(users, ", ")}}
		}
		return nil
	case KindReleasePolicy:
		if _, ok := cat.ReleasePolicy(name); !ok {
			return fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
		}
		return nil
	case KindRelease:
		if _, ok := cat.Release(name); !ok {
			return fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
		}
		return nil
	case KindReleaseTrain:
		if _, ok := cat.ReleaseTrain(name); !ok {
			return fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
		}
		return nil
	case KindNotifier:
		return nil // nothing refers to a notifier; the state knows whether it exists
	default:
		return Errors{{Field: "kind", Message: fmt.Sprintf("unknown kind %q: known kinds are %s", kind, knownKinds())}}
	}
}

// checkReleases checks new releases against the services they name and the
// releases already running. An existing release may be re-applied
// unchanged; its spec cannot change.
func (c *crossCheck) checkReleases(docs []Document, cat Catalog) {
	activeInRequest := map[string]string{}
	for i := range docs {
		d := &docs[i]
		if d.Kind != KindRelease || d.Release == nil {
			continue
		}
		spec := &d.Release.Spec
		if old, ok := cat.Release(d.Name); ok && old != nil {
			if !reflect.DeepEqual(old.Spec, *spec) {
				c.cross = append(c.cross, docError(d, "spec", "Release %q already exists with a different spec; releases cannot be changed, create a new one", d.Name))
			}
			continue
		}
		if spec.Service == "" {
			continue // reported by the field rules
		}
		e, ok := c.service(spec.Service)
		if !ok {
			c.cross = append(c.cross, docError(d, "spec.service", "unknown service %q (neither in this request nor already applied)", spec.Service))
			continue
		}
		has := func(v string) bool {
			for _, ver := range e.svc.Spec.Versions {
				if ver.Name == v {
					return true
				}
			}
			return false
		}
		names := make([]string, len(e.svc.Spec.Versions))
		for j, ver := range e.svc.Spec.Versions {
			names[j] = ver.Name
		}
		if spec.To != "" && !has(spec.To) {
			c.cross = append(c.cross, docError(d, "spec.to", "Service %q has no version %q (versions: %s)", spec.Service, spec.To, strings.Join(names, ", ")))
		}
		if spec.From != "" && !has(spec.From) {
			c.cross = append(c.cross, docError(d, "spec.from", "Service %q has no version %q (versions: %s)", spec.Service, spec.From, strings.Join(names, ", ")))
		}
		c.checkReleasePolicy(d, "spec", spec.Service, spec.Policy)
		if active, ok := cat.ActiveRelease(spec.Service); ok {
			c.cross = append(c.cross, docError(d, "spec.service", "Service %q already has an active release %q; one release per service at a time (wait for it, or abort it)", spec.Service, active))
		} else if other, ok := activeInRequest[spec.Service]; ok {
			c.cross = append(c.cross, docError(d, "spec.service", "Service %q is already released by Release %q in this request; one release per service at a time", spec.Service, other))
		} else {
			activeInRequest[spec.Service] = d.Name
		}
	}
}

// policyFor finds the policy that will cover a service after the request.
func (c *crossCheck) policyFor(service string) (policyEntry, bool) {
	for _, e := range c.policies {
		for _, svc := range e.policy.Spec.Services {
			if svc == service {
				return e, true
			}
		}
	}
	return policyEntry{}, false
}

// checkReleasePolicy makes sure a release (or train member) will be judged:
// the named policy, or the one covering the service, exists and has an SLO.
func (c *crossCheck) checkReleasePolicy(d *Document, path, service, named string) {
	if named != "" {
		for _, e := range c.policies {
			if e.name == named {
				if e.policy.Spec.SLO == nil {
					c.cross = append(c.cross, docError(d, path+".policy", "ReleasePolicy %q has no slo: a release cannot be judged without one", named))
				}
				return
			}
		}
		c.cross = append(c.cross, docError(d, path+".policy", "unknown ReleasePolicy %q", named))
		return
	}
	p, ok := c.policyFor(service)
	switch {
	case !ok:
		c.cross = append(c.cross, docError(d, path+".service", "Service %q is covered by no ReleasePolicy: a release needs one (with an slo) to be judged", service))
	case p.policy.Spec.SLO == nil:
		c.cross = append(c.cross, docError(d, path+".service", "ReleasePolicy %q covering Service %q has no slo: a release cannot be judged without one", p.name, service))
	}
}

// checkTrains checks new trains against the services they release, the
// releases already running and each other, and orders their members: a
// cycle is reported before anything starts.
func (c *crossCheck) checkTrains(docs []Document, cat Catalog) {
	busy := map[string]string{} // service -> what releases it in this request
	for i := range docs {
		d := &docs[i]
		if d.Kind == KindRelease && d.Release != nil {
			busy[d.Release.Spec.Service] = "Release " + d.Name
		}
	}
	for i := range docs {
		d := &docs[i]
		if d.Kind != KindReleaseTrain || d.ReleaseTrain == nil {
			continue
		}
		spec := &d.ReleaseTrain.Spec
		if old, ok := cat.ReleaseTrain(d.Name); ok && old != nil {
			if !reflect.DeepEqual(old.Spec, *spec) {
				c.cross = append(c.cross, docError(d, "spec", "ReleaseTrain %q already exists with a different spec; trains cannot be changed, create a new one", d.Name))
			}
			continue
		}
		for j, m := range spec.Members {
			path := fmt.Sprintf("spec.members[%d]", j)
			if m.Service == "" {
				continue
			}
			e, ok := c.service(m.Service)
			if !ok {
				c.cross = append(c.cross, docError(d, path+".service", "unknown service %q (neither in this request nor already applied)", m.Service))
				continue
			}
			var names []string
			has := map[string]bool{}
			for _, v := range e.svc.Spec.Versions {
				names = append(names, v.Name)
				has[v.Name] = true
			}
			if m.To != "" && !has[m.To] {
				c.cross = append(c.cross, docError(d, path+".to", "Service %q has no version %q (versions: %s)", m.Service, m.To, strings.Join(names, ", ")))
			}
			if m.From != "" && !has[m.From] {
				c.cross = append(c.cross, docError(d, path+".from", "Service %q has no version %q (versions: %s)", m.Service, m.From, strings.Join(names, ", ")))
			}
			c.checkReleasePolicy(d, path, m.Service, m.Policy)
			if active, ok := cat.ActiveRelease(m.Service); ok {
				c.cross = append(c.cross, docError(d, path+".service", "Service %q already has an active release %q; one release per service at a time", m.Service, active))
			} else if other, ok := busy[m.Service]; ok {
				c.cross = append(c.cross, docError(d, path+".service", "Service %q is also released by %s in this request", m.Service, other))
			} else {
				busy[m.Service] = "ReleaseTrain " + d.Name
			}
		}
		_, err := BuildTrainGraph(spec, func(svc string) []string {
			if e, ok := c.service(svc); ok {
				return e.svc.Spec.DependsOn
			}
			return nil
		})
		if err != nil {
			c.cross = append(c.cross, docError(d, "spec.members", "%v", err))
		}
	}
}
