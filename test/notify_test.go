package test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/notify"
	"github.com/sluicehq/sluice/state"
)

// pair is one release's event, as a receiver saw it.
type pair struct {
	release string
	event   config.NotifyEvent
}

// receiver is a real local HTTP receiver that counts what it accepted
// (answered 2xx) by event id. check validates a body's shape and returns
// the release it is about; gated receivers hold every answer until open.
type receiver struct {
	t     *testing.T
	srv   *httptest.Server
	check func(h http.Header, body []byte) (string, error)
	// last is the last body accepted for each pair.
	last map[pair][]byte

	mu       sync.Mutex
	accepted map[string]int           // event id -> deliveries answered 200
	pairs    map[pair]map[string]bool // (release, event) -> ids
	bad      []string
	inFlight int
	gate     chan struct{} // nil: open
}

func newReceiver(t *testing.T, gated bool, check func(http.Header, []byte) (string, error)) *receiver {
	r := &receiver{t: t, check: check, accepted: map[string]int{}, pairs: map[pair]map[string]bool{}, last: map[pair][]byte{}}
	if gated {
		r.gate = make(chan struct{})
	}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	release, err := r.check(req.Header, body)
	if err != nil {
		r.mu.Lock()
		r.bad = append(r.bad, err.Error())
		r.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	gate := r.gate
	r.inFlight++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight--
		r.mu.Unlock()
	}()
	if gate != nil {
		select {
		case <-gate:
		case <-req.Context().Done():
			return // the sender gave up (or died): not delivered
		}
	}
	if req.Context().Err() != nil {
		return
	}
	id := req.Header.Get(notify.HeaderEventID)
	r.mu.Lock()
	r.accepted[id]++
	p := pair{release, config.NotifyEvent(req.Header.Get(notify.HeaderEvent))}
	if r.pairs[p] == nil {
		r.pairs[p] = map[string]bool{}
	}
	r.pairs[p][id] = true
	r.last[p] = body
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// body returns the last body accepted for p, nil if none.
func (r *receiver) body(p pair) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last[p]
}

func (r *receiver) open() {
	r.mu.Lock()
	if r.gate != nil {
		close(r.gate)
		r.gate = nil
	}
	r.mu.Unlock()
}

func (r *receiver) waiting() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inFlight
}

// snapshot returns the ids accepted and the pairs seen, and fails on any
// malformed body.
func (r *receiver) snapshot() (map[string]int, map[pair]map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Empty(r.t, r.bad, "every body has the documented shape")
	ids := map[string]int{}
	for k, v := range r.accepted {
		ids[k] = v
	}
	pairs := map[pair]map[string]bool{}
	for k, v := range r.pairs {
		pairs[k] = v
	}
	return ids, pairs
}

// checkWebhook verifies the generic webhook: signature over timestamp and
// body with the shared key, the schema, and the id in body and header.
func checkWebhook(key string) func(http.Header, []byte) (string, error) {
	return func(h http.Header, body []byte) (string, error) {
		if !notify.Verify([]byte(key), h.Get(notify.HeaderTimestamp), body, h.Get(notify.HeaderSignature)) {
			return "", fmt.Errorf("bad signature %q", h.Get(notify.HeaderSignature))
		}
		var b notify.WebhookBody
		if err := json.Unmarshal(body, &b); err != nil {
			return "", err
		}
		if b.Schema != notify.Schema || b.ID != h.Get(notify.HeaderEventID) || b.ID == "" || string(b.Event) != h.Get(notify.HeaderEvent) {
			return "", fmt.Errorf("body %s does not match its headers", body)
		}
		return b.Release, nil
	}
}

// checkSlack validates a Slack incoming-webhook message: text and blocks.
func checkSlack(h http.Header, body []byte) (string, error) {
	var m struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"text"`
			Elements []map[string]string `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return "", err
	}
	if m.Text == "" || len(m.Blocks) != 2 || m.Blocks[0].Type != "section" || m.Blocks[0].Text == nil ||
		m.Blocks[0].Text.Type != "mrkdwn" || m.Blocks[1].Type != "context" || len(m.Blocks[1].Elements) == 0 {
		return "", fmt.Errorf("not a Slack message: %s", body)
	}
	var release string
	if _, err := fmt.Sscanf(m.Text, "Release %s of", &release); err != nil {
		return "", fmt.Errorf("text %q does not name the release", m.Text)
	}
	return release, nil
}

