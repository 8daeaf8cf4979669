package risk

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/state"
)

// The stored model is the same JSON the log held when the state kept this
// package's Model itself, and converts back to an equal, valid model.
func TestStoredModelKeepsTheLogFormat(t *testing.T) {
	m := DefaultModel()
	direct, err := json.Marshal(m)
	require.NoError(t, err)
	stored, err := json.Marshal(m.Stored())
	require.NoError(t, err)
	require.JSONEq(t, string(direct), string(stored))

	back, err := ModelFromStored(m.Stored())
	require.NoError(t, err)
	require.Equal(t, m, back)
}

func TestModelFromStoredValidates(t *testing.T) {
	s := DefaultModel().Stored()
	s.Terms[0].Coef = 99 // the version no longer matches the weights
	_, err := ModelFromStored(s)
	require.ErrorIs(t, err, ErrInvalidModel)
	require.Equal(t, DefaultModel().Version, InForce(&state.State{RiskModel: s}).Version, "an invalid stored model is not used")
	_, err = ModelFromStored(nil)
	require.ErrorIs(t, err, ErrInvalidModel)
}

func TestStoredFeaturesRoundTrip(t *testing.T) {
	la, fix := 12, true
	f := Features{LinesAdded: &la, Fix: &fix}
	require.Equal(t, f, FeaturesFromStored(f.Stored()))
	a, err := json.Marshal(f)
	require.NoError(t, err)
	b, err := json.Marshal(f.Stored())
	require.NoError(t, err)
	require.JSONEq(t, string(a), string(b))
}
