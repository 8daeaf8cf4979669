package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// Parse reads a YAML stream (documents separated by "---") or JSON (one
// object, or an array of objects) into documents. A top-level list in YAML
// is read as a list of documents too. Empty documents are skipped; input
// with no document at all is an error.
//
// Decoding is strict: unknown fields, wrong types, duplicate keys, merge
// keys and runaway aliases are errors. Parse checks each document on its own
// (header, field rules) after applying defaults; rules that look across
// documents or at applied state are Check's. It reports every problem of
// every document at once, as Errors sorted by position, each naming the
// field path (e.g. spec.versions[1].endpoints[0].address). The returned
// error matches ErrInvalid, and ErrSyntax when the input is not well-formed.
func Parse(file string, data []byte) ([]Document, error) {
	if fe, bad := checkText(file, data); bad {
		return nil, Errors{fe}
	}
	var (
		docs []Document
		errs Errors
		b    = newBudget()
	)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for !b.exhausted {
		root, err := nextDocument(dec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, syntaxError(file, err))
			break
		}
		b.addDocument(root)
		for _, n := range documentRoots(root) {
			doc, derrs := parseDocument(file, n, b)
			errs = append(errs, derrs...)
			if derrs == nil {
				docs = append(docs, doc)
			}
			if b.exhausted {
				break
			}
		}
	}
	if b.exhausted {
		return nil, Errors{b.refusal}
	}
	if len(errs) == 0 && len(docs) == 0 {
		errs = append(errs, FieldError{
			Pos:     Position{File: file},
			Message: "no documents found: want YAML documents or JSON objects with apiVersion, kind, metadata and spec",
		})
	}
	if len(errs) > 0 {
		return nil, limitErrors(errs, b.dropped)
	}
	return docs, nil
}

// checkText finds the first character YAML and JSON refuse, invalid UTF-8
// and control characters, so that the problem is reported at its line and
// column (the YAML reader reports these without a position).
func checkText(file string, data []byte) (FieldError, bool) {
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		var msg string
		switch {
		case r == utf8.RuneError && size <= 1:
			msg = fmt.Sprintf("invalid UTF-8 (byte 0x%02x): documents must be UTF-8 text", data[i])
		case r == '\n':
			line, col = line+1, 1
			i += size
			continue
		case r == '\t' || r == '\r' || r == 0x85 || r == 0xFEFF:
		case r < 0x20 || r == 0x7F || (r >= 0x80 && r < 0xA0) || r == 0xFFFE || r == 0xFFFF:
			msg = fmt.Sprintf("control character %U is not allowed in documents", r)
		}
		if msg != "" {
			return FieldError{Pos: Position{File: file, Line: line, Column: col}, Message: "malformed YAML/JSON: " + msg, Syntax: true}, true
		}
		col++
		i += size
	}
	return FieldError{}, false
}

// errUnreadable is a panic of the YAML library turned into an error.
var errUnreadable = errors.New("yaml: unreadable input")

// nextDocument reads one document node. A panic inside the YAML library on
// hostile input is reported as a syntax error rather than taking the caller
// down.
func nextDocument(dec *yaml.Decoder) (n *yaml.Node, err error) {
	defer func() {
		if p := recover(); p != nil {
			n, err = nil, fmt.Errorf("%w (%v)", errUnreadable, p)
		}
	}()
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

// syntaxLine picks the line out of yaml.v3 messages such as
// "yaml: line 3: did not find expected key".
var syntaxLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// parserProblems are the messages of the YAML parser proper (as opposed to
// its scanner and reader). yaml.v3 reports their line counting from 0, and
// leaves the line out when it is the first.
var parserProblems = []string{
	"did not find expected",
	"found duplicate %",
	"found incompatible YAML document",
	"found undefined tag handle",
}

func syntaxError(file string, err error) FieldError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	pos := Position{File: file}
	if m := syntaxLine.FindStringSubmatch(msg); m != nil {
		if line, convErr := strconv.Atoi(m[1]); convErr == nil {
			pos.Line = line
			msg = m[2]
		}
	}
	for _, p := range parserProblems {
		if strings.HasPrefix(msg, p) {
			pos.Line++
			break
		}
	}
	if pos.Line == 0 && !errors.Is(err, errUnreadable) {
		// yaml.v3 leaves the line out of scanner errors on the first line.
		pos.Line = 1
	}
	return FieldError{Pos: pos, Message: "malformed YAML/JSON: " + msg, Syntax: true}
}

// documentRoots returns the document values in one YAML document: its
// root, or each item when the root is a list (a JSON array of objects).
// Empty documents and null items yield nothing.
func documentRoots(doc *yaml.Node) []*yaml.Node {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	switch {
	case isNull(root):
		return nil
	case root.Kind == yaml.SequenceNode:
		var roots []*yaml.Node
		for _, item := range root.Content {
			if !isNull(item) {
				roots = append(roots, item)
			}
		}
		return roots
	}
	return []*yaml.Node{root}
}

// header is what every document has, whatever its kind: used to report
// problems with a document whose kind is unknown.
type header struct {
	APIVersion string   `json:"apiVersion"`
	Kind       Kind     `json:"kind"`
	Metadata   Metadata `json:"metadata"`
}

