package server

import (
	"github.com/sluicehq/sluice/discovery"
	"github.com/sluicehq/sluice/raft"
)

// newDiscovery is the leader's endpoint discovery loop. A node whose DNS
// servers cannot be found still starts: every lookup fails, and the
// failure is recorded on the versions that name a DNS source.
func (n *Node) newDiscovery(rn *raft.Node) *discovery.Loop {
	log := n.log.With("component", "discovery")
	opts := discovery.Options{Now: n.cfg.Now, Logger: log, Actor: "discovery:" + n.cfg.NodeID}
	if r, err := discovery.NewResolver(n.cfg.DNSServers...); err != nil {
		log.Warn("no DNS resolver: DNS discovery sources will fail", "err", err)
	} else {
		opts.Resolver = r
	}
	return discovery.New(rn, opts)
}
