package risk

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSelectWithinIsDeterministicAndChoosesAmongCandidates(t *testing.T) {
	ps := loadTestdata(t)
	train, _ := SplitByDate(ps[0].Changes)
	a, err := SelectWithin(train, DefaultTerms())
	require.NoError(t, err)
	b, err := SelectWithin(train, DefaultTerms())
	require.NoError(t, err)
	require.Equal(t, a, b, "same training data, same choice")
	require.Contains(t, cvLambdas(), a.Lambda)
	require.GreaterOrEqual(t, len(a.Terms), len(DefaultTerms())-1, "at most one term left out")
	require.False(t, math.IsNaN(a.CVAUC), "the tiny project has usable folds")
	require.Greater(t, a.CVAUC, 0.0)
}

func TestSelectWithinWithoutUsableFoldKeepsTheTerms(t *testing.T) {
	ps := loadTestdata(t)
	few := ps[0].Changes[:3] // every fold's fitting part is a single change
	c, err := SelectWithin(few, DefaultTerms())
	require.NoError(t, err)
	require.Equal(t, DefaultTerms(), c.Terms)
	require.Equal(t, DefaultLambda, c.Lambda)
	require.True(t, math.IsNaN(c.CVAUC))
}
