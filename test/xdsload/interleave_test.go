package xdsload

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// openCounter counts the fleets open at once.
type openCounter struct {
	mu        sync.Mutex
	open, max int
}

// countedFleet is a recordingFleet that reports its opening and closing
// to an openCounter.
type countedFleet struct {
	*recordingFleet
	c      *openCounter
	closed bool
}

func (f *countedFleet) Open(ctx context.Context, addr string, want Weights) error {
	f.c.mu.Lock()
	f.c.open++
	f.c.max = max(f.c.max, f.c.open)
	f.c.mu.Unlock()
	return f.recordingFleet.Open(ctx, addr, want)
}

func (f *countedFleet) Close() error {
	f.c.mu.Lock()
	if !f.closed {
		f.closed = true
		f.c.open--
	}
	f.c.mu.Unlock()
	return f.recordingFleet.Close()
}

// TestFanoutInterleaved runs every path's rounds interleaved: all four
// fleets are open together, each path still gets its rounds and only its
// changed routes, and the restart storm comes after the baselines closed.
func TestFanoutInterleaved(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Raft node")
	}
	const n, rounds = 20, 3
	var (
		counter openCounter
		fleets  []*countedFleet
	)
	res, err := Fanout(context.Background(), FanoutConfig{
		Streams: n, Rounds: rounds, Services: 5, Timeout: time.Minute, Restart: true, OneVersion: true, Interleave: true,
		NewFleet: func() (Fleet, error) {
			f := &countedFleet{recordingFleet: &recordingFleet{LocalFleet: NewLocalFleet(FleetOptions(n, 7))}, c: &counter}
			fleets = append(fleets, f)
			return f, nil
		},
	})
	require.NoError(t, err)
	require.True(t, res.Interleaved)
	require.Equal(t, 4, counter.max, "the four paths' fleets were open together")
	require.NotNil(t, res.OneVersion)
	for _, p := range []PathResult{res.Sluice, res.Bare, res.Floor, *res.OneVersion} {
		require.Lenf(t, p.Rounds, rounds, "%s rounds", p.Path)
		require.Positivef(t, p.ServerCPU, "%s: CPU time per round", p.Path)
		require.Positivef(t, p.Allocs, "%s: allocations per round", p.Path)
		require.Lenf(t, p.GCs, rounds, "%s: collections per round", p.Path)
		require.Greaterf(t, p.Memory.Synced.Stack, p.Memory.Before.Stack, "%s: open streams have goroutines", p.Path)
		require.Equalf(t, res.Sluice.Memory.After, p.Memory.After, "%s: one reading after the rounds", p.Path)
	}
	require.Len(t, res.Sluice.Applies, rounds)
	require.NotNil(t, res.Sluice.Restart)
	require.Equal(t, uint64(1), res.Sluice.Restart.Builds)

	// Fleets in order: Sluice, bare, floor, one version, after the restart.
	require.Len(t, fleets, 5)
	onlyRoutes := [4]int64{n, n * (1 + rounds), n, n}
	for i, path := range map[int]string{0: "sluice", 1: "bare", 2: "floor"} {
		require.Equalf(t, onlyRoutes, fleets[i].responses, "%s: LDS, RDS, CDS, EDS responses", path)
	}
	require.Equal(t, [4]int64{n * (1 + rounds), n * (1 + rounds), n * (1 + rounds), n * (1 + rounds)}, fleets[3].responses,
		"one version: every type resent every round")
	require.Equal(t, [4]int64{n, n, n, n}, fleets[4].responses, "after the restart: one response per type")
}

func TestFanoutInterleavedRefusesProfile(t *testing.T) {
	_, err := Fanout(context.Background(), FanoutConfig{
		Streams: 1, Rounds: 1, Interleave: true,
		Profile:  func(string) func() { return func() {} },
		NewFleet: func() (Fleet, error) { return NewLocalFleet(FleetOptions(1, 1)), nil },
	})
	require.ErrorIs(t, err, ErrBadOptions)
}