// checkPagerDuty validates a PagerDuty Events v2 trigger.
func checkPagerDuty(routingKey string) func(http.Header, []byte) (string, error) {
	return func(h http.Header, body []byte) (string, error) {
		var ev struct {
			RoutingKey  string `json:"routing_key"`
			EventAction string `json:"event_action"`
			DedupKey    string `json:"dedup_key"`
			Payload     struct {
				Summary  string `json:"summary"`
				Severity string `json:"severity"`
				Source   string `json:"source"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			return "", err
		}
		if ev.RoutingKey != routingKey || ev.EventAction != "trigger" || !strings.HasPrefix(ev.DedupKey, "sluice/release/") ||
			ev.Payload.Summary == "" || ev.Payload.Source == "" ||
			!map[string]bool{"critical": true, "error": true, "warning": true, "info": true}[ev.Payload.Severity] {
			return "", fmt.Errorf("not a PagerDuty Events v2 trigger: %s", body)
		}
		return strings.TrimPrefix(ev.DedupKey, "sluice/release/"), nil
	}
}

func notifyWorldYAML(hook, pd string, services []string) string {
	var b strings.Builder
	for i, svc := range services {
		fmt.Fprintf(&b, `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: %[1]s}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: "127.0.0.1:%[2]d"}]}
    - {name: v2, endpoints: [{address: "127.0.0.1:%[3]d"}]}
---
`, svc, 9100+2*i, 9101+2*i)
	}
	fmt.Fprintf(&b, `apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: notified}
spec:
  services: [%[1]s]
  prometheus: {url: "http://127.0.0.1:9"}
  slo: {objective: 99, errorRatioQuery: 'e{service="{{service}}",version="{{version}}"}', requestsQuery: 'r{service="{{service}}",version="{{version}}"}'}
  analysis: {interval: 10m}
  steps: [{weight: 10, bake: 1h}, {weight: 50, bake: 1h}]
  ackTimeout: 1h
---
apiVersion: sluice.dev/v1alpha1
kind: Notifier
metadata: {name: hook}
spec: {type: webhook, url: %[2]q, secretEnv: SLUICE_E2E_HOOK_KEY, timeout: 3s, retryInitial: 200ms, retryMax: 1s}
---
apiVersion: sluice.dev/v1alpha1
kind: Notifier
metadata: {name: slack}
spec:
  type: slack
  urlEnv: SLUICE_E2E_SLACK_URL
  events: [release.promoted, release.rolled-back]
  services: [%[4]s, %[5]s]
  retryInitial: 200ms
  retryMax: 1s
