package config

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// YAML tags the decoder distinguishes (yaml.Node.ShortTag values).
const (
	tagNull  = "!!null"
	tagStr   = "!!str"
	tagInt   = "!!int"
	tagFloat = "!!float"
	tagBool  = "!!bool"
	tagMerge = "!!merge"
)

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// plainKey matches map keys that can be written as path.key; any other key
// is written path["key"].
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// decoder strictly decodes one document's yaml.Node tree into Go values,
// following their json tags. It never stops at the first problem: every
// problem is recorded and decoding continues with the next field.
type decoder struct {
	file string
	// kind and name label error messages.
	kind Kind
	name string

	errs Errors
	// fields records the position of every decoded key and list item.
	fields map[string]Position
	// failed holds the paths whose values could not be decoded, so that
	// rule checks do not report the same field a second time.
	failed map[string]bool

	// budget bounds the values decoded and problems kept; it is shared
	// by every document of one input.
	budget     *budget
	aliasStack []*yaml.Node
	types      map[reflect.Type]typeFields
}

func newDecoder(file string, kind Kind, name string, b *budget) *decoder {
	return &decoder{
		file:   file,
		kind:   kind,
		name:   name,
		fields: map[string]Position{},
		failed: map[string]bool{},
		budget: b,
	}
}

func (d *decoder) pos(n *yaml.Node) Position {
	return Position{File: d.file, Line: n.Line, Column: n.Column}
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.failed[path] = true
	if !d.budget.keepError() {
		return
	}
	d.errs = append(d.errs, newFieldError(d.pos(n), d.kind, d.name, path, fmt.Sprintf(format, args...)))
}

// refuse stops decoding the whole input for its budget.
func (d *decoder) refuse(n *yaml.Node, path, msg string) {
	d.failed[path] = true
	d.budget.refuse(newFieldError(d.pos(n), d.kind, d.name, path, msg))
}

// decode fills v, which must be settable, from n.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		d.decodeAlias(n, v, path)
		return
	}
	if d.budget.exhausted {
		return
	}
	if !d.budget.take() {
		d.refuse(n, path, fmt.Sprintf("the input decodes to more than %d values; split it into several applies", d.budget.limit()))
		return
	}
	if isNull(n) {
		return // an explicit null leaves the zero value, like an absent field
	}
	t := v.Type()
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(textUnmarshalerType) {
		d.decodeText(n, v, path)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		elem := reflect.New(t.Elem())
		d.decode(n, elem.Elem(), path)
		v.Set(elem)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.String:
		d.decodeString(n, v, path)
	case reflect.Bool:
		d.decodeBool(n, v, path)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		d.decodeInt(n, v, path)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		d.decodeUint(n, v, path)
	case reflect.Float32, reflect.Float64:
		d.decodeFloat(n, v, path)
	default:
		d.fail(n, path, "values of Go type %s cannot be read from a document", t)
	}
}

func (d *decoder) decodeAlias(n *yaml.Node, v reflect.Value, path string) {
	target := n.Alias
	if target == nil {
		d.fail(n, path, "alias *%s refers to no anchor", n.Value)
		return
	}
	for _, a := range d.aliasStack {
		if a == target {
			d.fail(n, path, "alias *%s refers to a value that contains it", n.Value)
			return
		}
	}
	if d.budget.exhausted {
		return
	}
	if err := d.budget.admitAlias(target); err != nil {
		d.refuse(n, path, err.Error())
		return
	}
	d.aliasStack = append(d.aliasStack, target)
	d.decode(target, v, path)
	d.aliasStack = d.aliasStack[:len(d.aliasStack)-1]
}

// field is one decodable struct field.
type field struct {
	name  string
	index int
}

// structFields returns the fields of t and their names, computed once per
// type and decoder.
func (d *decoder) structFields(t reflect.Type) ([]field, []string) {
	if c, ok := d.types[t]; ok {
		return c.fields, c.names
	}
	fs := structFields(t)
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	if d.types == nil {
		d.types = map[reflect.Type]typeFields{}
	}
	d.types[t] = typeFields{fs, names}
	return fs, names
}

// typeFields caches structFields.
type typeFields struct {
	fields []field
	names  []string
}

// structFields lists the fields of t by json name, in declaration order.
func structFields(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fs = append(fs, field{name: name, index: i})
	}
	return fs
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	fs, names := d.structFields(v.Type())
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping with fields %s, got %s", strings.Join(names, ", "), describe(n))
		return
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			d.fail(k, path, "merge keys (<<) are not supported; write the fields out")
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "field names must be plain strings, got %s", describe(k))
			continue
		}
		name := k.Value
		fpath := joinPath(path, name)
		if prev, dup := seen[name]; dup {
			d.fail(k, fpath, "duplicate field (first set at %s)", d.pos(prev))
			continue
		}
		seen[name] = k
		idx := -1
		for _, f := range fs {
			if f.name == name {
				idx = f.index
				break
			}
		}
		if idx < 0 {
			msg := fmt.Sprintf("unknown field %q", name)
			if s := suggest(name, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.fail(k, fpath, "%s; known fields: %s", msg, strings.Join(names, ", "))
			continue
		}
		d.fields[fpath] = d.valuePos(k, val)
		d.decode(val, v.Field(idx), fpath)
	}
}

