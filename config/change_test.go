package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFilesAgeAnnotation: change.sluice.dev/files-age reads a number of
// days; anything else is reported by key.
func TestFilesAgeAnnotation(t *testing.T) {
	c, _ := ChangeFromAnnotations(map[string]string{"change.sluice.dev/files-age": "2.5"})
	require.NotNil(t, c)
	require.Equal(t, 2.5, *c.FilesAge)
	for _, v := range []string{"-1", "soon", "NaN", "2e6"} {
		_, _, bad := parseChangeAnnotations(map[string]string{"change.sluice.dev/files-age": v})
		require.Contains(t, bad["change.sluice.dev/files-age"], "must be a number of days from 0 to 1000000", v)
	}
}

// TestReleaseFilesAgeRule: a negative spec.change.filesAge is refused at
// its position.
func TestReleaseFilesAgeRule(t *testing.T) {
	in := "apiVersion: sluice.dev/v1alpha1\nkind: Release\nmetadata: {name: r}\nspec:\n  service: web\n  to: v2\n  change:\n    filesAge: -3\n"
	_, err := Parse("r.yaml", []byte(in))
	require.Error(t, err)
	require.Contains(t, err.Error(), "r.yaml:8:15: ")
	require.Contains(t, err.Error(), "spec.change.filesAge: must be a non-negative number of days")
	_, err = Parse("r.yaml", []byte(in[:len(in)-3]+"3.5\n"))
	require.NoError(t, err)
}
