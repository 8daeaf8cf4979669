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
	raw, _ := json.Marshal(storedModel("learned"))
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
