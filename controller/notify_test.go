package controller

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/notify"
	"github.com/sluicehq/sluice/state"
)

func TestBackoffDelay(t *testing.T) {
	low := Backoff{Initial: time.Second, Max: 10 * time.Second, Rand: func() float64 { return 0 }}
	high := low
	high.Rand = func() float64 { return 0.999999 }
	for failures, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 60: 10 * time.Second} {
		require.Equal(t, want/2, low.Delay(failures), "failure %d: half the wait is fixed", failures)
		require.InDelta(t, float64(want), float64(high.Delay(failures)), float64(time.Millisecond), "failure %d: at most the whole wait", failures)
	}
}

const notifyWorld = loopWorld + `---
apiVersion: sluice.dev/v1alpha1
kind: Notifier
metadata: {name: hook}
spec: {type: webhook, url: "http://127.0.0.1:9/hook", retryInitial: 10ms, retryMax: 20ms}
`

// fakeSender fails the first failFirst attempts, then delivers; block,
// when set, holds every attempt until the attempt's context ends.
type fakeSender struct {
	mu        sync.Mutex
	failFirst int
	attempts  int
	got       []string
	block     bool
	entered   chan struct{}
}

func (s *fakeSender) Send(ctx context.Context, _ *config.Notifier, n state.Notice) error {
	s.mu.Lock()
	s.attempts++
	fail, block := s.attempts <= s.failFirst, s.block
	s.mu.Unlock()
	if block {
		if s.entered != nil {
			s.entered <- struct{}{}
		}
		<-ctx.Done()
		return ctx.Err()
	}
	if fail {
		return errors.New("receiver down")
	}
	s.mu.Lock()
	s.got = append(s.got, n.ID)
	s.mu.Unlock()
	return nil
}

func (s *fakeSender) delivered() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func pendingIDs(st *state.State, notifier string) []string {
	var out []string
	for _, n := range st.Outboxes[notifier].Pending {
		out = append(out, n.ID)
	}
	return out
}

func TestDeliverInOrderWithRetriesThenAck(t *testing.T) {
	f := newFakeCluster(t, notifyWorld)
	clock := &fakeClock{now: t0}
	sender := &fakeSender{failFirst: 2}
	var mu sync.Mutex
	outcomes := map[bool]int{}
	c := New(f, Deps{Acks: allAcked{f}, Analyzer: &fakeAnalyzer{}, Exposure: planEstimator{}, Notices: sender},
		Options{Now: clock.Now, Logger: slog.New(slog.DiscardHandler), OnDelivery: func(_ string, err error) {
			mu.Lock()
			outcomes[err == nil]++
			mu.Unlock()
		}})
	r := f.State().Releases["r"]
	apply(t, f, &state.StartRelease{On: state.OnRelease(r, "start")})
	apply(t, f, &state.Abort{On: state.OnRelease(f.State().Releases["r"], "stop")})
	want := pendingIDs(f.State(), "hook")
	require.Len(t, want, 2)

	c.dispatch(context.Background(), f.State())
	c.wg.Wait()
	require.Equal(t, want, sender.delivered(), "in order, each once it was delivered")
	require.Empty(t, f.State().Outboxes["hook"].Pending, "every delivered notice acknowledged")
	require.Equal(t, uint64(2), f.State().Outboxes["hook"].Delivered)
	require.Equal(t, map[bool]int{false: 2, true: 2}, outcomes)
}

func apply(t *testing.T, f *fakeCluster, e state.Event) {
	t.Helper()
	cmd, err := state.EventCommand(e, t0, "test")
	require.NoError(t, err)
	_, err = f.apply(cmd)
	require.NoError(t, err)
}

func TestDeliveryResumesUnderTheNextLeader(t *testing.T) {
	f := newFakeCluster(t, notifyWorld)
	apply(t, f, &state.StartRelease{On: state.OnRelease(f.State().Releases["r"], "start")})
	blocked := &fakeSender{block: true, entered: make(chan struct{}, 1)}
	old := New(f, Deps{Notices: blocked}, Options{Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	old.dispatch(ctx, f.State())
	<-blocked.entered
	// The leader loses its term mid-delivery.
	f.setLeader(false)
	cancel()
	old.wg.Wait()
	require.Len(t, pendingIDs(f.State(), "hook"), 1, "not acknowledged: still in the replicated outbox")

	f.setLeader(true)
	next := &fakeSender{}
	c := New(f, Deps{Notices: next}, Options{Logger: slog.New(slog.DiscardHandler)})
	id := pendingIDs(f.State(), "hook")[0]
	c.dispatch(context.Background(), f.State())
	c.wg.Wait()
	require.Equal(t, []string{id}, next.delivered(), "the next leader delivers it")
	require.Empty(t, f.State().Outboxes["hook"].Pending)
}

func TestHTTPNotifierSignsAndReadsSecretsFromEnv(t *testing.T) {
	type seen struct {
		header http.Header
		body   []byte
	}
	got := make(chan seen, 4)
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Header.Clone(), b}
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	env := map[string]string{"HOOK_URL": srv.URL + "/hook", "HOOK_KEY": "k3y"}
	h := &HTTPNotifier{Now: func() time.Time { return t0 }, Getenv: func(k string) string { return env[k] }}
	n := &config.Notifier{Metadata: config.Metadata{Name: "n"}, Spec: config.NotifierSpec{Type: config.NotifierWebhook, URLEnv: "HOOK_URL", SecretEnv: "HOOK_KEY"}}
	notice := state.Notice{ID: "7.1", Event: config.EventReleasePromoted, Release: "r", Service: "s"}
	require.NoError(t, h.Send(context.Background(), n, notice))
	s := <-got
	require.Equal(t, "7.1", s.header.Get(notify.HeaderEventID))
	require.True(t, notify.Verify([]byte("k3y"), s.header.Get(notify.HeaderTimestamp), s.body, s.header.Get(notify.HeaderSignature)))

	status = http.StatusServiceUnavailable
	require.ErrorIs(t, h.Send(context.Background(), n, notice), ErrNotDelivered)
	<-got

	env["HOOK_URL"] = srv.URL + "/moved"
	status = http.StatusOK
	require.ErrorIs(t, h.Send(context.Background(), n, notice), ErrNotDelivered, "a redirect is not followed: not delivered")
	<-got
	require.Empty(t, got, "the redirect target was not called")

	delete(env, "HOOK_KEY")
	require.ErrorIs(t, h.Send(context.Background(), n, notice), notify.ErrMissingSecret, "fails closed without the key")
}