---
apiVersion: sluice.dev/v1alpha1
kind: Notifier
metadata: {name: pager}
spec: {type: pagerduty, url: %[3]q, routingKeyEnv: SLUICE_E2E_PD_KEY, retryInitial: 200ms, retryMax: 1s}
`, strings.Join(services, ", "), hook, pd, services[0], services[2])
	return b.String()
}

// TestNotificationsSurviveLeaderFailover runs three server processes and
// real local HTTP receivers. Releases start, are promoted and rolled back
// while the generic webhook's receiver holds every answer, so deliveries
// are in flight; the leader is SIGKILLed mid-delivery. The new leader
// delivers what the replicated outbox still holds: every notice arrives at
// least once, none is lost (each outbox ends empty with nothing dropped,
// and its delivered count matches the distinct ids received). The Slack
// and PagerDuty receivers validate their formats and filters.
func TestNotificationsSurviveLeaderFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	const hookKey, pdKey = "e2e-hook-hmac-key", "e2e-pagerduty-routing-key"
	hook := newReceiver(t, true, checkWebhook(hookKey))
	slack := newReceiver(t, false, checkSlack)
	pager := newReceiver(t, false, checkPagerDuty(pdKey))
	// The secrets reach the servers through their environment only.
	t.Setenv("SLUICE_E2E_HOOK_KEY", hookKey)
	t.Setenv("SLUICE_E2E_SLACK_URL", slack.srv.URL+"/services/T/B/X")
	t.Setenv("SLUICE_E2E_PD_KEY", pdKey)

	procs := startCluster(t, 3)
	leader, followers := splitLeader(t, procs)
	cl := followers[0].client()
	services := []string{"n1", "n2", "n3", "n4"}
	_, err := cl.Apply(ctxT(t), "world.yaml", []byte(notifyWorldYAML(hook.srv.URL+"/hook", pager.srv.URL+"/v2/enqueue", services)))
	require.NoError(t, err)
	for _, svc := range services {
		_, err := cl.StartRelease(ctxT(t), releaseSpec(svc+"-v2", svc, "v2"))
		require.NoError(t, err)
	}
	for _, svc := range services {
		waitPhase(t, cl, svc+"-v2", state.PhaseProgressing)
	}
	want := []pair{}
	for i, svc := range services {
		action, end := "promote", config.EventReleasePromoted
		if i >= 2 {
			action, end = "rollback", config.EventReleaseRolledBack
		}
		_, err := cl.ReleaseAction(ctxT(t), svc+"-v2", action, "e2e")
		require.NoError(t, err)
		want = append(want, pair{svc + "-v2", config.EventReleaseStarted}, pair{svc + "-v2", end})
	}

	// The leader is delivering (the receiver holds its answer) and more
	// notices wait behind it: kill it now.
	eventually(t, 30*time.Second, "a webhook delivery in flight", func() error {
		if hook.waiting() == 0 {
			return fmt.Errorf("no delivery waiting at the receiver")
		}
		return nil
	})
	ns, err := cl.Notifiers(ctxT(t))
	require.NoError(t, err)
	require.Greater(t, pendingOf(ns.Items, "hook"), 1, "notices wait behind the one in flight")
	leader.stop(syscall.SIGKILL)
	newLeader := leaderOf(t, followers)
	require.NotEqual(t, leader.id, newLeader.id)
	hook.open()

	eventually(t, 90*time.Second, "every outbox delivered", func() error {
		ns, err := followers[0].client().Notifiers(context.Background())
		if err != nil {
			return err
		}
		for _, n := range ns.Items {
			if n.Pending > 0 {
				return fmt.Errorf("notifier %s: %d pending", n.Name, n.Pending)
			}
		}
		return nil
	})
	ns, err = followers[0].client().Notifiers(ctxT(t))
	require.NoError(t, err)

	ids, pairs := hook.snapshot()
	for _, p := range want {
		require.Len(t, pairs[p], 1, "%s %s received, under one id however often it was delivered", p.release, p.event)
	}
	for id, n := range ids {
		require.GreaterOrEqual(t, n, 1, id)
	}
	requireOutbox(t, ns.Items, "hook", len(ids))

	slackIDs, slackPairs := slack.snapshot()
	require.Equal(t, []pair{{"n1-v2", config.EventReleasePromoted}, {"n3-v2", config.EventReleaseRolledBack}}, pairsOf(slackPairs),
		"slack: only its events of its services")
	requireOutbox(t, ns.Items, "slack", len(slackIDs))

	pagerIDs, pagerPairs := pager.snapshot()
	require.Equal(t, []pair{{"n3-v2", config.EventReleaseRolledBack}, {"n4-v2", config.EventReleaseRolledBack}}, pairsOf(pagerPairs),
		"pagerduty: the rollbacks")
	requireOutbox(t, ns.Items, "pager", len(pagerIDs))
	// The secrets never reached the replicated state: a backup holds only
	// the variables' names.
	backup, err := followers[0].client().Snapshot(ctxT(t), false)
	require.NoError(t, err)
	for _, secret := range []string{hookKey, pdKey, slack.srv.URL} {
		require.NotContains(t, string(backup), secret)
	}
	require.Contains(t, string(backup), "SLUICE_E2E_SLACK_URL")
	out, err := exec.Command(sluiceBin, "--server", followers[0].api, "--token", harnessToken, "notifier", "list").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Regexp(t, `(?m)^pager\s+pagerduty\s+release.rolling-back,release.rolled-back,train.rolled-back\s+all\s+0\s+2\s+0\s+-$`, string(out))

	out, err = exec.Command(sluiceBin, "--server", followers[0].api, "--token", harnessToken, "get", "notifiers").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Regexp(t, `(?m)^slack\s+slack\s+release.promoted,release.rolled-back\s+n1,n3\s+all$`, string(out))
	out, err = exec.Command(sluiceBin, "--server", followers[0].api, "--token", harnessToken, "get", "notifier", "slack", "-o", "yaml").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "urlEnv: SLUICE_E2E_SLACK_URL")

	t.Run("the controller's own hold and rollback carry why and the verdict", func(t *testing.T) {
		// Prometheus cannot be reached: the analysis errs, the release
		// holds, and after errorLimit analyses the controller rolls it back.
		_, err := cl.Apply(ctxT(t), "analysed.yaml", []byte(`apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: n5}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: "127.0.0.1:9200"}]}
    - {name: v2, endpoints: [{address: "127.0.0.1:9201"}]}
