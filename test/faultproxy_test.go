package test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// raftLinks puts a TCP proxy in front of every node's Raft transport: a
// node advertises its proxy's address (--raft-advertise-addr), so every
// Raft connection to it passes through the proxy, which knows which node
// dialled (by the socket's owner in /proc) and can refuse links between
// chosen nodes. Only Raft is cut: the API, xDS and Prometheus stay
// reachable, which is the partition a split Raft network makes.
type raftLinks struct {
	t       testing.TB
	mu      sync.Mutex
	proxies map[string]*linkProxy // by target node id
	cut     map[[2]string]bool    // {from, to}, both orders stored
	// owner is the node id owning the socket with local port local and
	// remote port remote (the dialling end of an accepted connection), or "".
	owner func(local, remote int) string
}

// linkProxy forwards one node's Raft port.
type linkProxy struct {
	target string
	addr   string // what the node advertises
	lis    net.Listener
	conns  map[net.Conn]string // accepted conn -> source node id
}

func newRaftLinks(t testing.TB, owner func(local, remote int) string) *raftLinks {
	return &raftLinks{t: t, proxies: map[string]*linkProxy{}, cut: map[[2]string]bool{}, owner: owner}
}

// front starts the proxy for p's Raft port and makes p advertise it.
func (l *raftLinks) front(p *proc) {
	l.t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(l.t, err)
	lp := &linkProxy{target: p.id, addr: lis.Addr().String(), lis: lis, conns: map[net.Conn]string{}}
	l.mu.Lock()
	l.proxies[p.id] = lp
	l.mu.Unlock()
	p.args = append(p.args, "--raft-advertise-addr", lp.addr)
	l.t.Cleanup(func() { lis.Close() })
	go l.serve(lp, p)
}

func (l *raftLinks) serve(lp *linkProxy, p *proc) {
	for {
		c, err := lp.lis.Accept()
		if err != nil {
			return
		}
		go l.pipe(lp, c, p.raftTarget())
	}
}

func (l *raftLinks) pipe(lp *linkProxy, c net.Conn, upstream string) {
	from := l.owner(c.RemoteAddr().(*net.TCPAddr).Port, c.LocalAddr().(*net.TCPAddr).Port)
	l.mu.Lock()
	// A connection whose source is unknown is refused while any link is
	// cut: a partition must not leak through a failed lookup.
	if l.cut[[2]string{from, lp.target}] || (from == "" && len(l.cut) > 0) {
		l.mu.Unlock()
		c.Close()
		return
	}
	lp.conns[c] = from
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(lp.conns, c)
		l.mu.Unlock()
		c.Close()
	}()
	up, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

// isolate cuts every Raft link between node id and the others, in both
// directions, and closes the connections already open on them.
func (l *raftLinks) isolate(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for other := range l.proxies {
		if other == id {
			continue
		}
		l.cut[[2]string{id, other}], l.cut[[2]string{other, id}] = true, true
	}
	for target, lp := range l.proxies {
		for c, from := range lp.conns {
			if target == id || from == id {
				c.Close()
			}
		}
	}
}

// heal restores every link.
func (l *raftLinks) heal() {
	l.mu.Lock()
	l.cut = map[[2]string]bool{}
	l.mu.Unlock()
}

// portOwner returns which of procs owns the TCP socket from local port
// local to remote port remote: it finds the socket's inode in
// /proc/net/tcp and the process holding that inode
// among the procs' file descriptors. "" when none does (a closed socket,
// another process).
func portOwner(procs []*proc, local, remote int) string {
	inode := socketInode(local, remote)
	if inode == "" {
		return ""
	}
	want := "socket:[" + inode + "]"
	for _, p := range procs {
		pid := p.pid()
		if pid == 0 {
			continue
		}
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if link, err := os.Readlink(dir + "/" + e.Name()); err == nil && link == want {
				return p.id
			}
		}
	}
	return ""
}

// socketInode finds the inode of the IPv4 socket with local port local
// connected to remote port remote. Both ports are matched: one local port
// number can be in use by several sockets to different peers (another
// node's connection elsewhere included), and taking the first would let
// a cut link through under the wrong owner.
func socketInode(local, remote int) string {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return ""
	}
	defer f.Close()
	localSuffix, remoteSuffix := fmt.Sprintf(":%04X", local), fmt.Sprintf(":%04X", remote)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || !strings.HasSuffix(fields[1], localSuffix) || !strings.HasSuffix(fields[2], remoteSuffix) {
			continue
		}
		if _, err := strconv.Atoi(fields[9]); err == nil {
			return fields[9]
		}
	}
	return ""
}
