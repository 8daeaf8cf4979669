package raft

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/controller"
	"github.com/sluicehq/sluice/state"
)

// TestRecordLegacyLog records a Raft data directory written by the
// release.update / train.update log format (format 1), for the replay test.
// It runs only when SLUICE_RECORD_LOG_DIR names an empty directory:
//
//	SLUICE_RECORD_LOG_DIR=$PWD/testdata/format1 go test -run TestRecordLegacyLog ./raft/
func TestRecordLegacyLog(t *testing.T) {
	out := os.Getenv("SLUICE_RECORD_LOG_DIR")
	if out == "" {
		t.Skip("set SLUICE_RECORD_LOG_DIR to record")
	}
	dataDir := filepath.Join(out, "data")
	cfg := testConfig(t, "n1", dataDir, "127.0.0.1:0", true)
	cfg.TrailingLogs = 100000 // keep every entry in the log after the snapshot
	cfg.SnapshotThreshold = 1 << 40
	cfg.SnapshotInterval = time.Hour
	n, err := Open(cfg)
	require.NoError(t, err)
	waitSingleLeader(t, n)
	rec := &recorder{t: t, n: n, now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	rec.run()

	snapIndex := n.Stats().AppliedIndex
	require.NoError(t, n.Snapshot())
	rec.runAfterSnapshot()

	last := n.Stats().AppliedIndex
	f, err := os.Create(filepath.Join(out, "state.json"))
	require.NoError(t, err)
	require.NoError(t, state.WriteSnapshot(n.State(), f))
	require.NoError(t, f.Close())
	meta, _ := json.MarshalIndent(map[string]uint64{"snapshotIndex": snapIndex, "lastIndex": last, "stateIndex": n.State().Index}, "", "  ")
	require.NoError(t, os.WriteFile(filepath.Join(out, "expect.json"), append(meta, '\n'), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(out, "log.jsonl"), rec.lines, 0o644))
	require.NoError(t, n.Close())
}

type recorder struct {
	t     *testing.T
	n     *Node
	now   time.Time
	lines []byte
}

// at moves the recorder's clock and returns it.
func (r *recorder) tick(d time.Duration) time.Time {
	r.now = r.now.Add(d)
	return r.now
}

func (r *recorder) cmd(typ state.Type, actor string, payload any) error {
	r.t.Helper()
	c, err := state.NewCommand(typ, r.tick(time.Second), actor, payload)
	require.NoError(r.t, err)
	b, err := c.Encode()
	require.NoError(r.t, err)
	r.lines = append(append(r.lines, b...), '\n')
	_, err = r.n.Apply(context.Background(), c)
	return err
}

func (r *recorder) must(typ state.Type, actor string, payload any) {
	r.t.Helper()
	require.NoError(r.t, r.cmd(typ, actor, payload))
}

func (r *recorder) apply(yaml string) {
	r.t.Helper()
	docs, err := config.Parse("record.yaml", []byte(yaml))
	require.NoError(r.t, err)
	p := state.ApplyPayload{Documents: docs, Assessments: map[string]*state.Assessment{}}
	st := r.n.State()
	for _, d := range docs {
		if d.Release != nil {
			if a := controller.Assess(st, d.Release, r.now); a != nil {
				p.Assessments[d.Name] = a
			}
		}
	}
	r.must(state.CmdApply, "alice", p)
}

func (r *recorder) rel(name string) *state.Release { return r.n.State().Releases[name] }

// upd is a person's or the controller's update against the release as it is.
func (r *recorder) upd(name string, a state.Action, msg string) state.ReleaseUpdate {
	rel := r.rel(name)
	return state.ReleaseUpdate{Name: name, Action: a, ExpectPhase: rel.Status.Phase, ExpectStep: rel.Status.Step,
		ExpectStepIndex: rel.Status.StepIndex, Message: msg}
}

func (r *recorder) release(u state.ReleaseUpdate, actor string) {
	r.t.Helper()
	r.must(state.CmdReleaseUpdate, actor, u)
}

// decided proposes what the controller's pure functions decide.
func (r *recorder) decided(u *state.ReleaseUpdate) {
	r.t.Helper()
	require.NotNil(r.t, u)
	r.release(*u, "controller:n1")
}

func (r *recorder) ack(name string) {
	r.t.Helper()
	n := controller.Decide(r.rel(name), controller.Observation{Now: r.now,
		Groups: []controller.GroupAck{{Node: "n1", Group: "web/eu/a", AckedIndex: r.rel(name).Status.StepIndex, Streams: 2}}})
	r.decided(n.Update)
}

func (r *recorder) analyse(name string, phase analysis.Phase, reason string) {
	r.t.Helper()
	v := analysis.Verdict{Phase: phase, Reason: reason, Time: r.now,
		Subject: analysis.Subject{Service: r.rel(name).Service(), Canary: r.rel(name).Spec.Spec.To, Stable: r.rel(name).Status.From}}
	raw, err := json.Marshal(v)
	require.NoError(r.t, err)
	r.decided(controller.AfterAnalysis(r.rel(name), v, raw, r.now))
}

const recordDocs = `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: greeter}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: "10.0.0.1:80", region: eu}]}
    - {name: v2, endpoints: [{address: "10.0.0.2:80", region: eu}]}
    - {name: v3, endpoints: [{address: "10.0.0.3:80", region: eu}]}
---
apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: web}
spec:
  protocol: http
  port: 8080
  versions:
    - {name: v1, weight: 100, endpoints: [{address: "10.0.1.1:80"}]}
    - {name: v2, weight: 0, endpoints: [{address: "10.0.1.2:80"}]}
---
apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: a}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: "10.0.2.1:80"}]}
    - {name: v2, endpoints: [{address: "10.0.2.2:80"}]}
---
apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: b}
spec:
  protocol: grpc
  dependsOn: [a]
  versions:
    - {name: v1, endpoints: [{address: "10.0.3.1:80"}]}
    - {name: v2, endpoints: [{address: "10.0.3.2:80"}]}
---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: p}
spec:
  services: [greeter, a, b]
  slo:
    objective: 99.9
    errorRatioQuery: 'sum(rate(errors{version="{{version}}"}[{{window}}]))'
    requestsQuery: 'sum(increase(requests{version="{{version}}"}[{{window}}]))'
  steps:
    - {weight: 10, bake: 30s}
    - {weight: 50, bake: 30s}
  analysis: {interval: 5s, failureLimit: 1}
---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: pw}
spec:
  services: [web]
  slo:
    objective: 99
    errorRatioQuery: 'sum(rate(errors{version="{{version}}"}[{{window}}]))'
    requestsQuery: 'sum(increase(requests{version="{{version}}"}[{{window}}]))'
  cohorts:
    stages:
      - {name: staff, tenants: [staff]}
  exposure: {maxTrafficShare: 20}
  steps:
    - {cohort: staff, bake: 20s}
    - {weight: 50, bake: 20s}
`

// run records releases through every release action: a promotion with a
// hold, pause and resume; a rollback on a failed analysis; a failed gate
// overridden, an exposure-budget hold approved, an abort.
func (r *recorder) run() {
	r.apply(recordDocs)

	// r1: greeter v1 -> v2, promoted.
	r.apply("apiVersion: sluice.dev/v1alpha1\nkind: Release\nmetadata: {name: r1}\nspec:\n  service: greeter\n  to: v2\n  change: {linesAdded: 120, linesDeleted: 30, files: 4, author: bob, commit: abc123}\n")
	a := controller.DecideAdmission(r.rel("r1"), r.now, nil)
	r.decided(a.Update)
	hold := r.upd("r1", state.ActHold, "held: not every proxy group ACKed step 1 within 10s: web/eu/a@n2 (acked 7)")
	hold.Holding = hold.Message
	c := r.rel("r1").Status.Counters
	hold.Counters = &c
	r.release(hold, "controller:n1")
	r.tick(2 * time.Second)
	r.ack("r1")
	r.tick(5 * time.Second)
	r.analyse("r1", analysis.PhaseSuccessful, "burn 0.1x < 14.4x")
	r.release(r.upd("r1", state.ActPause, "pause by alice: looking at dashboards"), "alice")
	r.tick(40 * time.Second)
	r.release(r.upd("r1", state.ActResume, "resume by alice"), "alice")
	r.tick(35 * time.Second)
	r.analyse("r1", analysis.PhaseSuccessful, "burn 0.2x < 14.4x")
	r.ack("r1")
	r.tick(31 * time.Second)
	r.analyse("r1", analysis.PhaseSuccessful, "burn 0.1x < 14.4x")

	// r2: greeter v2 -> v3, rolled back by a failed analysis.
	r.apply("apiVersion: sluice.dev/v1alpha1\nkind: Release\nmetadata: {name: r2}\nspec: {service: greeter, to: v3}\n")
	r.decided(controller.DecideAdmission(r.rel("r2"), r.now, nil).Update)
	r.ack("r2")
	r.tick(5 * time.Second)
	r.analyse("r2", analysis.PhaseFailed, "burn rule fast fired: 40x > 14.4x")

	// r3: web v1 -> v2 with a failed required gate, overridden.
	r.apply("apiVersion: sluice.dev/v1alpha1\nkind: Release\nmetadata: {name: r3}\nspec:\n  service: web\n  to: v2\n  gates: [{name: integration, passed: false, required: true}]\n")
	r.decided(controller.DecideAdmission(r.rel("r3"), r.now, nil).Update)
	gate := r.upd("r3", state.ActApprove, "quality gate integration overridden by carol: flaky suite, INC-7")
	gate.ApproveGate = "integration"
	r.release(gate, "carol")
}

// runAfterSnapshot continues after the snapshot: the exposure hold, the
// approvals, an abort, a scheduled start, and a train with pause, resume
// and a joint rollback.
func (r *recorder) runAfterSnapshot() {
	start := controller.DecideAdmission(r.rel("r3"), r.now, nil).Update
	start.Exposure = &state.Exposure{Step: 0, Share: 3, Tenants: 1, Regions: -1, Source: "prometheus", Detail: "tenants 3.0%"}
	r.decided(start)
	r.ack("r3")
	r.tick(21 * time.Second)
	v := analysis.Verdict{Phase: analysis.PhaseSuccessful, Reason: "burn 0.1x < 14.4x", Time: r.now}
	raw, _ := json.Marshal(v)
	adv := controller.AfterAnalysis(r.rel("r3"), v, raw, r.now)
	require.Equal(r.t, state.ActAdvance, adv.Action)
	budget := "exposure budget: step 2 would exceed it: ~50% of traffic > budget 20%; a person must approve: sluice release approve r3"
	adv.Action, adv.Holding, adv.Message = state.ActAnalysis, budget, budget
	adv.Exposure = &state.Exposure{Step: 1, Share: 50, Tenants: -1, Regions: -1, Source: "plan", Detail: "50% of all traffic", Over: []string{"~50% of traffic > budget 20%"}}
	r.decided(adv)
	step := r.upd("r3", state.ActApprove, "approve by carol: ok for half")
	step.ApproveStep = 1
	r.release(step, "carol")
	r.tick(5 * time.Second)
	r.analyse("r3", analysis.PhaseSuccessful, "burn 0.1x < 14.4x")
	r.release(r.upd("r3", state.ActAbort, "abort by carol: wrong build"), "carol")

	// r4: greeter v2 -> v3 scheduled, started now by a person's approval,
	// promoted by hand.
	r.apply("apiVersion: sluice.dev/v1alpha1\nkind: Release\nmetadata: {name: r4}\nspec: {service: greeter, to: v3}\n")
	sched := r.upd("r4", state.ActSchedule, "outside its release window (inside blackout \"freeze\"); scheduled for Mon 2026-03-02 13:00 UTC in any time: after the freeze")
	sched.ScheduledAt = time.Date(2026, 3, 2, 13, 0, 0, 0, time.UTC)
	sched.Schedule = []byte(`{"timezone":"UTC","best":{"start":"2026-03-02T13:00:00Z","window":"any time","reasons":["after the freeze"]}}`)
	r.release(sched, "controller:n1")
	now := r.upd("r4", state.ActApprove, "start now approved by carol: hotfix")
	now.StartNow = true
	r.release(now, "carol")
	r.decided(controller.DecideAdmission(r.rel("r4"), r.now, func(time.Time, time.Duration) (bool, string) { return false, "freeze" }).Update)
	r.release(r.upd("r4", state.ActPromote, "promote by carol"), "carol")

	// Train t: a then b; paused and resumed; b rolls back, a is unwound.
	r.apply("apiVersion: sluice.dev/v1alpha1\nkind: ReleaseTrain\nmetadata: {name: t}\nspec:\n  members:\n    - {service: a, to: v2}\n    - {service: b, to: v2}\n")
	tr := func() *state.Train { return r.n.State().Trains["t"] }
	train := func() {
		r.t.Helper()
		next := controller.DecideTrain(tr(), r.n.State(), r.now)
		require.NotNil(r.t, next.Update, "train decision")
		r.must(state.CmdTrainUpdate, "controller:n1", next.Update)
	}
	train() // clear a
	r.decided(controller.DecideAdmission(r.rel("t-a"), r.now, nil).Update)
	r.ack("t-a")
	r.must(state.CmdTrainUpdate, "alice", state.TrainUpdate{Name: "t", Action: state.TrainPause, ExpectPhase: state.TrainProgressing, Message: "pause by alice"})
	r.tick(time.Minute)
	r.must(state.CmdTrainUpdate, "alice", state.TrainUpdate{Name: "t", Action: state.TrainResume, ExpectPhase: state.TrainPaused, Message: "resume by alice"})
	r.release(r.upd("t-a", state.ActPromote, "promote by alice"), "alice")
	health := state.HealthStatus{Passed: true, Attempts: 1, At: r.now}
	r.must(state.CmdTrainUpdate, "controller:n1", state.TrainUpdate{Name: "t", Action: state.TrainHealth, ExpectPhase: state.TrainProgressing,
		Member: "b", Health: &health, Message: "health check attempt 1 passed: no health check"})
	train() // clear b
	r.decided(controller.DecideAdmission(r.rel("t-b"), r.now, nil).Update)
	r.ack("t-b")
	r.tick(5 * time.Second)
	r.analyse("t-b", analysis.PhaseFailed, "burn rule fast fired")
	train() // fail
	train() // unwind a (b rolled back on its own)
	train() // finish
	require.Equal(r.t, state.TrainRolledBack, tr().Status.Phase)

	// A refused command is not in the log's effects but is in the log.
	require.Error(r.t, r.cmd(state.CmdReleaseUpdate, "old-leader", state.ReleaseUpdate{Name: "r1", Action: state.ActAdvance, ExpectPhase: state.PhaseProgressing, ExpectStep: 0}))
}
