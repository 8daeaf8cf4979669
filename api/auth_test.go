package api

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

func TestLoadAuthValidates(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(`tokens:
  - {token: short, user: alice, roles: [deployer]}
  - {token: "0123456789abcdef", user: "", roles: [root]}
`), 0o600))
	_, err := LoadAuth(bad)
	require.ErrorIs(t, err, config.ErrInvalid)
	require.Contains(t, err.Error(), "tokens[0].token: must be at least 16 characters")
	require.Contains(t, err.Error(), "tokens[1].user: required")
	require.Contains(t, err.Error(), `tokens[1].roles[0]: unknown role "root" (viewer, deployer, approver, admin)`)

	unknown := filepath.Join(dir, "unknown.yaml")
	require.NoError(t, os.WriteFile(unknown, []byte("tokenz: []\n"), 0o600))
	_, err = LoadAuth(unknown)
	require.ErrorContains(t, err, "field tokenz not found")
}

func TestIdentify(t *testing.T) {
	a, err := NewAuth([]TokenEntry{
		{Token: "deployer-token-0001", User: "alice", Roles: []Role{RoleDeployer}},
		{Token: "admin-token-0000001", User: "ops", Roles: []Role{RoleAdmin}},
	})
	require.NoError(t, err)
	req := httptest.NewRequest("GET", "/v1/services", nil)
	_, err = a.identify(req)
	require.ErrorIs(t, err, ErrUnauthenticated)
	req.Header.Set("Authorization", "Bearer wrong-token-000000")
	_, err = a.identify(req)
	require.ErrorIs(t, err, ErrUnauthenticated)

	req.Header.Set("Authorization", "Bearer deployer-token-0001")
	req.Header.Set("X-Sluice-Actor", "mallory")
	id, err := a.identify(req)
	require.NoError(t, err)
	require.Equal(t, "alice", id.User, "the token names the actor, not the header")
	require.True(t, id.Has(RoleDeployer))
	require.False(t, id.Has(RoleApprover))

	req.Header.Set("Authorization", "Bearer admin-token-0000001")
	id, err = a.identify(req)
	require.NoError(t, err)
	require.True(t, id.Has(RoleApprover), "admin holds every role")

	// Without an auth map the API is open; the header's name is recorded
	// as unverified, never as an identity.
	var none *Auth
	id, err = none.identify(req)
	require.NoError(t, err)
	require.Equal(t, "unverified:mallory", id.User)
	require.True(t, id.Has(RoleApprover))
}
