package notify

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

var now = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func rolledBack() state.Notice {
	return state.Notice{ID: "42.1", Event: config.EventReleaseRolledBack, Time: now, Index: 42, Actor: "controller",
		Release: "r1", Service: "greeter", Phase: "RolledBack", Step: 1, Steps: 3, Weight: 0, From: "v1", To: "v2",
		Message: "burn rule fast fired", Verdict: json.RawMessage(`{"phase":"Failed"}`)}
}

func notifier(spec config.NotifierSpec) *config.Notifier {
	return &config.Notifier{Kind: config.KindNotifier, Metadata: config.Metadata{Name: "n"}, Spec: spec}
}

func TestWebhookSignedBody(t *testing.T) {
	n := notifier(config.NotifierSpec{Type: config.NotifierWebhook, URL: "http://h/x", SecretEnv: "K"})
	req, err := Build(n, rolledBack(), Secrets{Key: "s3cret"}, now)
	require.NoError(t, err)
	require.Equal(t, "http://h/x", req.URL)
	require.Equal(t, "42.1", req.Header.Get(HeaderEventID))
	require.Equal(t, "release.rolled-back", req.Header.Get(HeaderEvent))
	ts := req.Header.Get(HeaderTimestamp)
	require.Equal(t, "1796205600", ts)
	sig := req.Header.Get(HeaderSignature)
	require.True(t, Verify([]byte("s3cret"), ts, req.Body, sig))
	require.False(t, Verify([]byte("other"), ts, req.Body, sig), "another key")
	require.False(t, Verify([]byte("s3cret"), "1796205601", req.Body, sig), "another timestamp: a replay with a new time fails")
	require.False(t, Verify([]byte("s3cret"), ts, append(req.Body, ' '), sig), "another body")
	// The signature is HMAC-SHA256 of "<timestamp>.<body>", hex encoded
	// (the figure is openssl's: printf '1.{}' | openssl dgst -sha256 -hmac k).
	require.Equal(t, "sha256=3dd49b2593d0f9a349e9e71c4bde3e2b862c2be4003fe9b4ba81332029310158", Sign([]byte("k"), "1", []byte("{}")))

	var body map[string]any
	require.NoError(t, json.Unmarshal(req.Body, &body))
	require.Equal(t, Schema, body["schema"])
	require.Equal(t, "42.1", body["id"])
	require.Equal(t, "greeter", body["service"])
	require.Equal(t, map[string]any{"phase": "Failed"}, body["verdict"])
}

func TestWebhookRefusesMissingSecret(t *testing.T) {
	n := notifier(config.NotifierSpec{Type: config.NotifierWebhook, URL: "http://h/x", SecretEnv: "K"})
	_, err := Build(n, rolledBack(), Secrets{}, now)
	require.ErrorIs(t, err, ErrMissingSecret, "an unsigned body is not sent when a key is configured")
	n = notifier(config.NotifierSpec{Type: config.NotifierWebhook, URLEnv: "U"})
	_, err = Build(n, rolledBack(), Secrets{}, now)
	require.ErrorIs(t, err, ErrMissingSecret)
	req, err := Build(n, rolledBack(), Secrets{URL: "http://env/url"}, now)
	require.NoError(t, err)
	require.Equal(t, "http://env/url", req.URL)
	require.Empty(t, req.Header.Get(HeaderSignature), "no key, no signature")
}

func TestSlackFormat(t *testing.T) {
	n := notifier(config.NotifierSpec{Type: config.NotifierSlack, URLEnv: "SLACK"})
	notice := rolledBack()
	notice.Message = "error ratio <0.5> & rising"
	req, err := Build(n, notice, Secrets{URL: "https://hooks.slack.test/T/B/X"}, now)
	require.NoError(t, err)
	require.Equal(t, "https://hooks.slack.test/T/B/X", req.URL)
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"text"`
			Elements []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	require.NoError(t, json.Unmarshal(req.Body, &msg))
	require.Equal(t, "Release r1 of greeter (v1 → v2) was rolled back at step 1/3 (0%): error ratio <0.5> & rising", msg.Text)
	require.Len(t, msg.Blocks, 2)
	require.Equal(t, "section", msg.Blocks[0].Type)
	require.Equal(t, "mrkdwn", msg.Blocks[0].Text.Type)
	require.Contains(t, msg.Blocks[0].Text.Text, "error ratio &lt;0.5&gt; &amp; rising", "mrkdwn markup escaped")
	require.Equal(t, "context", msg.Blocks[1].Type)
	require.Equal(t, "release.rolled-back · phase RolledBack · step 1/3 at 0% · id 42.1", msg.Blocks[1].Elements[0].Text)
}

func TestPagerDutyFormat(t *testing.T) {
	n := notifier(config.NotifierSpec{Type: config.NotifierPagerDuty, RoutingKeyEnv: "PD"})
	_, err := Build(n, rolledBack(), Secrets{}, now)
	require.ErrorIs(t, err, ErrMissingSecret)
	req, err := Build(n, rolledBack(), Secrets{RoutingKey: "R0UT1NG"}, now)
	require.NoError(t, err)
	require.Equal(t, config.DefaultPagerDutyURL, req.URL)
	var ev map[string]any
	require.NoError(t, json.Unmarshal(req.Body, &ev))
	require.Equal(t, "R0UT1NG", ev["routing_key"])
	require.Equal(t, "trigger", ev["event_action"])
	require.Equal(t, "sluice/release/r1", ev["dedup_key"])
	p := ev["payload"].(map[string]any)
	require.Equal(t, "error", p["severity"])
	require.Equal(t, "sluice", p["source"])
	require.Equal(t, "greeter", p["component"])
	require.Equal(t, "release.rolled-back", p["class"])
	require.Contains(t, p["summary"], "was rolled back")
	require.Equal(t, "42.1", p["custom_details"].(map[string]any)["id"])

	n.Spec.URL = "http://127.0.0.1:9/enqueue"
	req, err = Build(n, rolledBack(), Secrets{RoutingKey: "R"}, now)
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:9/enqueue", req.URL)
}

func TestSummary(t *testing.T) {
	held := state.Notice{Event: config.EventReleaseHeld, Release: "r", Service: "s", From: "a", To: "b", Step: 2, Steps: 4, Weight: 25,
		Hold: &state.Hold{Kind: state.HoldAckTimeout, Message: "2 proxy groups did not ACK"}}
	require.Equal(t, "Release r of s (a → b) is held at step 2/4 (25%): 2 proxy groups did not ACK", Summary(held))
	require.Equal(t, "Train t is rolling back", Summary(state.Notice{Event: config.EventTrainRollingBack, Train: "t"}))
	for _, e := range config.NotifyEvents {
		_, ok := verbs[e]
		require.True(t, ok, "a verb for %s", e)
	}
}
