package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis/risk"
)

// TestRiskInstall: installing a model needs the admin role, a bad model
// is a 400 that changes nothing, a stale expected version a 409, and the
// built-in model can be restored.
func TestRiskInstall(t *testing.T) {
	mc, as := authServer(t, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
		TokenEntry{Token: "deployer-token-0001", User: "alice", Roles: []Role{RoleDeployer}},
		TokenEntry{Token: "admin-token-0000001", User: "ops", Roles: []Role{RoleAdmin}})
	ctx := context.Background()

	m := risk.DefaultModel()
	m.Intercept -= 0.25
	m.TrainedOn = "alpha"
	m.Seal()
	req := RiskInstallRequest{Model: m.Stored(), Source: "alpha.json"}

	_, err := as("").InstallRiskModel(ctx, req)
	requireStatus(t, err, http.StatusUnauthorized)
	_, err = as("deployer-token-0001").InstallRiskModel(ctx, req)
	requireStatus(t, err, http.StatusForbidden)

	bad := *m.Stored()
	bad.Cutoffs.High = 0.01 // under the medium cut-off
	_, err = as("admin-token-0000001").InstallRiskModel(ctx, RiskInstallRequest{Model: &bad})
	requireStatus(t, err, http.StatusBadRequest)
	require.ErrorContains(t, err, "model:")
	edited := *m.Stored()
	edited.Intercept += 1
	_, err = as("admin-token-0000001").InstallRiskModel(ctx, RiskInstallRequest{Model: &edited})
	requireStatus(t, err, http.StatusBadRequest)
	require.ErrorContains(t, err, "does not match")
	require.Nil(t, mc.State().RiskModel, "nothing changed")

	got, err := as("admin-token-0000001").InstallRiskModel(ctx, req)
	require.NoError(t, err)
	require.Equal(t, m.Version, got.Version)
	require.Equal(t, m.Version, got.Base)
	require.Len(t, got.Installs, 1)
	require.Equal(t, "ops", got.Installs[0].Actor)
	require.Equal(t, "alpha.json", got.Installs[0].Source)

	_, err = as("admin-token-0000001").InstallRiskModel(ctx, RiskInstallRequest{Default: true})
	requireStatus(t, err, http.StatusConflict)

	back, err := as("admin-token-0000001").InstallRiskModel(ctx, RiskInstallRequest{Default: true, ExpectVersion: m.Version})
	require.NoError(t, err)
	require.True(t, back.BuiltIn)
	require.Equal(t, risk.DefaultModel().Version, back.Version)
	shown, err := as("deployer-token-0001").RiskModel(ctx)
	require.NoError(t, err)
	require.Len(t, shown.Installs, 2)
	require.Equal(t, m.Version, shown.Installs[1].Parent)
}
