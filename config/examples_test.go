package config

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestExamples: the files in examples/ parse and check cleanly, applied
// together or one after the other.
func TestExamples(t *testing.T) {
	read := func(file string) []Document {
		src, err := os.ReadFile(file)
		require.NoError(t, err)
		docs, err := Parse(file, src)
		require.NoError(t, err)
		return docs
	}
	services := read("../examples/services.yaml")
	policies := read("../examples/policy.yaml")
	require.Len(t, services, 2)
	require.Len(t, policies, 1)

	empty := newCatalog(t, "")
	require.NoError(t, Check(append(append([]Document{}, services...), policies...), empty))
	require.NoError(t, Check(services, empty))
	// The policy alone needs the services to exist.
	require.ErrorIs(t, Check(policies, empty), ErrInvalid)

	applied := &fakeCatalog{services: map[string]*Service{}, policies: map[string]*ReleasePolicy{}}
	for _, d := range services {
		applied.services[d.Name] = d.Service
	}
	require.NoError(t, Check(policies, applied))
	// Re-applying everything on top of itself is fine.
	require.NoError(t, Check(services, applied))

	// What the examples promise.
	web, greeter := services[0].Service, services[1].Service
	require.Equal(t, ProtocolHTTP, web.Spec.Protocol)
	require.Equal(t, ProtocolGRPC, greeter.Spec.Protocol)
	for _, s := range []*Service{web, greeter} {
		require.Len(t, s.Spec.Versions, 2)
		for _, v := range s.Spec.Versions {
			regions := map[string]bool{}
			for _, ep := range v.Endpoints {
				regions[ep.Region] = true
			}
			require.Len(t, regions, 2, "%s %s", s.Metadata.Name, v.Name)
		}
	}
}

// TestReferenceExamples: the YAML and JSON examples in
// docs/config-reference.md parse, and the YAML ones check cleanly together.
func TestReferenceExamples(t *testing.T) {
	src, err := os.ReadFile("../docs/config-reference.md")
	require.NoError(t, err)
	var yamlDocs []Document
	blocks := 0
	lines := strings.Split(string(src), "\n")
	for i := 0; i < len(lines); i++ {
		lang, ok := strings.CutPrefix(lines[i], "```")
		if !ok || (lang != "yaml" && lang != "json") {
			continue
		}
		start := i + 1
		for i++; i < len(lines) && lines[i] != "```"; i++ {
		}
		block := strings.Join(lines[start:i], "\n")
		docs, err := Parse(fmt.Sprintf("config-reference.md:%d", start), []byte(block))
		require.NoError(t, err, "block at line %d", start)
		blocks++
		if lang == "yaml" {
			yamlDocs = append(yamlDocs, docs...)
		} else {
			require.NoError(t, Check(docs, newCatalog(t, "")))
		}
	}
	require.Equal(t, 6, blocks)
	require.Len(t, yamlDocs, 6)
	require.NoError(t, Check(yamlDocs, newCatalog(t, "")))
}
