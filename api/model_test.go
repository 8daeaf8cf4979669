package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/sluicehq/sluice/raft"
	"github.com/sluicehq/sluice/state"
	"github.com/sluicehq/sluice/xds"
)

// memCluster is a one-node cluster applying commands with state.Apply.
type memCluster struct {
	mu    sync.Mutex
	st    *state.State
	index uint64
}

func (m *memCluster) ID() string { return "n1" }
func (m *memCluster) State() *state.State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st
}
func (m *memCluster) IsLeader() bool                                    { return true }
func (m *memCluster) Leader() (string, string)                          { return "n1", "" }
func (m *memCluster) Servers() ([]raft.Server, error)                   { return nil, nil }
func (m *memCluster) Stats() raft.Stats                                 { return raft.Stats{} }
func (m *memCluster) AddVoter(context.Context, string, string) error    { return nil }
func (m *memCluster) AddNonvoter(context.Context, string, string) error { return nil }
func (m *memCluster) RemoveServer(context.Context, string) error        { return nil }
func (m *memCluster) ProbePeer(context.Context, string, string) error   { return nil }
func (m *memCluster) Barrier(context.Context) error                     { return nil }
func (m *memCluster) Backup(io.Writer) (raft.BackupHeader, error)       { return raft.BackupHeader{}, nil }
func (m *memCluster) RestoreBackup(context.Context, []byte, bool) (raft.BackupHeader, error) {
	return raft.BackupHeader{}, nil
}
func (m *memCluster) Apply(_ context.Context, cmd state.Command) (any, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.index++
	next, res, err := state.Apply(m.st, m.index, cmd)
	m.st = next
	return res, err
}

type noXDS struct{}

func (noXDS) Status() xds.Status                                  { return xds.Status{} }
func (noXDS) Ready() bool                                         { return true }
func (noXDS) Dump(string) (uint64, map[string][]*anypb.Any, bool) { return 0, nil, false }

const modelDocs = `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: greeter}
spec:
  protocol: grpc
  version: v1
  versions:
    - {name: v1, endpoints: [{address: "10.0.0.1:80"}]}
    - {name: v2, endpoints: [{address: "10.0.0.2:80"}]}
---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: p}
spec:
  services: [greeter]
  slo: {objective: 99, errorRatioQuery: 'e{version="{{version}}"}', requestsQuery: 'r{version="{{version}}"}'}
`

// authServer serves the API over a new memCluster with these tokens, its
// clock stopped at now, and returns the cluster and a client for a token.
func authServer(t *testing.T, now time.Time, tokens ...TokenEntry) (*memCluster, func(token string) *Client) {
	t.Helper()
	auth, err := NewAuth(tokens)
	require.NoError(t, err)
	mc := &memCluster{st: state.New()}
	srv := httptest.NewServer(New(mc, noXDS{}, Options{Auth: auth, Now: func() time.Time { return now }}))
	t.Cleanup(srv.Close)
	return mc, func(token string) *Client {
		c := NewClient(srv.URL)
		c.Token = token
		return c
	}
}

// TestForceAndUndoRoles: forcing static weights needs the admin role,
// undo the deployer role and undo --now the approver role; the declared
// release is assessed by the API.
func TestForceAndUndoRoles(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	mc, as := authServer(t, now,
		TokenEntry{Token: "deployer-token-0001", User: "alice", Roles: []Role{RoleDeployer}},
		TokenEntry{Token: "approver-token-001", User: "bob", Roles: []Role{RoleApprover}},
		TokenEntry{Token: "admin-token-0000001", User: "ops", Roles: []Role{RoleAdmin}})
	ctx := context.Background()
	_, err := as("deployer-token-0001").Apply(ctx, "g.yaml", []byte(modelDocs))
	require.NoError(t, err)

	res, err := as("deployer-token-0001").Apply(ctx, "g.yaml", []byte(strings.Replace(modelDocs, "version: v1", "version: v2", 1)))
	require.NoError(t, err)
	require.Equal(t, []string{state.ReleaseName("greeter", "v2", now)}, res.Started)
	r := mc.State().Releases[res.Started[0]]
	require.NotNil(t, r.Status.Assessment, "the API assessed the declared release under the FSM's name")
	_, err = mc.Apply(ctx, mustEvent(t, &state.Promote{On: state.OnRelease(r, "promote")}, now))
	require.NoError(t, err)

	static := strings.Replace(strings.Replace(modelDocs, "  version: v1\n", "", 1), "{name: v1, endpoints", "{name: v1, weight: 100, endpoints", 1)
	static = strings.Replace(static, "{name: v2, endpoints", "{name: v2, weight: 0, endpoints", 1)
	_, err = as("deployer-token-0001").ApplyForced(ctx, "s.yaml", []byte(static), true)
	requireStatus(t, err, http.StatusForbidden)
	_, err = as("deployer-token-0001").Apply(ctx, "s.yaml", []byte(static))
	requireStatus(t, err, http.StatusBadRequest)
	require.ErrorContains(t, err, "s.yaml:", "the refusal points into the file")

	_, err = as("deployer-token-0001").Undo(ctx, "greeter", UndoRequest{Now: true})
	requireStatus(t, err, http.StatusForbidden)
	u, err := as("approver-token-001").Undo(ctx, "greeter", UndoRequest{Now: true, Reason: "INC-3"})
	require.NoError(t, err)
	require.Equal(t, "v1", u.Plan.To)
	require.Equal(t, "bob", mc.State().ServiceStatus["greeter"].Decisions[0].Actor)
	_, err = as("admin-token-0000001").Undo(ctx, "greeter", UndoRequest{})
	requireStatus(t, err, http.StatusConflict) // nothing left to undo
	require.ErrorContains(t, err, "nothing to undo")

	half := strings.Replace(strings.Replace(static, "weight: 100", "weight: 50", 1), "weight: 0", "weight: 50", 1)
	f, err := as("admin-token-0000001").ApplyForced(ctx, "s.yaml", []byte(half), true)
	require.NoError(t, err)
	require.Equal(t, []string{"greeter"}, f.Forced)
	require.Equal(t, []uint32{50, 50}, mc.State().RouteWeights("greeter"))
	require.Equal(t, "ops", mc.State().ServiceStatus["greeter"].Decisions[1].Actor)
}

func mustEvent(t *testing.T, e state.Event, now time.Time) state.Command {
	t.Helper()
	c, err := state.EventCommand(e, now, "alice")
	require.NoError(t, err)
	return c
}

func requireStatus(t *testing.T, err error, code int) {
	t.Helper()
	var apiErr *Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, code, apiErr.Status, apiErr.Error())
}