---
apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: analysed}
spec:
  services: [n5]
  prometheus: {url: "http://127.0.0.1:9"}
  slo: {objective: 99, errorRatioQuery: 'e{service="{{service}}",version="{{version}}"}', requestsQuery: 'r{service="{{service}}",version="{{version}}"}'}
  analysis: {interval: 1s, errorLimit: 3}
  steps: [{weight: 10, bake: 1h}, {weight: 50, bake: 1h}]
`))
		require.NoError(t, err)
		_, err = cl.StartRelease(ctxT(t), releaseSpec("n5-v2", "n5", "v2"))
		require.NoError(t, err)
		var held, rolled notify.WebhookBody
		eventually(t, 90*time.Second, "n5-v2 held, then rolled back, notified", func() error {
			hb, rb := hook.body(pair{"n5-v2", config.EventReleaseHeld}), hook.body(pair{"n5-v2", config.EventReleaseRolledBack})
			if hb == nil || rb == nil {
				return fmt.Errorf("held %v, rolled back %v", hb != nil, rb != nil)
			}
			require.NoError(t, json.Unmarshal(hb, &held))
			require.NoError(t, json.Unmarshal(rb, &rolled))
			return nil
		})
		require.NotNil(t, held.Hold, "held says why")
		require.NotEmpty(t, held.Hold.Message)
		require.Equal(t, state.HoldAnalysis, held.Hold.Kind)
		require.NotEmpty(t, rolled.Verdict, "the rollback carries its verdict")
		var v struct {
			Phase string `json:"phase"`
		}
		require.NoError(t, json.Unmarshal(rolled.Verdict, &v))
		require.Equal(t, "Error", v.Phase)
		require.Equal(t, "controller:"+newLeader.id, rolled.Actor, "decided by the new leader")
		require.NotNil(t, pager.body(pair{"n5-v2", config.EventReleaseRolledBack}), "and paged")
	})

	t.Logf("webhook: %d notices, %d deliveries accepted; the killed leader was %s, the new one %s",
		len(ids), sum(ids), leader.id, newLeader.id)
}

func waitPhase(t *testing.T, cl interface {
	Release(context.Context, string) (*state.Release, error)
}, name string, phase state.Phase) {
	t.Helper()
	eventually(t, 60*time.Second, name+" "+string(phase), func() error {
		r, err := cl.Release(context.Background(), name)
		if err != nil {
			return err
		}
		if r.Status.Phase != phase {
			return fmt.Errorf("%s is %s", name, r.Status.Phase)
		}
		return nil
	})
}

func pendingOf(items []api.NotifierStatus, name string) int {
	for _, n := range items {
		if n.Name == name {
			return n.Pending
		}
	}
	return -1
}

// requireOutbox: nothing pending, nothing dropped, and every notice
// acknowledged was received (none lost, none acknowledged unreceived).
func requireOutbox(t *testing.T, items []api.NotifierStatus, name string, received int) {
	t.Helper()
	for _, n := range items {
		if n.Name == name {
			require.Zero(t, n.Pending, name)
			require.Zero(t, n.Dropped, name)
			require.Equal(t, uint64(received), n.Delivered, "%s: acknowledged = distinct ids received", name)
			return
		}
	}
	t.Fatalf("no notifier %s", name)
}

func pairsOf(m map[pair]map[string]bool) []pair {
	var out []pair
	for p, ids := range m {
		for range ids {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b pair) int {
		return cmp.Or(cmp.Compare(a.release, b.release), cmp.Compare(a.event, b.event))
	})
	return out
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
