package test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

const (
	adminToken    = "admin-token-0123456789"
	deployerToken = "deployer-token-0123456789"
	approverToken = "approver-token-0123456789"
)

// governanceYAML is a service on demo backends with a policy whose plan is
// derived from risk (no explicit steps, short bakes) and an optional
// schedule.
func (e *releaseEnv) governanceYAML(svc, schedule string) string {
	return fmt.Sprintf(`apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: %[1]s}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: %[2]q}]}
    - {name: v2, endpoints: [{address: %[3]q}]}
---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: %[1]s}
spec:
  services: [%[1]s]
`+demoSLO+`    baseline: {window: 10s, minRequests: 5}
    inconclusiveLimit: 60
  riskPlan: {bakes: {low: 2s, medium: 2s, high: 2s}}
  ackTimeout: 10s
%[4]s`, svc, e.backends[svc+"/v1"].GRPCAddr(), e.backends[svc+"/v2"].GRPCAddr(), schedule)
}

func releaseWith(name, svc string, change *config.ChangeDescriptor, gates ...config.GateResult) config.Release {
	r := releaseSpec(name, svc, "v2")
	r.Spec.Change, r.Spec.Gates = change, gates
	return r
}

func statusCode(err error) int {
	if ae, ok := err.(*api.Error); ok {
		return ae.Status
	}
	return 0
}

