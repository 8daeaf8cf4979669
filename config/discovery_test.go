package config

import (
	"strings"
	"testing"
	"time"
)

func discoveryService(version string) string {
	return `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: greeter}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: "10.0.0.1:80"}]}
` + version
}

func TestDiscoveryParses(t *testing.T) {
	docs, err := Parse("f.yaml", []byte(discoveryService(`    - name: v2
      discovery:
        dns: {name: greeter-v2.internal, port: 8080, region: eu, minInterval: 2s}
        healthCheck: {tcp: {}, interval: 1s, timeout: 500ms, unhealthyThreshold: 3}
    - name: v3
      discovery:
        file: {path: /etc/sluice/greeter-v3.json}
        healthCheck: {http: {path: /healthz, port: 9901}}
`)))
	if err != nil {
		t.Fatal(err)
	}
	v2 := docs[0].Service.Spec.Versions[1].Discovery
	if got := v2.Source(); got != "dns:greeter-v2.internal:8080" {
		t.Errorf("source = %q", got)
	}
	if b := v2.DNS.ResolveBounds(); b.Min != 2*time.Second || b.Max != DefaultDNSMaxInterval {
		t.Errorf("bounds = %+v", b)
	}
	p := v2.HealthCheck.Probing()
	if p != (Probing{Interval: time.Second, Timeout: 500 * time.Millisecond, HealthyThreshold: DefaultHealthThreshold, UnhealthyThreshold: 3}) {
		t.Errorf("probing = %+v", p)
	}
	v3 := docs[0].Service.Spec.Versions[2].Discovery
	if got := v3.Source(); got != "file:/etc/sluice/greeter-v3.json" {
		t.Errorf("source = %q", got)
	}
	if v3.File.PollInterval() != DefaultFileInterval {
		t.Errorf("poll interval = %s", v3.File.PollInterval())
	}
}

func TestDiscoveryRulesSayWhere(t *testing.T) {
	for _, tc := range []struct{ version, want string }{
		{`    - name: v2
      endpoints: [{address: "10.0.0.2:80"}]
      discovery: {dns: {name: a.internal, port: 80}}
`, `f.yaml:9:7: Service "greeter": spec.versions[1].endpoints: a version lists endpoints or names a discovery source, not both`},
		{`    - name: v2
      discovery: {healthCheck: {tcp: {}}}
`, `f.yaml:9:7: Service "greeter": spec.versions[1].discovery: names no source: set dns or file`},
		{`    - name: v2
      discovery: {dns: {name: a.internal, port: 80}, file: {path: /x.json}}
`, `f.yaml:9:54: Service "greeter": spec.versions[1].discovery.file: a version has one discovery source`},
		{`    - name: v2
      discovery: {dns: {name: "10.0.0.2", port: 80}}
`, `f.yaml:9:31: Service "greeter": spec.versions[1].discovery.dns.name: invalid DNS name "10.0.0.2"`},
		{`    - name: v2
      discovery: {dns: {name: a.internal}}
`, `spec.versions[1].discovery.dns.port: required: 1-65535, got 0`},
		{`    - name: v2
      discovery: {dns: {name: a.internal, port: 80, minInterval: 100ms}}
`, `spec.versions[1].discovery.dns.minInterval: must be at least 1s when set, got 100ms`},
		{`    - name: v2
      discovery: {dns: {name: a.internal, port: 80, minInterval: 1m, maxInterval: 30s}}
`, `spec.versions[1].discovery.dns.maxInterval: must be at least minInterval (1m0s), got 30s`},
		{`    - name: v2
      discovery: {file: {path: targets.json}}
`, `f.yaml:9:32: Service "greeter": spec.versions[1].discovery.file.path: "targets.json" is not an absolute path`},
		{`    - name: v2
      discovery: {file: {path: /t.json}, healthCheck: {interval: 1s}}
`, `spec.versions[1].discovery.healthCheck: names no probe: set tcp or http`},
		{`    - name: v2
      discovery: {file: {path: /t.json}, healthCheck: {tcp: {}, interval: 1s, timeout: 2s}}
`, `spec.versions[1].discovery.healthCheck.timeout: must not be longer than the interval (1s), got 2s`},
		{`    - name: v2
      discovery: {file: {path: /t.json}, healthCheck: {tcp: {}, unhealthyThreshold: 1000}}
`, `spec.versions[1].discovery.healthCheck.unhealthyThreshold: must be at most 100, got 1000`},
		{`    - name: v2
      discovery: {file: {path: /t.json}, healthCheck: {tcp: {port: 70000}}}
`, `spec.versions[1].discovery.healthCheck.tcp.port: must be 1-65535, got 70000`},
		{`    - name: v2
      discovery: {dns: {name: a.internal, port: 80, nmae: x}}
`, `unknown field "nmae"`},
	} {
		_, err := Parse("f.yaml", []byte(discoveryService(tc.version)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v\nwant %q", tc.version, err, tc.want)
		}
	}
}

func TestDiscoveryRoundTrips(t *testing.T) {
	src := discoveryService(`    - name: v2
      discovery:
        dns: {name: greeter-v2.internal, port: 8080, minInterval: 2s}
        healthCheck: {tcp: {}, interval: 1s}
`)
	docs, err := Parse("f.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	out, err := EncodeYAML(docs[0].Service)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("out.yaml", out)
	if err != nil {
		t.Fatalf("re-parse:\n%s\n%v", out, err)
	}
	d := again[0].Service.Spec.Versions[1].Discovery
	if d.HealthCheck == nil || d.HealthCheck.TCP == nil || d.DNS.MinInterval.D() != 2*time.Second {
		t.Errorf("round trip lost fields:\n%s", out)
	}
	if strings.Contains(string(out), "endpoints: null") || strings.Count(string(out), "endpoints:") != 1 {
		t.Errorf("a discovered version has no endpoints field:\n%s", out)
	}
}
