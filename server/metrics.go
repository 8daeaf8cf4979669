package server

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/analysis/report"
	"github.com/sluicehq/sluice/raft"
	"github.com/sluicehq/sluice/state"
)

// raftCollector reads Raft statistics at scrape time.
type raftCollector struct {
	node    *raft.Node
	state   *prometheus.Desc
	term    *prometheus.Desc
	applied *prometheus.Desc
	commit  *prometheus.Desc
	last    *prometheus.Desc
	stIdx   *prometheus.Desc
	peers   *prometheus.Desc
	leader  *prometheus.Desc
}

func newRaftCollector(n *raft.Node) *raftCollector {
	return &raftCollector{
		node:    n,
		state:   prometheus.NewDesc("sluice_raft_state", "1 for the node's current Raft state.", []string{"state"}, nil),
		term:    prometheus.NewDesc("sluice_raft_term", "Current Raft term.", nil, nil),
		applied: prometheus.NewDesc("sluice_raft_applied_index", "Last Raft log index applied to the state machine.", nil, nil),
		commit:  prometheus.NewDesc("sluice_raft_commit_index", "Last committed Raft log index.", nil, nil),
		last:    prometheus.NewDesc("sluice_raft_last_log_index", "Last Raft log index stored.", nil, nil),
		stIdx:   prometheus.NewDesc("sluice_state_index", "Raft index of the last command that changed the state (the xDS version).", nil, nil),
		peers:   prometheus.NewDesc("sluice_raft_peers", "Other voters in the configuration.", nil, nil),
		leader:  prometheus.NewDesc("sluice_raft_leader", "1 if this node is the leader.", nil, nil),
	}
}

func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.term, c.applied, c.commit, c.last, c.stIdx, c.peers, c.leader} {
		ch <- d
	}
}

func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.node.Stats()
	for _, st := range []string{"Follower", "Candidate", "Leader", "Shutdown"} {
		v := 0.0
		if s.RaftState == st {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, st)
	}
	ch <- prometheus.MustNewConstMetric(c.term, prometheus.GaugeValue, float64(s.Term))
	ch <- prometheus.MustNewConstMetric(c.applied, prometheus.GaugeValue, float64(s.AppliedIndex))
	ch <- prometheus.MustNewConstMetric(c.commit, prometheus.GaugeValue, float64(s.CommitIndex))
	ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, float64(s.LastLogIndex))
	ch <- prometheus.MustNewConstMetric(c.stIdx, prometheus.GaugeValue, float64(s.StateIndex))
	ch <- prometheus.MustNewConstMetric(c.peers, prometheus.GaugeValue, float64(s.NumPeers))
	leader := 0.0
	if c.node.IsLeader() {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(c.leader, prometheus.GaugeValue, leader)
}

// releaseCollector exports release progress from the replicated state, so
// every node reports the same numbers.
type releaseCollector struct {
	node      *raft.Node
	phase     *prometheus.Desc
	weight    *prometheus.Desc
	step      *prometheus.Desc
	releases  *prometheus.Desc
	rollbacks *prometheus.Desc
	started   *prometheus.Desc
	limited   *prometheus.Desc
	trains    *prometheus.Desc
	trainAuto *prometheus.Desc
	shares    *prometheus.Desc
	now       func() time.Time
}

func newReleaseCollector(n *raft.Node, now func() time.Time) *releaseCollector {
	return &releaseCollector{
		node:      n,
		now:       now,
		shares:    prometheus.NewDesc("sluice_releases_share", "Share of releases (all time) that were risk-assessed (goal 0.85), window-scheduled (of started; goal 0.75) or approval-gated.", []string{"kind"}, nil),
		phase:     prometheus.NewDesc("sluice_release_phase", "1 for the phase of each active release (and each service's latest).", []string{"release", "service", "phase"}, nil),
		weight:    prometheus.NewDesc("sluice_release_weight", "Share of traffic (percent) on the new version of a release.", []string{"release", "service"}, nil),
		step:      prometheus.NewDesc("sluice_release_step", "Current step (1-based, 0 before the first) of a release.", []string{"release", "service"}, nil),
		releases:  prometheus.NewDesc("sluice_releases", "Releases in the state, by phase.", []string{"phase"}, nil),
		rollbacks: prometheus.NewDesc("sluice_rollbacks_total", "Releases rolled back or aborted, by reason.", []string{"reason"}, nil),
		started:   prometheus.NewDesc("sluice_releases_started_total", "Releases that moved traffic, by whether they started blast-radius-limited.", []string{"limited"}, nil),
		limited:   prometheus.NewDesc("sluice_releases_blast_radius_limited_ratio", "Share of started releases whose first step was a tenant/region/header cohort or at most 10% of traffic (goal: at least 0.8).", nil, nil),
		trains:    prometheus.NewDesc("sluice_trains", "Release trains in the state, by phase.", []string{"phase"}, nil),
		trainAuto: prometheus.NewDesc("sluice_trains_unattended_ratio", "Share of ended trains that were promoted or rolled back without a person's action (goal: at least 0.7).", nil, nil),
	}
}

func (c *releaseCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.phase, c.weight, c.step, c.releases, c.rollbacks, c.started, c.limited, c.trains, c.trainAuto, c.shares} {
		ch <- d
	}
}

