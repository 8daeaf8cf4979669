package config

import (
	"bytes"
	"encoding/json"
	"fmt"

	yaml "go.yaml.in/yaml/v3"
)

// EncodeYAML renders v as block-style YAML whose keys and field order
// follow the json tags, so the output of a Service or ReleasePolicy can be
// read back with Parse. v goes through encoding/json first, so custom JSON
// marshalers (Duration) and omitempty are honoured.
func EncodeYAML(v any) ([]byte, error) {
	n, err := yamlNode(v)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("encode YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode YAML: %w", err)
	}
	return buf.Bytes(), nil
}

// EncodeYAMLStream renders each value as one document of a YAML stream
// (separated by "---"), suitable for `sluice apply -f`.
func EncodeYAMLStream(vs ...any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	for i, v := range vs {
		n, err := yamlNode(v)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if err := enc.Encode(n); err != nil {
			return nil, fmt.Errorf("encode YAML document %d: %w", i+1, err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode YAML: %w", err)
	}
	return buf.Bytes(), nil
}

// yamlNode converts v to a block-style YAML node via its JSON form.
func yamlNode(v any) (*yaml.Node, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T as JSON: %w", v, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("convert %T from JSON to YAML: %w", v, err)
	}
	n := &doc
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	blockStyle(n)
	return n, nil
}

// blockStyle drops the flow style and quoting JSON came with. Strings keep
// their !!str tag, so the encoder still quotes those that would otherwise
// read back as another type ("8080", "true").
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// EncodeJSON renders v as indented JSON with a trailing newline.
func EncodeJSON(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode %T as JSON: %w", v, err)
	}
	return append(b, '\n'), nil
}
