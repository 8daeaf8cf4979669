package config

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
)

// Discovery is where a version's endpoints come from when they are not
// listed by hand: exactly one source (a DNS name or a watched file), and
// optionally an active health check of every endpoint found. The leader
// resolves the source and records what it found in the replicated state
// (state.EndpointSet); translation reads that record, never the source.
type Discovery struct {
	// DNS resolves a name to its A and AAAA records.
	DNS *DNSDiscovery `json:"dns,omitempty"`
	// File reads a list of targets in the Prometheus file_sd shape.
	File *FileDiscovery `json:"file,omitempty"`
	// HealthCheck probes every endpoint found; without it an endpoint is
	// healthy unless its source says otherwise.
	HealthCheck *EndpointHealthCheck `json:"healthCheck,omitempty"`
}

// DNSDiscovery resolves a name. It is resolved again when the answer's TTL
// runs out, but never sooner than MinInterval nor later than MaxInterval.
type DNSDiscovery struct {
	// Name is the DNS name, e.g. greeter-v2.internal.
	Name string `json:"name"`
	// Port is the port of every address the name resolves to.
	Port uint32 `json:"port"`
	// Region and Zone are the locality of every address found.
	Region string `json:"region,omitempty"`
	Zone   string `json:"zone,omitempty"`
	// MinInterval and MaxInterval bound the time between two lookups
	// (defaults DefaultDNSMinInterval, DefaultDNSMaxInterval).
	MinInterval Duration `json:"minInterval,omitempty"`
	MaxInterval Duration `json:"maxInterval,omitempty"`
}

// FileDiscovery watches a file of targets: a JSON or YAML list of
// {targets: ["host:port", ...], labels: {region, zone, health}} groups,
// as Prometheus file_sd reads. The file must exist on every node: any
// node may become the leader that reads it.
type FileDiscovery struct {
	// Path is the file's absolute path.
	Path string `json:"path"`
	// Interval is how often the file is looked at for a change
	// (default DefaultFileInterval).
	Interval Duration `json:"interval,omitempty"`
}

// EndpointHealthCheck probes every discovered endpoint, TCP or HTTP.
type EndpointHealthCheck struct {
	// TCP passes when a connection to the port opens.
	TCP *TCPHealthCheck `json:"tcp,omitempty"`
	// HTTP passes when GET path answers the expected status.
	HTTP *HTTPProbe `json:"http,omitempty"`
	// Interval is the time between two probes of one endpoint and
	// Timeout bounds one probe (defaults DefaultHealthInterval,
	// DefaultHealthTimeout).
	Interval Duration `json:"interval,omitempty"`
	Timeout  Duration `json:"timeout,omitempty"`
	// HealthyThreshold and UnhealthyThreshold are how many probes in a
	// row change an endpoint's health (default DefaultHealthThreshold).
	HealthyThreshold   uint32 `json:"healthyThreshold,omitempty" max:"100"`
	UnhealthyThreshold uint32 `json:"unhealthyThreshold,omitempty" max:"100"`
}

// TCPHealthCheck is a TCP connect probe.
type TCPHealthCheck struct {
	// Port overrides the endpoint's port.
	Port uint32 `json:"port,omitempty"`
}

// Source names where a discovery's endpoints come from: "dns:name:port"
// or "file:path". A recorded observation is used only while the version
// still names the same source.
func (d *Discovery) Source() string {
	switch {
	case d == nil:
		return ""
	case d.DNS != nil:
		return "dns:" + net.JoinHostPort(strings.ToLower(strings.TrimSuffix(d.DNS.Name, ".")), strconv.FormatUint(uint64(d.DNS.Port), 10))
	case d.File != nil:
		return "file:" + d.File.Path
	}
	return ""
}

// CheckEndpointAddress applies the rule of a listed endpoint's address
// to a discovered one: an IP address and a port in 1-65535. It returns
// the address in its normal form.
func CheckEndpointAddress(addr string) (string, error) {
	norm, msg := checkAddress(addr)
	if msg != "" {
		return "", addressError(msg)
	}
	return norm, nil
}

// addressError is a refused address; it matches ErrInvalid.
type addressError string

func (e addressError) Error() string { return string(e) }

// Is makes the error match ErrInvalid.
func (e addressError) Is(target error) bool { return target == ErrInvalid }

// maxDNSName is the longest DNS name (RFC 1035).
const maxDNSName = 253