// rollbackReason classifies how a release ended badly.
func rollbackReason(r *state.Release) string {
	if r.Status.Phase == state.PhaseAborted {
		return "aborted"
	}
	ds := r.Status.Decisions
	if len(ds) == 0 {
		return "unknown"
	}
	last := ds[len(ds)-1]
	if !strings.HasPrefix(last.Actor, "controller") {
		return "manual"
	}
	var v struct {
		Phase string `json:"phase"`
	}
	if json.Unmarshal(last.Verdict, &v) == nil && v.Phase != "" {
		return strings.ToLower(v.Phase) // failed, inconclusive, error
	}
	return "controller"
}

func (c *releaseCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.node.State()
	latest := map[string]*state.Release{}
	byPhase := map[state.Phase]int{}
	rollbacks := map[string]int{"failed": 0, "inconclusive": 0, "error": 0, "manual": 0, "aborted": 0}
	startedN, limitedN := 0, 0
	for _, name := range st.ReleaseNames() {
		r := st.Releases[name]
		if !r.Status.StartedAt.IsZero() {
			startedN++
			if r.Status.Limited {
				limitedN++
			}
		}
		byPhase[r.Status.Phase]++
		if r.Status.Phase == state.PhaseRolledBack || r.Status.Phase == state.PhaseAborted {
			rollbacks[rollbackReason(r)]++
		}
		if l, ok := latest[r.Service()]; !ok || r.Status.CreatedAt.After(l.Status.CreatedAt) {
			latest[r.Service()] = r
		}
	}
	for _, r := range latest {
		ch <- prometheus.MustNewConstMetric(c.phase, prometheus.GaugeValue, 1, r.Name(), r.Service(), string(r.Status.Phase))
		ch <- prometheus.MustNewConstMetric(c.weight, prometheus.GaugeValue, float64(r.Status.Weight), r.Name(), r.Service())
		ch <- prometheus.MustNewConstMetric(c.step, prometheus.GaugeValue, float64(r.Status.Step+1), r.Name(), r.Service())
	}
	for _, p := range []state.Phase{state.PhasePending, state.PhaseProgressing, state.PhasePaused, state.PhaseRollingBack, state.PhasePromoted, state.PhaseRolledBack, state.PhaseAborted} {
		ch <- prometheus.MustNewConstMetric(c.releases, prometheus.GaugeValue, float64(byPhase[p]), string(p))
	}
	ch <- prometheus.MustNewConstMetric(c.started, prometheus.CounterValue, float64(limitedN), "true")
	ch <- prometheus.MustNewConstMetric(c.started, prometheus.CounterValue, float64(startedN-limitedN), "false")
	ratio := 0.0
	if startedN > 0 {
		ratio = float64(limitedN) / float64(startedN)
	}
	ch <- prometheus.MustNewConstMetric(c.limited, prometheus.GaugeValue, ratio)
	trainPhases := map[state.TrainPhase]int{}
	ended, unattended := 0, 0
	for _, name := range st.TrainNames() {
		t := st.Trains[name]
		trainPhases[t.Status.Phase]++
		if t.Status.Phase.Terminal() {
			ended++
			if trainUnattended(st, t) {
				unattended++
			}
		}
	}
	for _, p := range []state.TrainPhase{state.TrainProgressing, state.TrainPaused, state.TrainRollingBack, state.TrainPromoted, state.TrainRolledBack, state.TrainAborted} {
		ch <- prometheus.MustNewConstMetric(c.trains, prometheus.GaugeValue, float64(trainPhases[p]), string(p))
	}
	auto := 0.0
	if ended > 0 {
		auto = float64(unattended) / float64(ended)
	}
	ch <- prometheus.MustNewConstMetric(c.trainAuto, prometheus.GaugeValue, auto)
	rep := report.Compute(st, c.now(), 0)
	ch <- prometheus.MustNewConstMetric(c.shares, prometheus.GaugeValue, rep.RiskAssessed.Ratio, "risk_assessed")
	ch <- prometheus.MustNewConstMetric(c.shares, prometheus.GaugeValue, rep.WindowScheduled.Ratio, "window_scheduled")
	ch <- prometheus.MustNewConstMetric(c.shares, prometheus.GaugeValue, rep.ApprovalGated.Ratio, "approval_gated")
	for reason, n := range rollbacks {
		ch <- prometheus.MustNewConstMetric(c.rollbacks, prometheus.CounterValue, float64(n), reason)
	}
}

// trainUnattended reports whether a train ended (promoted or rolled back)
// with no decision by a person after its creation: every later decision,
// of the train and of its members' releases, was the controller's.
func trainUnattended(st *state.State, t *state.Train) bool {
	if t.Status.Phase == state.TrainAborted {
		return false
	}
	auto := func(ds []state.Decision) bool {
		for _, d := range ds {
			if d.Action != "create" && !strings.HasPrefix(d.Actor, "controller") {
				return false
			}
		}
		return true
	}
	if !auto(t.Status.Decisions) {
		return false
	}
	for _, m := range t.Status.Members {
		if r := st.Releases[m.Release]; r != nil && !auto(r.Status.Decisions) {
			return false
		}
	}
	return true
}
