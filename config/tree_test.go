package config

import (
	"errors"
	"strings"
	"testing"
)

func TestReadTrees(t *testing.T) {
	roots, err := ReadTrees("x.yaml", []byte("a: &v [1, 2]\nb: *v\n---\n---\n- c: 1\n- d: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 3 {
		t.Fatalf("%d roots, want 3 (one document, then a list of two; the empty one skipped)", len(roots))
	}
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, name := range []string{"b", "c", "d", "e", "f"} {
		bomb += name + ": &" + name + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
		prev = name
	}
	cases := map[string]struct {
		in, want string
		is       error
	}{
		"alias bomb":    {bomb, "decodes to more than", ErrInvalid},
		"alias cycle":   {"a: &a [*a]\n", "", ErrInvalid},
		"merge key":     {"b: &b {x: 1}\nc:\n  <<: *b\n", "x.yaml:3:3: merge keys", ErrInvalid},
		"custom tag":    {"a: !x 1\n", "x.yaml:1:4: custom tag", ErrInvalid},
		"duplicate key": {"a: 1\nb: 2\na: 3\n", "x.yaml:3:1: key \"a\" is given twice", ErrInvalid},
		"syntax":        {"a: [1\n", "malformed", ErrSyntax},
		"invalid UTF-8": {"a: \xff\n", "x.yaml:1:4: malformed YAML/JSON: invalid UTF-8", ErrInvalid},
		"empty":         {"---\n", "no documents", ErrInvalid},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ReadTrees("x.yaml", []byte(c.in))
			if err == nil || !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want %v containing %q", err, c.is, c.want)
			}
		})
	}
}
