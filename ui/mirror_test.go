package ui

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// A mirror step's row says what it does, not "0%".
func TestReleasePageShowsMirrorSteps(t *testing.T) {
	st := state.New()
	r := sampleRelease(t)
	r.Status.Plan = append([]config.StepSpec{{Mirror: 20}}, r.Status.Plan...)
	st.Releases[r.Name()] = r
	code, _, body := get(t, newTestConsole(t, st).Views(), "/v1/console/release/greeter-v2")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "<td>mirror 20% (users on stable)</td>")
	require.Contains(t, body, "<td>10%</td>")
}
