// Package re2 holds the one rule Sluice applies to regular expressions
// that reach Envoy: their RE2 program must fit Envoy's limit.
//
// Envoy compiles every safe_regex with RE2 and rejects (NACKs) a regex
// whose compiled program has more instructions than the runtime value
// re2.max_program_size.error_level, 100 by default ("regex '^a{200}$' RE2
// program size of 202 > max program size of 100 set for the error level
// threshold"). Go's regexp accepts the same syntax without such a limit,
// so a regex that passes regexp.Compile can still be refused by every
// Envoy of a fleet.
//
// ProgramSize estimates RE2's count from Go's parse tree. RE2 is not
// available to Go, so the estimate is built to be an upper bound: each
// node is charged at least what RE2 charges for it (one instruction per
// UTF-8 byte of a literal, one per ASCII range of a class, a bounded
// amount for the non-ASCII part, repetitions multiplied out, two per
// capture group, four for the program's frame). test/envoy_regex_test.go
// compares it with the size real Envoy reports for a corpus of patterns;
// for plain patterns it is exact or within a few instructions, and it
// errs towards refusing. A pattern RE2 would accept may therefore be
// refused near the limit, never the reverse for the patterns tested.
package re2

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// MaxProgramSize is Envoy's default limit on a regex's RE2 program size
// (runtime key re2.max_program_size.error_level).
const MaxProgramSize = 100

// ErrTooLarge is matched (errors.Is) by Check when a pattern's estimated
// RE2 program is over MaxProgramSize: Envoy would reject it.
var ErrTooLarge = errors.New("regex too large for Envoy's RE2 program size limit")

// ErrSyntax is matched by Check and ProgramSize when the pattern does not
// parse as RE2 syntax.
var ErrSyntax = errors.New("invalid regular expression (RE2 syntax)")

// Cost constants of the estimate (see the package comment).
const (
	// frameCost covers the fail and match instructions and the unanchored
	// search prefix RE2 adds (see frame).
	frameCost = 4
	// captureCost is RE2's pair of capture instructions.
	captureCost = 2
	// nonASCIIRangeCost is charged per class range above 0x7f: such a
	// range becomes a sequence of byte ranges.
	nonASCIIRangeCost = 3
	// maxClassCost bounds what one class is charged: RE2 shares suffixes
	// between the byte sequences of a class, so even large Unicode classes
	// stay small (\pP costs 15 in Envoy 1.40).
	maxClassCost = 32
)

// Check returns nil when pattern parses and its estimated RE2 program fits
// MaxProgramSize; otherwise an error wrapping ErrSyntax or ErrTooLarge
// that says by how much.
func Check(pattern string) error {
	n, err := ProgramSize(pattern)
	if err != nil {
		return err
	}
	if n > MaxProgramSize {
		return fmt.Errorf("%w: RE2 program size about %d, Envoy's limit is %d (shorten repetitions such as {n} or large classes)",
			ErrTooLarge, n, MaxProgramSize)
	}
	return nil
}

// ProgramSize estimates (from above) the size of the RE2 program Envoy
// compiles for pattern. Counting stops early past a large bound, so huge
// repetitions cost no time; the result is then that bound.
func ProgramSize(pattern string) (int, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return sat(frame(re) + cost(re)), nil
}

// frame is what RE2 adds around the pattern: the fail and match
// instructions, and the unanchored search's ".*?" prefix unless the
// pattern starts with ^. It also takes a top-level ^ and $ out of re, since
// RE2 turns them into program flags (measured: "^a$" 3, "^a" 4, "a" and
// "a$" 5).
func frame(re *syntax.Regexp) int {
	if re.Op != syntax.OpConcat || len(re.Sub) == 0 {
		return frameCost
	}
	start := re.Sub[0].Op == syntax.OpBeginText
	end := re.Sub[len(re.Sub)-1].Op == syntax.OpEndText
	switch {
	case start && end:
		re.Sub = re.Sub[1 : len(re.Sub)-1]
		return frameCost - 2
	case start:
		re.Sub = re.Sub[1:]
		return frameCost - 1
	case end:
		re.Sub = re.Sub[:len(re.Sub)-1]
	}
	return frameCost
}

// saturation is where counting stops: far over any limit.
const saturation = 1 << 20

func sat(n int) int { return min(n, saturation) }

func cost(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpNoMatch, syntax.OpEmptyMatch:
		return 0
	case syntax.OpBeginText, syntax.OpEndText, syntax.OpBeginLine, syntax.OpEndLine,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		// An empty-width assertion inside the pattern (frame takes the
		// outer ^ and $ out): measured 2 for \b.
		return 2
	case syntax.OpLiteral:
		n := 0
		fold := re.Flags&syntax.FoldCase != 0
		for _, r := range re.Rune {
			n += literalCost(r, fold)
		}
		return n
	case syntax.OpCharClass:
		return classCost(re.Rune)
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		// ASCII ranges and all of non-ASCII, which RE2 compiles compactly.
		return 2
	case syntax.OpCapture:
		return sat(captureCost + cost(re.Sub[0]))
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		n := 1 + cost(re.Sub[0])
		if nullable(re.Sub[0]) {
			// RE2 guards a loop over something that can match empty
			// (measured: "^(a*)*$" 9).
			n += 2
		}
		return sat(n)
	case syntax.OpRepeat:
		// x{n,m} is n copies of x and m-n optional ones; x{n,} is n
		// copies and a star.
		sub := cost(re.Sub[0])
		optional := re.Max - re.Min
		if re.Max < 0 {
			optional = 1
		}
		return sat(re.Min*sub + optional*(sub+1))
	case syntax.OpConcat, syntax.OpAlternate:
		n := 0
		if re.Op == syntax.OpAlternate {
			n = len(re.Sub) - 1
		}
		for _, s := range re.Sub {
			n = sat(n + cost(s))
		}
		return n
	}
	return saturation // an operator this estimate does not know: refuse
}

// nullable reports whether re can match the empty string.
func nullable(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral, syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL, syntax.OpNoMatch:
		return false
	case syntax.OpStar, syntax.OpQuest:
		return true
	case syntax.OpPlus, syntax.OpCapture:
		return nullable(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min == 0 || nullable(re.Sub[0])
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if !nullable(s) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if nullable(s) {
				return true
			}
		}
		return false
	}
	return true // empty matches, anchors and word boundaries
}

// literalCost charges one instruction per UTF-8 byte; a case-folded
// letter with non-ASCII folds (k, s: the Kelvin sign, the long s) or a
// non-ASCII one twice that.
func literalCost(r rune, fold bool) int {
	n := utf8.RuneLen(max(r, 0))
	if fold && (r >= utf8.RuneSelf || strings.ContainsRune("kKsS", r)) {
		n *= 2
	}
	return n
}

// classCost charges a class's ranges (pairs lo, hi): one per range within
// ASCII; all of 0x80-0x10FFFF as one; other non-ASCII ranges
// nonASCIIRangeCost each; at most maxClassCost.
func classCost(ranges []rune) int {
	n := 0
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		switch {
		case hi < utf8.RuneSelf:
			n++
		case lo >= utf8.RuneSelf && hi == utf8.MaxRune && lo == utf8.RuneSelf:
			n++
		case lo < utf8.RuneSelf:
			// An ASCII part and a non-ASCII part.
			n++
			if hi == utf8.MaxRune {
				n++
			} else {
				n += nonASCIIRangeCost
			}
		default:
			n += nonASCIIRangeCost
		}
		if n >= maxClassCost {
			return maxClassCost
		}
	}
	return n
}
