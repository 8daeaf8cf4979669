package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// ReadTrees reads a YAML stream (or JSON) whose documents are not Sluice's
// own, such as another tool's resources to be converted, into one node
// tree per document, under the same bounds Parse holds Sluice's documents
// to: UTF-8 text without control characters, the same expansion budget
// for aliases (checked before a tree is returned, so that a caller may
// follow its aliases freely), no alias cycles, no merge keys, no custom
// tags and no key given twice in one mapping. A top-level list is read as
// a list of documents; empty documents are skipped. Problems are Errors
// matching ErrInvalid (and ErrSyntax for input that is not well-formed),
// at their line and column.
func ReadTrees(file string, data []byte) ([]*yaml.Node, error) {
	if fe, bad := checkText(file, data); bad {
		return nil, Errors{fe}
	}
	b := newBudget()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var (
		roots []*yaml.Node
		errs  Errors
	)
	for {
		doc, err := nextDocument(dec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, Errors{syntaxError(file, err)}
		}
		b.addDocument(doc)
		for _, n := range documentRoots(doc) {
			room := b.limit() - b.used
			size := b.expandedSize(n, room)
			if size > room {
				return nil, Errors{newFieldError(Position{File: file, Line: n.Line, Column: n.Column}, "", "", "",
					fmt.Sprintf("the input decodes to more than %d values (%d plus %d per value written), "+
						"or an alias refers to a value that contains it; write the values out instead", b.limit(), baseValues, valuesPerNode))}
			}
			b.used += size
			errs = append(errs, checkForeignTree(file, n, map[*yaml.Node]bool{})...)
			roots = append(roots, n)
		}
	}
	if len(errs) > 0 {
		return nil, limitErrors(errs, 0)
	}
	if len(roots) == 0 {
		return nil, Errors{{Pos: Position{File: file}, Message: "no documents found"}}
	}
	return roots, nil
}

// checkForeignTree reports merge keys, custom tags and duplicate keys in
// the tree under n. Anchored values are checked once.
func checkForeignTree(file string, n *yaml.Node, seen map[*yaml.Node]bool) Errors {
	if n == nil || seen[n] {
		return nil
	}
	seen[n] = true
	at := func(m *yaml.Node, format string, args ...any) FieldError {
		return newFieldError(Position{File: file, Line: m.Line, Column: m.Column}, "", "", "", fmt.Sprintf(format, args...))
	}
	var errs Errors
	if n.Tag != "" && !strings.HasPrefix(n.Tag, "!!") && n.Kind != yaml.AliasNode {
		errs = append(errs, at(n, "custom tag %s is not supported", Clip(n.Tag, maxEchoedName)))
	}
	if n.Kind == yaml.MappingNode {
		keys := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			switch {
			case isMergeKey(k):
				errs = append(errs, at(k, "merge keys (<<) are not supported: write the keys out"))
			case k.Kind == yaml.ScalarNode && keys[k.Value]:
				errs = append(errs, at(k, "key %q is given twice", Clip(k.Value, maxEchoedName)))
			case k.Kind == yaml.ScalarNode:
				keys[k.Value] = true
			}
		}
	}
	for _, c := range n.Content {
		errs = append(errs, checkForeignTree(file, c, seen)...)
	}
	if n.Kind == yaml.AliasNode {
		errs = append(errs, checkForeignTree(file, n.Alias, seen)...)
	}
	return errs
}