// valuePos is where a key's value is reported: at the value itself for a
// scalar, at the key for a mapping or list (whose first item may be lines
// below).
func (d *decoder) valuePos(key, val *yaml.Node) Position {
	if val.Kind == yaml.ScalarNode || val.Kind == yaml.AliasNode {
		return d.pos(val)
	}
	return d.pos(key)
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "expected a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ipath := fmt.Sprintf("%s[%d]", path, i)
		d.fields[ipath] = d.pos(item)
		d.decode(item, s.Index(i), ipath)
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.fail(n, path, "values of Go type %s cannot be read from a document", t)
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	m := reflect.MakeMapWithSize(t, len(n.Content)/2)
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			d.fail(k, path, "merge keys (<<) are not supported; write the entries out")
			continue
		}
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.fail(k, path, "keys must be plain strings, got %s", describe(k))
			continue
		}
		kpath := fmt.Sprintf("%s[%q]", path, k.Value)
		if plainKey.MatchString(k.Value) {
			kpath = joinPath(path, k.Value)
		}
		if prev, dup := seen[k.Value]; dup {
			d.fail(k, kpath, "duplicate key (first set at %s)", d.pos(prev))
			continue
		}
		seen[k.Value] = k
		d.fields[kpath] = d.valuePos(k, val)
		elem := reflect.New(t.Elem()).Elem()
		d.decode(val, elem, kpath)
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(t.Key()), elem)
	}
	v.Set(m)
}

func (d *decoder) decodeString(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "expected a string, got %s", describe(n))
		return
	}
	if tag := n.ShortTag(); tag != tagStr {
		if tag == tagInt || tag == tagFloat || tag == tagBool || tag == "!!timestamp" {
			d.fail(n, path, "expected a string, got %s; quote it (%q) if it is meant as text", describe(n), n.Value)
		} else {
			d.fail(n, path, "expected a string, got %s", describe(n))
		}
		return
	}
	v.SetString(n.Value)
}

func (d *decoder) decodeBool(n *yaml.Node, v reflect.Value, path string) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != tagBool || n.Decode(&b) != nil {
		d.fail(n, path, "expected true or false, got %s", describe(n))
		return
	}
	v.SetBool(b)
}

func (d *decoder) decodeInt(n *yaml.Node, v reflect.Value, path string) {
	var i int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != tagInt {
		if bigInteger(n) {
			bits := v.Type().Bits()
			d.fail(n, path, "number %s is out of range (%d to %d)", n.Value, int64(-1)<<(bits-1), int64(1)<<(bits-1)-1)
			return
		}
		d.fail(n, path, "expected a whole number, got %s", describe(n))
		return
	}
	if n.Decode(&i) != nil || v.OverflowInt(i) {
		bits := v.Type().Bits()
		d.fail(n, path, "number %s is out of range (%d to %d)", n.Value, int64(-1)<<(bits-1), int64(1)<<(bits-1)-1)
		return
	}
	v.SetInt(i)
}

func (d *decoder) decodeUint(n *yaml.Node, v reflect.Value, path string) {
	maxVal := uint64(math.MaxUint64) >> (64 - v.Type().Bits())
	if n.Kind != yaml.ScalarNode || n.ShortTag() != tagInt {
		if bigInteger(n) {
			d.fail(n, path, "number %s is out of range (0 to %d)", n.Value, maxVal)
			return
		}
		d.fail(n, path, "expected a non-negative whole number, got %s", describe(n))
		return
	}
	var u uint64
	if err := n.Decode(&u); err != nil {
		var i int64
		if n.Decode(&i) == nil && i < 0 {
			d.fail(n, path, "must not be negative, got %s", n.Value)
		} else {
			d.fail(n, path, "number %s is too large (at most %d)", n.Value, maxVal)
		}
		return
	}
	if v.OverflowUint(u) {
		d.fail(n, path, "number %s is too large (at most %d)", n.Value, maxVal)
		return
	}
	v.SetUint(u)
}

func (d *decoder) decodeFloat(n *yaml.Node, v reflect.Value, path string) {
	var f float64
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != tagFloat && n.ShortTag() != tagInt) || n.Decode(&f) != nil {
		d.fail(n, path, "expected a number, got %s", describe(n))
		return
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || v.OverflowFloat(f) {
		d.fail(n, path, "must be a finite number, got %s", n.Value)
		return
	}
	v.SetFloat(f)
}

func (d *decoder) decodeText(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "expected a string, got %s", describe(n))
		return
	}
	u, ok := v.Addr().Interface().(encoding.TextUnmarshaler)
	if !ok {
		d.fail(n, path, "values of Go type %s cannot be read from a document", v.Type())
		return
	}
	if err := u.UnmarshalText([]byte(n.Value)); err != nil {
		d.fail(n, path, "%v", err)
	}
}

// integerDigits matches a whole number written in decimal.
var integerDigits = regexp.MustCompile(`^[-+]?[0-9]+$`)

// bigInteger reports a whole number too large for YAML's integers, which
// the YAML library then types as a float.
func bigInteger(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == tagFloat && integerDigits.MatchString(n.Value)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == tagNull
}

func isMergeKey(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" && n.ShortTag() == tagMerge
}

// describe names what a node holds, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "alias *" + n.Value
	case yaml.DocumentNode:
		return "a document"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	switch tag := n.ShortTag(); tag {
	case tagStr:
		return fmt.Sprintf("string %q", v)
	case tagInt, tagFloat:
		return "number " + v
	case tagBool:
		return "boolean " + v
	case tagNull:
		return "null"
	case "!!timestamp":
		return "timestamp " + v
	default:
		return fmt.Sprintf("value %q tagged %s", v, tag)
	}
}

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// suggest returns the known name closest to a misspelt one, or "".
func suggest(name string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return k
		}
		if dist := editDistance(strings.ToLower(name), strings.ToLower(k)); dist < bestDist && dist < len(k) {
			best, bestDist = k, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
