package state

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

// applyAt applies documents in one apply entry naming defaults generation
// gen, as a proposer of that generation wrote it.
func (m *machine) applyAt(docs string, gen config.Defaults) error {
	m.t.Helper()
	parsed, err := config.Parse("t.yaml", []byte(docs))
	require.NoError(m.t, err)
	c, err := NewCommand(CmdApply, t0, "tester", ApplyPayload{Documents: parsed, Defaults: gen})
	require.NoError(m.t, err)
	_, err = m.run(c)
	return err
}

// TestApplyDefaultsGenerations: a release gets the policy defaults of the
// generation its apply entry names, so a default changed in a new binary
// does not change what an old entry created; an entry naming none is
// from before generations (Defaults1), and one naming a generation this
// binary does not know is refused like an unknown command.
func TestApplyDefaultsGenerations(t *testing.T) {
	minDelta := func(r *Release) float64 { return r.Status.PolicySpec.Analysis.Baseline.MinDelta }
	for _, tc := range []struct {
		name string
		gen  config.Defaults
		want float64
	}{
		{"unrecorded is generation 1", 0, 0.01},
		{"generation 1", config.Defaults1, 0.01},
		{"generation 2", config.Defaults2, 0.005},
		{"current", config.CurrentDefaults, config.DefaultBaselineMinDelta},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, baseDocs)
			require.NoError(t, m.applyAt(releaseDoc, tc.gen))
			require.Equal(t, tc.want, minDelta(m.rel()))
		})
	}

	t.Run("a policy's own value wins in every generation", func(t *testing.T) {
		m := newMachine(t, strings.Replace(baseDocs, "{interval: 5s}", "{interval: 5s, baseline: {minDelta: 0.02}}", 1))
		require.NoError(t, m.applyAt(releaseDoc, config.Defaults1))
		require.Equal(t, 0.02, minDelta(m.rel()))
	})

	t.Run("an unknown generation is refused and changes nothing", func(t *testing.T) {
		m := newMachine(t, baseDocs)
		before := m.st
		err := m.applyAt(releaseDoc, config.CurrentDefaults+1)
		require.Error(t, err)
		require.True(t, errors.Is(err, ErrUnknownCommand), "%v", err)
		require.Same(t, before, m.st)
		require.Nil(t, m.rel())
	})
}
