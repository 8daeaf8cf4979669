package state

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func installCmd(t *testing.T, p InstallRiskModel) Command {
	t.Helper()
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	return Command{Type: CmdRiskInstall, Time: t0, Actor: "sre", Payload: raw}
}

func storedModel(v string) *RiskModel {
	return &RiskModel{Version: v, Intercept: -2, TrainedOn: "alpha",
		Terms:   []RiskTerm{{Name: "linesAdded", Transform: "log1p", Std: 1, Coef: 0.3}},
		Cutoffs: RiskCutoffs{Medium: 0.2, High: 0.5}}
}

func TestRiskInstall(t *testing.T) {
	s := New()
	s1, res, err := Apply(s, 1, installCmd(t, InstallRiskModel{Model: storedModel("m1"), Source: "alpha.json"}))
	require.NoError(t, err)
	require.Equal(t, "m1", s1.RiskModelVersion())
	require.Equal(t, "m1", s1.RiskBase.Version)
	require.Nil(t, s.RiskModel, "the old state is unchanged")
	in := res.(RiskInstall)
	require.Equal(t, RiskInstall{Seq: 1, Index: 1, Time: t0, Actor: "sre", Version: "m1",
		Parent: "", Source: "alpha.json", TrainedOn: "alpha"}, in)

	// Stale: the caller saw the built-in model, m1 is in force now.
	_, _, err = Apply(s1, 2, installCmd(t, InstallRiskModel{Model: storedModel("m2")}))
	require.ErrorIs(t, err, ErrConflict)

	// A learned model moves the version on: an install expecting m1 is stale.
	learned := storedModel("learned")
	learned.Parent = "m1"
	raw, _ := json.Marshal(learned)
	s2, _, err := Apply(s1, 2, Command{Type: CmdRiskModel, Time: t0, Actor: "controller", Payload: raw})
	require.NoError(t, err)
	require.Equal(t, "m1", s2.RiskBase.Version, "learning keeps the base")
	_, _, err = Apply(s2, 3, installCmd(t, InstallRiskModel{Model: storedModel("m2"), ExpectVersion: "m1"}))
	require.ErrorIs(t, err, ErrConflict)

	// Back to the built-in model.
	s3, _, err := Apply(s2, 3, installCmd(t, InstallRiskModel{ExpectVersion: "learned", Source: "default"}))
	require.NoError(t, err)
	require.Nil(t, s3.RiskModel)
	require.Nil(t, s3.RiskBase)
	require.Len(t, s3.RiskInstalls, 2)
	require.Equal(t, "learned", s3.RiskInstalls[1].Parent)
	require.Equal(t, 2, s3.RiskInstalls[1].Seq)

	// A bad model changes nothing.
	_, _, err = Apply(s3, 4, installCmd(t, InstallRiskModel{Model: &RiskModel{Version: "x"}}))
	require.ErrorIs(t, err, ErrBadPayload)
}

// TestRiskInstallDeterministic: the same commands give the same state.
func TestRiskInstallDeterministic(t *testing.T) {
	run := func() []byte {
		s := New()
		var err error
		s, _, err = Apply(s, 1, installCmd(t, InstallRiskModel{Model: storedModel("m1"), Source: "a.json"}))
		require.NoError(t, err)
		s, _, err = Apply(s, 2, installCmd(t, InstallRiskModel{ExpectVersion: "m1", Source: "default"}))
		require.NoError(t, err)
		out, err := json.Marshal(s)
		require.NoError(t, err)
		return out
	}
	require.Equal(t, run(), run())
}

func TestRiskInstallKeepsBoundedHistory(t *testing.T) {
	s := New()
	for i := range MaxRiskInstalls + 5 {
		var err error
		p := InstallRiskModel{Model: storedModel("m" + string(rune('a'+i%2))), ExpectVersion: s.RiskModelVersion()}
		s, _, err = Apply(s, uint64(i+1), installCmd(t, p))
		require.NoError(t, err)
	}
	require.Len(t, s.RiskInstalls, MaxRiskInstalls)
	require.Equal(t, MaxRiskInstalls+5, s.RiskInstalls[MaxRiskInstalls-1].Seq)
}

// refit is the learner's command: a model refitted from parent.
func refit(t *testing.T, version, parent string) Command {
	t.Helper()
	m := storedModel(version)
	m.Parent = parent
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	return Command{Type: CmdRiskModel, Time: t0, Actor: "controller", Payload: raw}
}

// TestStaleRefitRefused: a refit the learner started from a base that an
// install replaced meanwhile is refused (ErrConflict), so an install is
// never overwritten by a model learned from the base it replaced; a
// cluster that never installed a model takes every refit, as before.
func TestStaleRefitRefused(t *testing.T) {
	const builtIn = "sha256:builtin"
	s := New()
	s1, _, err := Apply(s, 1, refit(t, "r1", builtIn))
	require.NoError(t, err, "no install ever: every refit applies, as logs from before installs did")
	require.Equal(t, "r1", s1.RiskModelVersion())

	s2, _, err := Apply(s1, 2, installCmd(t, InstallRiskModel{Model: storedModel("m1"), ExpectVersion: "r1"}))
	require.NoError(t, err)
	_, _, err = Apply(s2, 3, refit(t, "r2", builtIn))
	require.ErrorIs(t, err, ErrConflict, "refitted from the built-in model, m1 installed since")
	s3, _, err := Apply(s2, 3, refit(t, "r3", "m1"))
	require.NoError(t, err)
	require.Equal(t, "r3", s3.RiskModelVersion())
	require.Equal(t, "m1", s3.RiskBaseVersion())

	// Back to the built-in model: a refit from m1 is stale, one from the
	// built-in model is not.
	s4, _, err := Apply(s3, 4, installCmd(t, InstallRiskModel{ExpectVersion: "r3", Source: "default"}))
	require.NoError(t, err)
	before := s4
	_, _, err = Apply(s4, 5, refit(t, "r4", "m1"))
	require.ErrorIs(t, err, ErrConflict)
	require.Same(t, before, s4)
	s5, _, err := Apply(s4, 5, refit(t, "r5", builtIn))
	require.NoError(t, err)
	require.Equal(t, "r5", s5.RiskModelVersion())
}
