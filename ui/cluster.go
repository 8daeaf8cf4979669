package ui

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/sluicehq/sluice/raft"
	"github.com/sluicehq/sluice/xds"
)

// ClusterPage is the cluster: its nodes, the leader, this node's Raft
// figures, and every node's xDS proxy groups with their ACK/NACK state.
type ClusterPage struct {
	Self       string
	Leader     string
	Stats      raft.Stats
	StateIndex uint64
	Nodes      []NodeRow
	Err        string
}

// NodeRow is one member of the Raft configuration.
type NodeRow struct {
	ID, RaftAddr, APIAddr, XDSAddr, Suffrage string
	Leader, Self                             bool
	// XDS is the node's own report; Err says why it is missing.
	XDS *xds.Status
	Err string
}

// peerTimeout bounds the fetch of one other node's xDS status.
const peerTimeout = 3 * time.Second

// buildCluster gathers the cluster page. Other nodes are asked for their
// xDS status concurrently, each within peerTimeout, with the caller's own
// credentials; an unreachable node is shown as such.
func (c *Console) buildCluster(ctx context.Context, authorization string) ClusterPage {
	st := c.src.State()
	stats := c.src.Stats()
	p := ClusterPage{Self: stats.NodeID, Leader: stats.LeaderID, Stats: stats, StateIndex: st.Index}
	servers, err := c.src.Servers()
	if err != nil {
		p.Err = err.Error()
	}
	p.Nodes = make([]NodeRow, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		row := NodeRow{ID: s.ID, RaftAddr: s.Address, Suffrage: s.Suffrage, Leader: s.Leader, Self: s.ID == stats.NodeID}
		if m, ok := st.Members[s.ID]; ok {
			row.APIAddr, row.XDSAddr = m.APIAddr, m.XDSAddr
		}
		switch {
		case row.Self:
			x := c.opts.LocalXDS()
			row.XDS = &x
		case row.APIAddr == "":
			row.Err = "no API address recorded yet"
		}
		p.Nodes[i] = row
		if row.XDS == nil && row.Err == "" {
			wg.Add(1)
			go func(i int, addr string) {
				defer wg.Done()
				pctx, cancel := context.WithTimeout(ctx, peerTimeout)
				defer cancel()
				x, err := c.opts.PeerXDS(pctx, addr, authorization)
				if err != nil {
					p.Nodes[i].Err = err.Error()
					return
				}
				p.Nodes[i].XDS = x
			}(i, row.APIAddr)
		}
	}
	wg.Wait()
	sort.Slice(p.Nodes, func(i, j int) bool { return p.Nodes[i].ID < p.Nodes[j].ID })
	return p
}