// parseDocument decodes one document and checks it on its own. It returns
// nil errors only for a good document.
func parseDocument(file string, root *yaml.Node, b *budget) (Document, Errors) {
	pos := Position{File: file, Line: root.Line, Column: root.Column}
	// A document may itself be an alias: it is looked at through the alias
	// but decoded from root, so that the budget is checked before the
	// alias is followed.
	n := root
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return Document{}, Errors{{
			Pos:     pos,
			Message: fmt.Sprintf("a document must be a mapping with apiVersion, kind, metadata and spec, got %s", describe(n)),
		}}
	}
	kind := Kind(scalarAt(n, "kind"))
	name := scalarAt(lookup(n, "metadata"), "name")
	labelKind := kind
	if !isKnownKind(kind) {
		labelKind = ""
	}
	dec := newDecoder(file, labelKind, name, b)
	doc := Document{Kind: kind, Name: name, Pos: pos, Fields: dec.fields}
	switch kind {
	case KindService:
		s := &Service{}
		dec.decode(root, reflect.ValueOf(s).Elem(), "")
		doc.Service, doc.Name = s, s.Metadata.Name
	case KindReleasePolicy:
		p := &ReleasePolicy{}
		dec.decode(root, reflect.ValueOf(p).Elem(), "")
		doc.ReleasePolicy, doc.Name = p, p.Metadata.Name
	case KindRelease:
		rel := &Release{}
		dec.decode(root, reflect.ValueOf(rel).Elem(), "")
		doc.Release, doc.Name = rel, rel.Metadata.Name
	case KindReleaseTrain:
		tr := &ReleaseTrain{}
		dec.decode(root, reflect.ValueOf(tr).Elem(), "")
		doc.ReleaseTrain, doc.Name = tr, tr.Metadata.Name
	case KindNotifier:
		n := &Notifier{}
		dec.decode(root, reflect.ValueOf(n).Elem(), "")
		doc.Notifier, doc.Name = n, n.Metadata.Name
	default:
		// Without a known kind the spec cannot be read; report the header.
		if root.Kind == yaml.AliasNode {
			if err := b.admitAlias(n); err != nil {
				b.refuse(newFieldError(pos, "", name, "", err.Error()))
				return doc, nil
			}
		}
		var h header
		dec.decode(withoutKey(n, "spec"), reflect.ValueOf(&h).Elem(), "")
		r := &reporter{doc: &doc, skip: dec.failed}
		checkHeader(r, h.APIVersion, h.Kind, h.Metadata.Name)
		return doc, append(dec.errs, r.result()...)
	}
	if b.exhausted {
		// The values are incomplete: checking them would only add noise.
		return doc, dec.errs
	}
	ApplyDefaults(&doc)
	errs := append(dec.errs, validateDocument(&doc, dec.failed)...)
	if len(errs) == 0 {
		return doc, nil
	}
	return doc, errs
}

// lookup returns the value of key in mapping n, or nil.
func lookup(n *yaml.Node, key string) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			v := n.Content[i+1]
			if v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			return v
		}
	}
	return nil
}

// scalarAt returns the string value of key in mapping n, or "".
func scalarAt(n *yaml.Node, key string) string {
	v := lookup(n, key)
	if v == nil || v.Kind != yaml.ScalarNode || v.ShortTag() != tagStr {
		return ""
	}
	return v.Value
}

// withoutKey returns a shallow copy of mapping n without key.
func withoutKey(n *yaml.Node, key string) *yaml.Node {
	c := *n
	c.Content = nil
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			continue
		}
		c.Content = append(c.Content, n.Content[i], n.Content[i+1])
	}
	return &c
}

// DecodeStrict reads one JSON object (or YAML mapping) into v, a pointer,
// with the decoder Parse uses: unknown fields, duplicate keys, wrong types
// and numbers out of range for their Go type are errors with line and
// column, under the same expansion budget. API request bodies use it so
// that JSON is held to the same rules as YAML (encoding/json keeps the
// last of duplicate keys). It returns Errors matching ErrInvalid.
func DecodeStrict(file string, data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic("config.DecodeStrict: v must be a non-nil pointer")
	}
	if fe, bad := checkText(file, data); bad {
		return Errors{fe}
	}
	b := newBudget()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	root, err := nextDocument(dec)
	switch {
	case errors.Is(err, io.EOF):
		return Errors{{Pos: Position{File: file}, Message: "empty body: want a JSON object"}}
	case err != nil:
		return Errors{syntaxError(file, err)}
	}
	if _, err := nextDocument(dec); !errors.Is(err, io.EOF) {
		if err != nil {
			return Errors{syntaxError(file, err)}
		}
		return Errors{{Pos: Position{File: file}, Message: "want exactly one JSON object, got several documents"}}
	}
	b.addDocument(root)
	if len(root.Content) == 0 || isNull(root.Content[0]) {
		return Errors{{Pos: Position{File: file}, Message: "empty body: want a JSON object"}}
	}
	d := newDecoder(file, "", "", b)
	d.decode(root.Content[0], rv.Elem(), "")
	if b.exhausted {
		return Errors{b.refusal}
	}
	if len(d.errs) > 0 {
		return limitErrors(d.errs, b.dropped)
	}
	return nil
}