// TestRiskGatesWindowsAndApprovals runs on three real server processes with
// token authentication: a high-risk release gets the small-step plan and
// waits for an approver; a release with a failed required gate never
// starts until an approver overrides it with a reason; a release submitted
// during a blackout is scheduled after it, and an approver's "start now"
// is recorded.
func TestRiskGatesWindowsAndApprovals(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and server processes")
	}
	authFile := filepath.Join(t.TempDir(), "tokens.yaml")
	require.NoError(t, os.WriteFile(authFile, []byte(fmt.Sprintf(`tokens:
  - {token: %s, user: ops-admin, roles: [admin]}
  - {token: %s, user: alice, roles: [deployer]}
  - {token: %s, user: bob, roles: [approver, viewer]}
`, adminToken, deployerToken, approverToken)), 0o600))
	e := newReleaseEnvWith(t, []string{"--auth-file", authFile, "--token", adminToken}, "risky", "gated", "frozen")
	leader, followers := splitLeader(t, e.procs)
	other := followers[0]
	alice, bob := other.as(deployerToken), other.as(approverToken)

	// Without a token nothing is served; a viewer cannot write.
	_, err := other.as("").List(ctxT(t), "services")
	require.Equal(t, http.StatusUnauthorized, statusCode(err))
	_, err = bob.Apply(ctxT(t), "x.yaml", []byte(e.governanceYAML("risky", "")))
	require.Equal(t, http.StatusForbidden, statusCode(err))

	eventually(t, 30*time.Second, "prometheus scrapes the backends", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return e.prom.WaitForSeries(ctx, `requests_total{service="risky"}`)
	})

	t.Run("high-risk release gets small steps and waits for an approver", func(t *testing.T) {
		_, err := alice.Apply(ctxT(t), "risky.yaml", []byte(e.governanceYAML("risky", "")))
		require.NoError(t, err)
		l := e.load("risky", other, 200)
		waitTraffic(t, l, "v1")
		la, ld, files, age := 4200, 1800, 75, 0.5
		_, err = alice.StartRelease(ctxT(t), releaseWith("risky-v2", "risky", &config.ChangeDescriptor{LinesAdded: &la, LinesDeleted: &ld, Files: &files, FilesAge: &age, Author: "carol"}))
		require.NoError(t, err)
		r := e.waitRelease(leader, "risky-v2", 60*time.Second, "held for a risk approval", func(r *state.Release) bool {
			return r.HeldFor(state.HoldRisk)
		})
		require.Equal(t, "high", string(r.Status.Assessment.Level))
		require.Equal(t, "risk", r.Status.Assessment.PlanSource)
		require.Len(t, r.Status.Plan, 5, "small steps")
		require.Equal(t, uint32(1), r.Status.Plan[0].Weight)
		require.Equal(t, 0, r.Status.Step, "still in the first step")
		require.Equal(t, "alice", r.Status.Decisions[0].Actor, "the creator is the token's user")

		// The explanation, through the CLI.
		out, err := exec.Command(sluiceBin, "--server", other.api, "--token", deployerToken, "risk", "explain", "risky-v2").CombinedOutput()
		require.NoError(t, err, string(out))
		require.Contains(t, string(out), "high risk")
		require.Contains(t, string(out), "touched files last changed 12 hours earlier on average (recently changed): +", "the files' age is a learned reason")
		require.Contains(t, string(out), "A person must approve step 2 before it starts.")

		_, err = alice.Approve(ctxT(t), "risky-v2", 0, "")
		require.Equal(t, http.StatusForbidden, statusCode(err), "a deployer cannot approve")
		a, err := bob.Approve(ctxT(t), "risky-v2", 0, "reviewed the diff")
		require.NoError(t, err)
		require.Equal(t, "bob", a.Status.Approvals[0].Actor)
		e.waitRelease(leader, "risky-v2", 60*time.Second, "past step 2", func(r *state.Release) bool { return r.Status.Step >= 1 })
		_, err = alice.ReleaseAction(ctxT(t), "risky-v2", "abort", "test done")
		require.NoError(t, err)
	})

	t.Run("failed required gate never starts until an override", func(t *testing.T) {
		_, err := alice.Apply(ctxT(t), "gated.yaml", []byte(e.governanceYAML("gated", "")))
		require.NoError(t, err)
		_, err = alice.StartRelease(ctxT(t), releaseWith("gated-v2", "gated", nil,
			config.GateResult{Name: "unit", Passed: true, Required: true},
			config.GateResult{Name: "integration", Passed: false, Required: true}))
		require.NoError(t, err)
		r := e.waitRelease(leader, "gated-v2", 30*time.Second, "awaiting approval", func(r *state.Release) bool {
			return r.Status.Phase == state.PhaseAwaitingApproval
		})
		require.Contains(t, holdOf(r), "quality gate(s) integration failed and are required")
		// A start-now approval is not a gate override: still waiting.
		_, err = bob.ApproveWith(ctxT(t), "gated-v2", api.ActionRequest{StartNow: true, Reason: "please"})
		require.NoError(t, err)
		r = e.release(leader, "gated-v2")
		require.Equal(t, state.PhaseAwaitingApproval, r.Status.Phase)
		require.Equal(t, -1, r.Status.Step)
		// Overrides: not by a deployer, not without a reason.
		_, err = alice.ApproveWith(ctxT(t), "gated-v2", api.ActionRequest{OverrideGate: "integration", Reason: "flaky"})
		require.Equal(t, http.StatusForbidden, statusCode(err))
		_, err = bob.ApproveWith(ctxT(t), "gated-v2", api.ActionRequest{OverrideGate: "integration"})
		require.Equal(t, http.StatusBadRequest, statusCode(err))
		_, err = bob.ApproveWith(ctxT(t), "gated-v2", api.ActionRequest{OverrideGate: "integration", Reason: "known flaky suite, INC-42"})
		require.NoError(t, err)
		r = e.waitRelease(leader, "gated-v2", 30*time.Second, "started after the override", func(r *state.Release) bool {
			return r.Status.Phase == state.PhaseProgressing
		})
		var override *state.Approval
		for i := range r.Status.Approvals {
			if r.Status.Approvals[i].Gate == "integration" {
				override = &r.Status.Approvals[i]
			}
		}
		require.NotNil(t, override)
		require.Equal(t, "bob", override.Actor)
		require.Contains(t, override.Reason, "known flaky suite, INC-42")
		_, err = alice.ReleaseAction(ctxT(t), "gated-v2", "abort", "test done")
		require.NoError(t, err)
	})

	t.Run("release in a blackout is scheduled after it; start now is recorded", func(t *testing.T) {
		from := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute)
		to := time.Now().UTC().Add(3 * time.Hour).Truncate(time.Minute)
		schedule := fmt.Sprintf("  schedule:\n    timezone: UTC\n    slot: 15m\n    blackouts:\n      - {from: %q, to: %q, reason: \"year-end freeze\"}\n",
			from.Format(time.RFC3339), to.Format(time.RFC3339))
		_, err := alice.Apply(ctxT(t), "frozen.yaml", []byte(e.governanceYAML("frozen", schedule)))
		require.NoError(t, err)
		_, err = alice.StartRelease(ctxT(t), releaseSpec("frozen-v2", "frozen", "v2"))
		require.NoError(t, err)
		r := e.waitRelease(leader, "frozen-v2", 30*time.Second, "scheduled", func(r *state.Release) bool {
			return r.Status.Phase == state.PhaseScheduled
		})
		require.False(t, r.Status.ScheduledAt.Before(to), "scheduled at %s, blackout ends %s", r.Status.ScheduledAt, to)
		require.Contains(t, holdOf(r), "year-end freeze")
		require.Equal(t, state.StartScheduled, r.Status.Window)

		// The suggestion is available on its own too.
		out, err := exec.Command(sluiceBin, "--server", other.api, "--token", approverToken, "window", "suggest", "frozen", "--duration", "30m").CombinedOutput()
		require.NoError(t, err, string(out))
		require.Contains(t, string(out), "in blackouts")

		a, err := bob.ApproveWith(ctxT(t), "frozen-v2", api.ActionRequest{StartNow: true, Reason: "security fix"})
		require.NoError(t, err)
		require.True(t, a.Status.Approvals[0].StartNow)
		r = e.waitRelease(leader, "frozen-v2", 30*time.Second, "started now", func(r *state.Release) bool {
			return r.Status.Phase == state.PhaseProgressing
		})
		require.Equal(t, state.StartNow, r.Status.Window)
		require.Equal(t, "bob", r.Status.Approvals[0].Actor)

		// The report counts what happened.
		var buf bytes.Buffer
		cmd := exec.Command(sluiceBin, "--server", other.api, "--token", approverToken, "report")
		cmd.Stdout, cmd.Stderr = &buf, &buf
		require.NoError(t, cmd.Run(), buf.String())
		require.Contains(t, buf.String(), "Risk-assessed:")
		require.Contains(t, buf.String(), "100% (3 of 3)")
	})
}
