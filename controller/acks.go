package controller

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/sluicehq/sluice/state"
	"github.com/sluicehq/sluice/xds"
)

// DefaultNodeDeadline bounds how long one member's xDS status may take.
const DefaultNodeDeadline = 500 * time.Millisecond

// StatusFetcher reads one node's xDS status.
type StatusFetcher func(ctx context.Context, apiAddr string) (*xds.Status, error)

// ClusterAcks collects the proxy groups of every member: this node's from
// its own xDS server, the others' over their API.
type ClusterAcks struct {
	Self    string
	Local   func() xds.Status
	Members func() map[string]*state.Member
	Fetch   StatusFetcher
	// NodeDeadline bounds each member's fetch (DefaultNodeDeadline when
	// zero). Members are asked in parallel, so a hung member costs one
	// deadline, not one per member, and never delays the others' answers.
	NodeDeadline time.Duration
}

// Observe implements AckSource. A node that cannot be reached within the
// per-node deadline is listed as unreachable; its proxies, if any,
// reconnect to a live node.
func (a *ClusterAcks) Observe(ctx context.Context) ([]GroupAck, []string) {
	var (
		mu          sync.Mutex
		groups      []GroupAck
		unreachable []string
		wg          sync.WaitGroup
	)
	deadline := a.NodeDeadline
	if deadline <= 0 {
		deadline = DefaultNodeDeadline
	}
	add := func(node string, st xds.Status) {
		mu.Lock()
		defer mu.Unlock()
		for _, g := range st.Groups {
			ga := GroupAck{Node: node, Group: g.Key, AckedIndex: g.AckedIndex, Streams: g.Streams, Proxyless: g.Proxyless}
			for _, n := range g.NACKs {
				ga.NACKs = append(ga.NACKs, fmt.Sprintf("%s %s at index %d: %s", n.NodeID, n.TypeURL, n.Index, n.Message))
			}
			groups = append(groups, ga)
		}
	}
	add(a.Self, a.Local())
	for id, m := range a.Members() {
		if id == a.Self || m.APIAddr == "" {
			continue
		}
		wg.Add(1)
		go func(id, addr string) {
			defer wg.Done()
			st, err := a.fetch(ctx, addr, deadline)
			if err != nil {
				mu.Lock()
				unreachable = append(unreachable, id)
				mu.Unlock()
				return
			}
			add(id, *st)
		}(id, m.APIAddr)
	}
	wg.Wait()
	sort.Slice(groups, func(i, j int) bool {
		if groups[i].Node != groups[j].Node {
			return groups[i].Node < groups[j].Node
		}
		return groups[i].Group < groups[j].Group
	})
	sort.Strings(unreachable)
	return groups, unreachable
}

// fetch reads one member's status within its own deadline. The answer is
// awaited only until then: a fetcher that ignores its context (a peer
// stuck in a read) is left to finish on its own.
func (a *ClusterAcks) fetch(ctx context.Context, addr string, deadline time.Duration) (*xds.Status, error) {
	fctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	type answer struct {
		st  *xds.Status
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		st, err := a.Fetch(fctx, addr)
		ch <- answer{st, err}
	}()
	select {
	case ans := <-ch:
		return ans.st, ans.err
	case <-fctx.Done():
		return nil, fmt.Errorf("xds status of %s: %w", addr, fctx.Err())
	}
}
