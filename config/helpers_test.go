package config

import (
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeCatalog is an in-memory Catalog.
type fakeCatalog struct {
	services map[string]*Service
	policies map[string]*ReleasePolicy
	releases map[string]*Release
	active   map[string]string // service -> release
}

func newCatalog(t *testing.T, yamlDocs string) *fakeCatalog {
	t.Helper()
	c := &fakeCatalog{services: map[string]*Service{}, policies: map[string]*ReleasePolicy{},
		releases: map[string]*Release{}, active: map[string]string{}}
	if strings.TrimSpace(yamlDocs) == "" {
		return c
	}
	docs, err := Parse("catalog.yaml", []byte(yamlDocs))
	require.NoError(t, err)
	for _, d := range docs {
		switch d.Kind {
		case KindService:
			c.services[d.Name] = d.Service
		case KindReleasePolicy:
			c.policies[d.Name] = d.ReleasePolicy
		case KindRelease:
			c.releases[d.Name] = d.Release
			c.active[d.Release.Spec.Service] = d.Name
		}
	}
	return c
}

func (c *fakeCatalog) Release(name string) (*Release, bool) {
	r, ok := c.releases[name]
	return r, ok
}

func (c *fakeCatalog) ReleaseTrain(name string) (*ReleaseTrain, bool) { return nil, false }

func (c *fakeCatalog) ActiveRelease(service string) (string, bool) {
	r, ok := c.active[service]
	return r, ok
}

func (c *fakeCatalog) Service(name string) (*Service, bool) {
	s, ok := c.services[name]
	return s, ok
}

func (c *fakeCatalog) ReleasePolicy(name string) (*ReleasePolicy, bool) {
	p, ok := c.policies[name]
	return p, ok
}

func (c *fakeCatalog) ServiceNames() []string { return sortedNames(c.services) }

func (c *fakeCatalog) ReleasePolicyNames() []string { return sortedNames(c.policies) }

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// errorLines splits a multi-problem error into its lines.
func errorLines(t *testing.T, err error) []string {
	t.Helper()
	require.Error(t, err)
	return strings.Split(err.Error(), "\n")
}

// svcYAML is a valid http service; tests derive bad variants from it.
// Line numbers are part of the tests that use it.
const svcYAML = `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata:
  name: web
spec:
  protocol: http
  port: 8080
  domains:
    - web.example.com
  versions:
    - name: v1
      endpoints:
        - address: 10.0.0.1:80
          region: eu
    - name: v2
      endpoints:
        - address: 10.0.0.2:80
          region: us
`

// svc returns a minimal valid service document as YAML.
func svc(name, protocol string, port int, extra string) string {
	s := "apiVersion: sluice.dev/v1alpha1\nkind: Service\nmetadata:\n  name: " + name +
		"\nspec:\n  protocol: " + protocol + "\n"
	if port != 0 {
		s += "  port: " + strconv.Itoa(port) + "\n"
	}
	s += "  versions:\n    - name: v1\n      endpoints:\n        - address: 10.0.0.1:80\n"
	return s + extra
}

func policy(name string, services ...string) string {
	return "apiVersion: sluice.dev/v1alpha1\nkind: ReleasePolicy\nmetadata:\n  name: " + name +
		"\nspec:\n  services: [" + strings.Join(services, ", ") + "]\n"
}

// join makes a multi-document YAML stream.
func join(docs ...string) string { return strings.Join(docs, "---\n") }
