package config

import (
	"fmt"

	yaml "go.yaml.in/yaml/v3"
)

// Bounds on what one Parse (or DecodeStrict) call may cost, whatever the
// input. YAML aliases let a few bytes name a large value many times over,
// so the number of values decoded is bounded by a budget in proportion to
// the input itself, shared by every document of the call and checked
// before an alias is followed, not after.
const (
	// baseValues is the expansion budget every input gets, so that
	// ordinary uses of anchors and aliases in a small file work.
	baseValues = 10000
	// valuesPerNode is how many values each node of the input may decode
	// to: an input with no aliases decodes at most one value per node, so
	// aliases may at most double a large input.
	valuesPerNode = 1
	// maxStoredErrors bounds the problems kept while decoding; the rest
	// are counted.
	maxStoredErrors = 1000
	// MaxReportedErrors is how many problems one input reports; the rest
	// are summed up in one last entry.
	MaxReportedErrors = 100
)

// budget is shared by the documents of one call.
type budget struct {
	// nodes counts the input's nodes as written (an alias counts once).
	nodes int
	// used counts values decoded so far, aliases followed.
	used int
	// exhausted is set once a value was refused for the budget; nothing
	// more is decoded and the input is refused with refusal alone, the
	// one problem to fix first.
	exhausted bool
	refusal   FieldError
	// sizes memoizes the expanded size of anchored nodes.
	sizes map[*yaml.Node]int
	// errors counts problems recorded by decoders; dropped those not kept.
	errors  int
	dropped int
}

func newBudget() *budget { return &budget{sizes: map[*yaml.Node]int{}} }

// limit is how many values the input read so far may decode to.
func (b *budget) limit() int { return baseValues + valuesPerNode*b.nodes }

// addDocument accounts for one more document of the input.
func (b *budget) addDocument(doc *yaml.Node) { b.nodes += countNodes(doc) }

// countNodes counts the nodes of a tree as written: an alias is one node
// and is not followed.
func countNodes(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	c := 1
	for _, child := range n.Content {
		c += countNodes(child)
	}
	return c
}

// inProgress marks an anchored node whose size is being computed: meeting
// it again means an alias refers to a value that contains it.
const inProgress = -1

// expandedSize is how many values decoding n would produce with every
// alias followed, counted the way the decoder counts (mapping keys are not
// values), saturating just above capAt. It runs in time linear in the
// input: the size of each anchored node is computed once.
func (b *budget) expandedSize(n *yaml.Node, capAt int) int {
	if n == nil {
		return 0
	}
	if n.Kind == yaml.AliasNode {
		return b.expandedSize(n.Alias, capAt)
	}
	if n.Anchor != "" {
		switch v, ok := b.sizes[n]; {
		case ok && v == inProgress:
			return capAt + 1 // a cycle expands without end
		case ok:
			return v
		}
		b.sizes[n] = inProgress
	}
	size := 1
	for i, child := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 {
			continue // keys are names, not values
		}
		size += b.expandedSize(child, capAt)
		if size > capAt {
			size = capAt + 1
			break
		}
	}
	if n.Anchor != "" {
		b.sizes[n] = size
	}
	return size
}

// admitAlias reports whether following an alias to target stays within
// the budget; if not it says why.
func (b *budget) admitAlias(target *yaml.Node) error {
	room := b.limit() - b.used
	if size := b.expandedSize(target, room); size > room {
		return fmt.Errorf("alias would expand the input beyond %d decoded values "+
			"(%d plus %d per value written); write the values out instead", b.limit(), baseValues, valuesPerNode)
	}
	return nil
}

// take accounts for one decoded value; false once the budget is spent.
func (b *budget) take() bool {
	b.used++
	return b.used <= b.limit()
}

// refuse stops decoding: fe is the problem the input is refused with.
func (b *budget) refuse(fe FieldError) {
	if !b.exhausted {
		b.exhausted, b.refusal = true, fe
	}
}

// keepError reports whether one more problem may be stored.
func (b *budget) keepError() bool {
	b.errors++
	if b.errors > maxStoredErrors {
		b.dropped++
		return false
	}
	return true
}
