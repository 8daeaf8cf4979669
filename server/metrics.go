package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/raft"
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
