package controller

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

func TestServedObservation(t *testing.T) {
	f := newFakeCluster(t, loopWorld)
	st := f.State()
	holding := []GroupAck{
		{Node: "n1", Group: "b", AckedIndex: st.Index, Streams: 1},
		{Node: "n2", Group: "a", AckedIndex: st.Index + 1, Streams: 2},
		{Node: "n3", Group: "a", AckedIndex: st.Index, Streams: 1},
		{Node: "n1", Group: "behind", AckedIndex: st.Index - 1, Streams: 1},
		{Node: "n1", Group: "gone", AckedIndex: st.Index},
		{Node: "n1", Group: "rejects", AckedIndex: st.Index, Streams: 1, NACKs: []string{"bad route"}},
		{Node: "n1", Group: strings.Repeat("x", state.MaxGroupKey+1), AckedIndex: st.Index, Streams: 1},
	}
	obs := ServedObservation(st, holding, t0)
	require.Equal(t, []string{"a", "b"}, obs.Groups, "only groups with a stream holding the state read, rejecting nothing, with a key the state records")
	require.Equal(t, []state.ServiceSeen{{Service: "other"}, {Service: "svc"}}, obs.Services)
	require.Nil(t, ServedObservation(st, holding[3:], t0), "no group holds the state: nothing to record")

	cmd, err := state.EventCommand(obs, t0, "controller")
	require.NoError(t, err)
	_, err = f.apply(cmd)
	require.NoError(t, err)
	st = f.State()
	holding[0].AckedIndex, holding[2].AckedIndex = st.Index, st.Index
	require.Nil(t, ServedObservation(st, holding, t0.Add(time.Minute)), "every group recorded lately: no command")
	again := ServedObservation(st, holding, t0.Add(servedRefresh))
	require.Len(t, again.Services, 2, "a record due a refresh is observed again")
	require.Equal(t, t0, again.Services[0].Seen, "guarded by the record as read")
	holding = append(holding, GroupAck{Node: "n4", Group: "c", AckedIndex: st.Index, Streams: 1})
	require.Equal(t, []string{"a", "b", "c"}, ServedObservation(st, holding, t0.Add(time.Minute)).Groups, "a new group is recorded at once")
}

// switchFleet is a fleet the test changes: a leader change drops every
// stream until the proxies reconnect.
type switchFleet struct {
	mu     sync.Mutex
	f      *fakeCluster
	groups []string
}

func (s *switchFleet) set(groups ...string) {
	s.mu.Lock()
	s.groups = groups
	s.mu.Unlock()
}

func (s *switchFleet) Observe(context.Context) ([]GroupAck, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []GroupAck
	for _, g := range s.groups {
		out = append(out, GroupAck{Node: "n1", Group: g, AckedIndex: s.f.State().Index, Streams: 1})
	}
	return out, nil
}

// TestFirstStepWaitsForTheGroupsThatServeTheService: the leader records
// the groups holding the services' config; a release started while none
// of them has reconnected (right after a leader change) does not pass its
// first step with 0 proxy groups: it waits for the group, and after
// ackTimeout the ACK says the group is no longer expected.
func TestFirstStepWaitsForTheGroupsThatServeTheService(t *testing.T) {
	world, release, _ := strings.Cut(loopWorld, "---\napiVersion: sluice.dev/v1alpha1\nkind: Release")
	release = "apiVersion: sluice.dev/v1alpha1\nkind: Release" + release
	for _, reconnects := range []bool{true, false} {
		f := newFakeCluster(t, world)
		clock := &fakeClock{now: t0}
		fleet := &switchFleet{f: f, groups: []string{"edge/eu/"}}
		c := New(f, Deps{Acks: fleet, Analyzer: &fakeAnalyzer{}, Exposure: planEstimator{}}, Options{Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
		ctx, cancel := context.WithCancel(context.Background())
		tick := func() { c.tick(ctx); c.wg.Wait() }
		tick()
		require.Equal(t, []string{"edge/eu/"}, f.State().ServedBy("svc", clock.Now()), "the group holding the config is recorded")

		fleet.set() // a leader change: no stream yet
		docs, err := config.Parse("r.yaml", []byte(release))
		require.NoError(t, err)
		cmd, err := state.NewCommand(state.CmdApply, clock.Now(), "alice", state.ApplyPayload{Documents: docs})
		require.NoError(t, err)
		_, err = f.apply(cmd)
		require.NoError(t, err)
		clock.advance(time.Second)
		tick()
		r := f.State().Releases["r"]
		require.Equal(t, state.PhaseProgressing, r.Status.Phase)
		require.Equal(t, []string{"edge/eu/"}, r.Status.ExpectedGroups)
		for range 5 {
			clock.advance(5 * time.Second)
			tick()
			require.False(t, f.State().Releases["r"].Status.Acked, "no ACK with 0 proxy groups while edge/eu/ is expected")
		}
		if reconnects {
			fleet.set("edge/eu/")
		}
		clock.advance(5 * time.Second)
		tick()
		r = f.State().Releases["r"]
		require.True(t, r.Status.Acked)
		d := r.Status.Decisions[len(r.Status.Decisions)-1]
		if reconnects {
			require.Equal(t, "step 1 (10%) applied: 1 proxy group(s), 1 stream(s) hold state index "+strconv.FormatUint(r.Status.StepIndex, 10), d.Message)
		} else {
			require.Contains(t, d.Message, "0 proxy group(s)")
			require.Contains(t, d.Message, "; no longer expected (no stream on any live node within 30s): edge/eu/")
		}
		cancel()
	}
}
