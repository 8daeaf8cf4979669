package importer

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/sluicehq/sluice/config"
)

// Sentinels stand for Sluice's placeholders while a query is parsed and
// printed by Prometheus' own parser: a label value for {{version}} and
// {{service}}, and a range nobody writes for {{window}}.
const (
	versionSentinel = "__sluice_version__"
	serviceSentinel = "__sluice_service__"
	windowSentinel  = 7*time.Hour + 7*time.Minute + 7*time.Second
)

// argPlaceholder matches an Argo Rollouts argument, {{args.name}} or
// {{ args.name }}.
var argPlaceholder = regexp.MustCompile(`\{\{\s*args\.[A-Za-z0-9_.-]+\s*\}\}`)

// query is a foreign PromQL query rewritten as a Sluice template.
type query struct {
	// Template uses {{version}} and {{window}} (and {{service}} where the
	// source named its service through an argument).
	Template string
	// Changes says, in order, what was rewritten and why.
	Changes []string
}

// sluiceQuery rewrites one PromQL query into a Sluice query template:
// every selector gets version="{{version}}" so that the canary and the
// stable version are measured apart, every range becomes {{window}} so
// that the burn rules choose it, and rate/irate become increase, because
// Sluice reads request counts (the minimum sample is a number of
// requests, not a rate). Argo's {{args.NAME}} becomes {{service}}.
func sluiceQuery(src string) (query, error) {
	if err := checkQueryLen(src); err != nil {
		return query{}, err
	}
	var q query
	text := src
	if argPlaceholder.MatchString(text) || strings.Contains(text, serviceSentinel) {
		text = argPlaceholder.ReplaceAllString(text, serviceSentinel)
		q.Changes = append(q.Changes, "argument placeholders {{args.*}} became {{service}}")
	}
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(text)
	if err != nil {
		return query{}, fmt.Errorf("not a PromQL expression: %w", err)
	}
	var rateFuncs, ranges, versioned int
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.Call:
			if n.Func.Name == "rate" || n.Func.Name == "irate" {
				n.Func = parser.Functions["increase"]
				rateFuncs++
			}
		case *parser.MatrixSelector:
			n.Range, n.RangeExpr = windowSentinel, nil
			ranges++
		case *parser.VectorSelector:
			n.LabelMatchers = withVersion(n.LabelMatchers)
			versioned++
		}
		return nil
	})
	if versioned == 0 {
		return query{}, fmt.Errorf("the query selects no series, so it cannot tell the canary from the stable version")
	}
	if rateFuncs > 0 {
		q.Changes = append(q.Changes, "rate/irate became increase: Sluice counts requests")
	}
	if ranges > 0 {
		q.Changes = append(q.Changes, "ranges became {{window}}: the burn rules choose the windows")
	}
	q.Changes = append(q.Changes, `every selector got version="{{version}}"`)
	out := expr.String()
	out = strings.ReplaceAll(out, `"`+versionSentinel+`"`, `"{{version}}"`)
	out = strings.ReplaceAll(out, serviceSentinel, "{{service}}")
	out = strings.ReplaceAll(out, "["+model.Duration(windowSentinel).String()+"]", "[{{window}}]")
	q.Template = out
	return q, nil
}

// withVersion replaces any version matcher with version="{{version}}".
func withVersion(ms []*labels.Matcher) []*labels.Matcher {
	out := make([]*labels.Matcher, 0, len(ms)+1)
	for _, m := range ms {
		if m.Name != "version" {
			out = append(out, m)
		}
	}
	return append(out, labels.MustNewMatcher(labels.MatchEqual, "version", versionSentinel))
}

// splitRatio splits a query of the form A / B at its top level, the way
// success-rate queries are written, into good (A) and total (B), both to
// be passed to sluiceQuery (arguments stand as serviceSentinel).
func splitRatio(src string) (good, total string, ok bool) {
	if checkQueryLen(src) != nil {
		return "", "", false
	}
	text := argPlaceholder.ReplaceAllString(src, serviceSentinel)
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(text)
	if err != nil {
		return "", "", false
	}
	for {
		p, isParen := expr.(*parser.ParenExpr)
		if !isParen {
			break
		}
		expr = p.Expr
	}
	b, isBin := expr.(*parser.BinaryExpr)
	if !isBin || b.Op != parser.DIV {
		return "", "", false
	}
	return b.LHS.String(), b.RHS.String(), true
}

// counterQuery reads the bare counters of a query as increases over a
// window (the window itself is rewritten to {{window}} by sluiceQuery):
// an OpenSLO ratio metric with counter: true gives counters, where Sluice
// needs the number of requests in the window. An unparsable query is
// returned as it is, for sluiceQuery to report.
func counterQuery(src string) string {
	if checkQueryLen(src) != nil {
		return src
	}
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(src)
	if err != nil {
		return src
	}
	expr = wrapCounters(expr)
	if _, isAgg := expr.(*parser.AggregateExpr); !isAgg {
		expr = &parser.AggregateExpr{Op: parser.SUM, Expr: expr}
	}
	return expr.String()
}

// wrapCounters replaces every instant selector not already under a range
// with increase(selector[window]).
func wrapCounters(e parser.Expr) parser.Expr {
	switch n := e.(type) {
	case *parser.VectorSelector:
		return &parser.Call{
			Func: parser.Functions["increase"],
			Args: parser.Expressions{&parser.MatrixSelector{VectorSelector: n, Range: windowSentinel}},
		}
	case *parser.AggregateExpr:
		n.Expr = wrapCounters(n.Expr)
	case *parser.BinaryExpr:
		n.LHS, n.RHS = wrapCounters(n.LHS), wrapCounters(n.RHS)
	case *parser.ParenExpr:
		n.Expr = wrapCounters(n.Expr)
	case *parser.Call:
		for i, a := range n.Args {
			if _, isRange := a.(*parser.MatrixSelector); !isRange {
				n.Args[i] = wrapCounters(a)
			}
		}
	}
	return e
}

// errQueryTooLong is a query longer than Sluice accepts in a template.
var errQueryTooLong = errors.New("query too long")

// checkQueryLen holds a foreign query to Sluice's bound on query
// templates before it is parsed, so that a huge query costs nothing.
func checkQueryLen(src string) error {
	if len(src) > config.MaxQueryLen {
		return fmt.Errorf("%w: %d bytes, Sluice's query templates have at most %d", errQueryTooLong, len(src), config.MaxQueryLen)
	}
	return nil
}