func checkDiscovery(r *reporter, vpath string, v *Version) {
	path := vpath + ".discovery"
	d := v.Discovery
	if len(v.Endpoints) > 0 {
		r.addf(vpath+".endpoints", "a version lists endpoints or names a discovery source, not both")
	}
	switch {
	case d.DNS == nil && d.File == nil:
		r.addf(path, "names no source: set dns or file")
	case d.DNS != nil && d.File != nil:
		r.addf(path+".file", "a version has one discovery source: dns or file, not both")
	case d.DNS != nil:
		checkDNSDiscovery(r, path+".dns", d.DNS)
	default:
		checkFileDiscovery(r, path+".file", d.File)
	}
	if d.HealthCheck != nil {
		checkEndpointHealthCheck(r, path+".healthCheck", d.HealthCheck)
	}
}

func checkDNSDiscovery(r *reporter, path string, d *DNSDiscovery) {
	name := strings.TrimSuffix(d.Name, ".")
	switch {
	case name == "":
		r.addf(path+".name", "required: a DNS name such as greeter-v2.internal")
	case len(name) > maxDNSName:
		r.addf(path+".name", "is %d characters long, at most %d are allowed", len(name), maxDNSName)
	case !validDNSName(name):
		r.addf(path+".name", "invalid DNS name %q: dot-separated labels of letters, digits and '-' (an IP address goes in endpoints)", d.Name)
	}
	if d.Port < 1 || d.Port > maxPort {
		r.addf(path+".port", "required: 1-%d, got %d", maxPort, d.Port)
	}
	if d.MinInterval != 0 && d.MinInterval.D() < MinDNSInterval {
		r.addf(path+".minInterval", "must be at least %s when set, got %s", MinDNSInterval, d.MinInterval.D())
	}
	if d.MaxInterval != 0 && d.MaxInterval.D() < d.ResolveBounds().Min {
		r.addf(path+".maxInterval", "must be at least minInterval (%s), got %s", d.ResolveBounds().Min, d.MaxInterval.D())
	}
}

// validDNSName reports whether every label of name is 1-63 letters, digits
// and '-', not starting or ending with '-', and the name is not an IP
// address.
func validDNSName(name string) bool {
	if net.ParseIP(name) != nil {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > maxNameLen || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c == '-' || c < unicode.MaxASCII && (unicode.IsLetter(c) || unicode.IsDigit(c))) {
				return false
			}
		}
	}
	return true
}

func checkFileDiscovery(r *reporter, path string, f *FileDiscovery) {
	switch {
	case f.Path == "":
		r.addf(path+".path", "required: the absolute path of a JSON or YAML targets file")
	case !filepath.IsAbs(f.Path):
		r.addf(path+".path", "%q is not an absolute path: the file is read by the leader, whatever its working directory", f.Path)
	case strings.ContainsFunc(f.Path, unicode.IsControl):
		r.addf(path+".path", "must not contain control characters")
	}
	if f.Interval != 0 && f.Interval.D() < MinFileInterval {
		r.addf(path+".interval", "must be at least %s when set, got %s", MinFileInterval, f.Interval.D())
	}
}

func checkEndpointHealthCheck(r *reporter, path string, h *EndpointHealthCheck) {
	switch {
	case h.TCP == nil && h.HTTP == nil:
		r.addf(path, "names no probe: set tcp or http")
	case h.TCP != nil && h.HTTP != nil:
		r.addf(path+".http", "a health check is tcp or http, not both")
	}
	if h.TCP != nil && h.TCP.Port > maxPort {
		r.addf(path+".tcp.port", "must be 1-%d, got %d", maxPort, h.TCP.Port)
	}
	if h.HTTP != nil {
		if h.HTTP.Port > maxPort {
			r.addf(path+".http.port", "must be 1-%d, got %d", maxPort, h.HTTP.Port)
		}
		if h.HTTP.Path != "" && !strings.HasPrefix(h.HTTP.Path, "/") {
			r.addf(path+".http.path", "must start with /, got %q", h.HTTP.Path)
		}
		if s := h.HTTP.ExpectStatus; s != 0 && (s < 100 || s > 599) {
			r.addf(path+".http.expectStatus", "must be an HTTP status 100-599, got %d", s)
		}
	}
	if h.Interval != 0 && h.Interval.D() < MinHealthInterval {
		r.addf(path+".interval", "must be at least %s when set, got %s", MinHealthInterval, h.Interval.D())
	}
	if h.Timeout != 0 && h.Timeout.D() < MinHealthTimeout {
		r.addf(path+".timeout", "must be at least %s when set, got %s", MinHealthTimeout, h.Timeout.D())
	}
	if p := h.Probing(); p.Timeout > p.Interval {
		r.addf(path+".timeout", "must not be longer than the interval (%s), got %s", p.Interval, p.Timeout)
	}
}
