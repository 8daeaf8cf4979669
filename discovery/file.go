package discovery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// ErrBadTargets is matched by every problem found in a targets file; the
// error says where (file:line:col) and why.
var ErrBadTargets = errors.New("invalid targets file")

// maxFileBytes bounds a targets file.
const maxFileBytes = 4 << 20

// Labels a targets file may set on a group. Others are allowed (a file
// shared with Prometheus has its own) and ignored.
const (
	labelRegion = "region"
	labelZone   = "zone"
	labelHealth = "health"
)

// ParseTargets reads a targets file's content: a JSON or YAML list of
// groups {targets: ["ip:port", ...], labels: {region, zone, health}}. An
// empty list is an empty set; an empty file is refused (it is more often
// a file being written than a wish for no endpoints). file names the
// file in errors.
func ParseTargets(file string, b []byte) ([]state.ObservedEndpoint, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("%w: %s: the file is empty (write [] for no endpoints)", ErrBadTargets, file)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadTargets, file, err)
	}
	p := &targetsParser{file: file, seen: map[string]config.Position{}}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.SequenceNode {
		return nil, p.errorf(doc, "want a list of {targets, labels} groups")
	}
	for i, g := range doc.Content {
		if err := p.group(i, g); err != nil {
			return nil, err
		}
	}
	return p.out, nil
}

// targetsParser collects the endpoints of a targets file.
type targetsParser struct {
	file string
	out  []state.ObservedEndpoint
	seen map[string]config.Position
}

func (p *targetsParser) pos(n *yaml.Node) config.Position {
	return config.Position{File: p.file, Line: n.Line, Column: n.Column}
}

func (p *targetsParser) errorf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrBadTargets, p.pos(n), fmt.Sprintf(format, args...))
}

// group reads group i: its labels first, then its targets.
func (p *targetsParser) group(i int, g *yaml.Node) error {
	if g.Kind != yaml.MappingNode {
		return p.errorf(g, "group %d: want {targets: [...], labels: {...}}", i)
	}
	var targets *yaml.Node
	ep := state.ObservedEndpoint{Health: state.Healthy}
	for k := 0; k+1 < len(g.Content); k += 2 {
		key, val := g.Content[k], g.Content[k+1]
		switch key.Value {
		case "targets":
			if val.Kind != yaml.SequenceNode {
				return p.errorf(val, "group %d: targets: want a list of \"ip:port\"", i)
			}
			targets = val
		case "labels":
			if err := p.labels(i, val, &ep); err != nil {
				return err
			}
		default:
			return p.errorf(key, "group %d: unknown field %q (a group has targets and labels)", i, key.Value)
		}
	}
	if targets == nil {
		return p.errorf(g, "group %d: targets: required", i)
	}
	for j, t := range targets.Content {
		if t.Kind != yaml.ScalarNode || t.Tag != "!!str" {
			return p.errorf(t, "group %d: targets[%d]: want a string \"ip:port\"", i, j)
		}
		addr, err := config.CheckEndpointAddress(t.Value)
		if err != nil {
			return p.errorf(t, "group %d: targets[%d]: %v", i, j, err)
		}
		if first, dup := p.seen[addr]; dup {
			return p.errorf(t, "group %d: targets[%d]: %s is listed twice (also at %s)", i, j, addr, first)
		}
		if len(p.out) >= state.MaxObservedEndpoints {
			return p.errorf(t, "more than %d targets", state.MaxObservedEndpoints)
		}
		p.seen[addr] = p.pos(t)
		e := ep
		e.Address = addr
		p.out = append(p.out, e)
	}
	return nil
}

func (p *targetsParser) labels(i int, n *yaml.Node, ep *state.ObservedEndpoint) error {
	if n.Kind != yaml.MappingNode {
		return p.errorf(n, "group %d: labels: want a map of strings", i)
	}
	for k := 0; k+1 < len(n.Content); k += 2 {
		key, val := n.Content[k], n.Content[k+1]
		if val.Kind != yaml.ScalarNode {
			return p.errorf(val, "group %d: labels.%s: want a string", i, key.Value)
		}
		switch key.Value {
		case labelRegion:
			ep.Region = val.Value
		case labelZone:
			ep.Zone = val.Value
		case labelHealth:
			switch h := state.EndpointHealth(val.Value); h {
			case state.Healthy, state.Unhealthy:
				ep.Health = h
			default:
				return p.errorf(val, "group %d: labels.health: %q is not %q or %q", i, val.Value, state.Healthy, state.Unhealthy)
			}
		}
	}
	return nil
}

// fileSource is a version's targets file as a source. It reads the file
// again only when its size or modification time changed, and parses it
// only when its content did.
type fileSource struct {
	spec *config.FileDiscovery

	size    int64
	modTime time.Time
	sum     [sha256.Size]byte
	last    lookResult
	read    bool // size and modTime are of the content last read
	parsed  bool // sum and last are of the content last parsed
}

func (s *fileSource) look(context.Context) lookResult {
	again := s.spec.PollInterval()
	fi, err := os.Stat(s.spec.Path)
	if err != nil {
		s.read = false
		return lookResult{failure: &state.SourceFailure{Kind: state.FailureRead, Message: err.Error()}, again: again}
	}
	if s.read && fi.Size() == s.size && fi.ModTime().Equal(s.modTime) {
		s.last.again = again
		return s.last
	}
	b, err := readBounded(s.spec.Path)
	if err != nil {
		s.read = false
		return lookResult{failure: &state.SourceFailure{Kind: state.FailureRead, Message: err.Error()}, again: again}
	}
	sum := sha256.Sum256(b)
	s.size, s.modTime, s.read = fi.Size(), fi.ModTime(), true
	if s.parsed && sum == s.sum {
		s.last.again = again
		return s.last
	}
	s.sum, s.parsed = sum, true
	found, err := ParseTargets(s.spec.Path, b)
	if err != nil {
		s.last = lookResult{failure: &state.SourceFailure{Kind: state.FailureParse, Message: err.Error()}, again: again}
		return s.last
	}
	if found == nil {
		found = []state.ObservedEndpoint{}
	}
	s.last = lookResult{found: found, again: again}
	return s.last
}

// readBounded reads a file of at most maxFileBytes.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFileBytes)
	}
	return b, nil
}
