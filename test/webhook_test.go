package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/controller"
	"github.com/sluicehq/sluice/state"
)

// webhookReceiver answers webhooks by path: /confirm with the status in
// confirm, everything else 200; it keeps every payload.
type webhookReceiver struct {
	confirm atomic.Int32
	mu      sync.Mutex
	got     []controller.WebhookPayload
}

func (w *webhookReceiver) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	var p controller.WebhookPayload
	b, _ := io.ReadAll(req.Body)
	_ = json.Unmarshal(b, &p)
	w.mu.Lock()
	w.got = append(w.got, p)
	w.mu.Unlock()
	if req.URL.Path == "/confirm" {
		rw.WriteHeader(int(w.confirm.Load()))
		_, _ = io.WriteString(rw, "confirmation pending")
		return
	}
	_, _ = io.WriteString(rw, "ok")
}

func (w *webhookReceiver) types() map[config.WebhookType]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[config.WebhookType]int{}
	for _, p := range w.got {
		out[p.Type]++
	}
	return out
}

// TestWebhookGates: on a 3-node cluster with real Prometheus and grpc-go
// traffic, a release whose confirm-promotion webhook answers 500 holds at
// its last step; once the receiver answers 200 it is promoted. The
// pre-rollout, rollout and post-rollout webhooks are called, and the
// history (API and CLI) records every call with its status.
func TestWebhookGates(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and server processes")
	}
	recv := &webhookReceiver{}
	recv.confirm.Store(http.StatusInternalServerError)
	srv := httptest.NewServer(recv)
	defer srv.Close()

	e := newReleaseEnv(t, "gated")
	eventually(t, 30*time.Second, "prometheus scrapes the backends", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return e.prom.WaitForSeries(ctx, `requests_total{service="gated"}`)
	})
	leader, followers := splitLeader(t, e.procs)
	policy := e.releaseYAML("gated", "[{weight: 20, bake: 2s}, {weight: 60, bake: 2s}]") + fmt.Sprintf(`  webhooks:
    - {name: smoke, type: pre-rollout, url: "%[1]s/smoke", timeout: 2s, metadata: {suite: smoke}}
    - {name: load, type: rollout, url: "%[1]s/load", timeout: 2s}
    - {name: confirm, type: confirm-promotion, url: "%[1]s/confirm", timeout: 2s}
    - {name: notify, type: post-rollout, url: "%[1]s/notify", timeout: 2s}
`, srv.URL)
	_, err := followers[0].client().Apply(ctxT(t), "gated.yaml", []byte(policy))
	require.NoError(t, err)
	l := e.load("gated", followers[0], 100)
	waitTraffic(t, l, "v1")
	_, err = followers[1].client().StartRelease(ctxT(t), releaseSpec("gated-v2", "gated", "v2"))
	require.NoError(t, err)

	r := e.waitRelease(leader, "gated-v2", 60*time.Second, "held by confirm-promotion at the last step", func(r *state.Release) bool {
		return r.Status.Step == 1 && r.HeldFor(state.HoldWebhook)
	})
	require.Equal(t, state.PhaseProgressing, r.Status.Phase)
	require.Equal(t, uint32(60), r.Status.Weight, "not promoted while the webhook answers 500")
	held := lastWith(r, config.WebhookConfirmPromotion)
	require.NotNil(t, held)
	require.Equal(t, state.DecisionAnalysis, held.Action)
	require.Equal(t, http.StatusInternalServerError, held.Webhooks.Calls[0].Status)
	require.Equal(t, state.WebhookErrStatus, held.Webhooks.Calls[0].Error)
	require.Equal(t, "confirmation pending", held.Webhooks.Calls[0].Body)

	recv.confirm.Store(http.StatusOK)
	r = e.waitRelease(leader, "gated-v2", 60*time.Second, "promoted once confirmed", phaseIs(state.PhasePromoted))
	waitTraffic(t, l, "v2")
	promoted := lastWith(r, config.WebhookConfirmPromotion)
	require.Equal(t, state.DecisionPromote, promoted.Action)
	require.Equal(t, http.StatusOK, promoted.Webhooks.Calls[0].Status)

	r = e.waitRelease(leader, "gated-v2", 30*time.Second, "post-rollout recorded", func(r *state.Release) bool {
		return lastWith(r, config.WebhookPostRollout) != nil
	})
	for _, typ := range []config.WebhookType{config.WebhookPreRollout, config.WebhookRollout, config.WebhookPostRollout} {
		d := lastWith(r, typ)
		require.NotNil(t, d, "%s recorded", typ)
		require.Equal(t, http.StatusOK, d.Webhooks.Calls[0].Status, "%s", typ)
		require.Equal(t, srv.URL+"/"+d.Webhooks.Calls[0].Name, d.Webhooks.Calls[0].URL)
	}
	n := recv.types()
	require.Equal(t, 1, n[config.WebhookPreRollout])
	require.Equal(t, 2, n[config.WebhookRollout], "once per step")
	require.GreaterOrEqual(t, n[config.WebhookConfirmPromotion], 2)
	require.Equal(t, 1, n[config.WebhookPostRollout])

	out, err := exec.Command(sluiceBin, "--server", leader.api, "--token", leader.token, "release", "history", "gated-v2").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "confirm-promotion webhook confirm: POST "+srv.URL+"/confirm -> HTTP 500")
	require.Contains(t, string(out), "confirm-promotion webhook confirm: POST "+srv.URL+"/confirm -> HTTP 200")
	require.Contains(t, string(out), "post-rollout webhook notify: POST "+srv.URL+"/notify -> HTTP 200")
}

// lastWith is the latest decision carrying calls of webhook type t.
func lastWith(r *state.Release, t config.WebhookType) *state.Decision {
	for i := len(r.Status.Decisions) - 1; i >= 0; i-- {
		if w := r.Status.Decisions[i].Webhooks; w != nil && w.Type == t {
			return &r.Status.Decisions[i]
		}
	}
	return nil
}
