package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWebhookRules(t *testing.T) {
	good := func() []WebhookSpec {
		return []WebhookSpec{
			{Name: "smoke test", Type: WebhookPreRollout, URL: "http://smoke:8080/", Timeout: dur("5s"), Metadata: map[string]string{"suite": "smoke"}},
			{Name: "load", Type: WebhookRollout, URL: "https://loadtester.example.com/run?svc=web", OnFailure: WebhookRollback},
			{Name: "confirm", Type: WebhookConfirmPromotion, URL: "http://gate/confirm", OnFailure: WebhookHold},
			{Name: "notify", Type: WebhookPostRollout, URL: "http://chat/notify"},
		}
	}
	long := strings.Repeat("k", MaxWebhookMetadataBytes+1)
	tests := []struct {
		name   string
		mutate func(ws []WebhookSpec) []WebhookSpec
		want   []string
	}{
		{name: "every type, valid", mutate: func(ws []WebhookSpec) []WebhookSpec { return ws }},
		{name: "none", mutate: func([]WebhookSpec) []WebhookSpec { return nil }},
		{name: "duplicate name", mutate: func(ws []WebhookSpec) []WebhookSpec { ws[1].Name = "smoke test"; return ws },
			want: []string{`spec.webhooks[1].name: duplicate webhook name "smoke test" (also spec.webhooks[0])`}},
		{name: "name missing", mutate: func(ws []WebhookSpec) []WebhookSpec { ws[0].Name = ""; return ws },
			want: []string{`spec.webhooks[0].name: required: a name for the webhook, e.g. "load-test"`}},
		{name: "name with a control character", mutate: func(ws []WebhookSpec) []WebhookSpec { ws[0].Name = "a\nb"; return ws },
			want: []string{`spec.webhooks[0].name: must be printable text without control characters`}},
		{name: "type missing", mutate: func(ws []WebhookSpec) []WebhookSpec { ws[0].Type = ""; return ws },
			want: []string{`spec.webhooks[0].type: required: one of pre-rollout, rollout, confirm-promotion, post-rollout`}},
		{name: "unknown type", mutate: func(ws []WebhookSpec) []WebhookSpec { ws[0].Type = "confirm-rollout"; return ws },
			want: []string{`spec.webhooks[0].type: unknown webhook type "confirm-rollout": one of pre-rollout, rollout, confirm-promotion, post-rollout`}},
		{name: "url missing", mutate: func(ws []WebhookSpec) []WebhookSpec { ws[0].URL = ""; return ws },
			want: []string{`spec.webhooks[0].url: required: the http:// or https:// address Sluice POSTs to`}},
		{name: "url with another scheme", mutate: func(ws []WebhookSpec) []WebhookSpec { ws[0].URL = "ftp://smoke/"; return ws },
			want: []string{`spec.webhooks[0].url: invalid URL "ftp://smoke/": want http:// or https:// followed by host[:port] and a path, e.g. "http://loadtester:8080/gate"`}},
		{name: "url without host", mutate: func(ws []WebhookSpec) []WebhookSpec { ws[0].URL = "http:///x"; return ws },
			want: []string{`spec.webhooks[0].url: invalid URL "http:///x": want http:// or https:// followed by host[:port] and a path, e.g. "http://loadtester:8080/gate"`}},
		{name: "url with credentials", mutate: func(ws []WebhookSpec) []WebhookSpec { ws[0].URL = "http://u:p@smoke/"; return ws },
			want: []string{`spec.webhooks[0].url: invalid URL "http://u:p@smoke/": credentials in the URL are not supported (they would be recorded with every call)`}},
		{name: "timeout too short", mutate: func(ws []WebhookSpec) []WebhookSpec { ws[0].Timeout = dur("10ms"); return ws },
			want: []string{`spec.webhooks[0].timeout: must be between 100ms and 1m0s when set, got 10ms`}},
		{name: "timeout too long", mutate: func(ws []WebhookSpec) []WebhookSpec { ws[0].Timeout = dur("2m"); return ws },
			want: []string{`spec.webhooks[0].timeout: must be between 100ms and 1m0s when set, got 2m0s`}},
		{name: "unknown failure action", mutate: func(ws []WebhookSpec) []WebhookSpec { ws[0].OnFailure = "fail"; return ws },
			want: []string{`spec.webhooks[0].onFailure: unknown action "fail": "hold" or "rollback"`}},
		{name: "failure action on post-rollout", mutate: func(ws []WebhookSpec) []WebhookSpec { ws[3].OnFailure = WebhookRollback; return ws },
			want: []string{`spec.webhooks[3].onFailure: not allowed on a post-rollout webhook: it runs after the release ended, and its answer is only recorded`}},
		{name: "metadata value too long", mutate: func(ws []WebhookSpec) []WebhookSpec { ws[0].Metadata["cmd"] = long; return ws },
			want: []string{`spec.webhooks[0].metadata: key "cmd": keys and values may be at most 1024 bytes long`}},
		{name: "too many webhooks", mutate: func(ws []WebhookSpec) []WebhookSpec {
			for i := len(ws); i <= MaxWebhooks; i++ {
				ws = append(ws, WebhookSpec{Name: "n" + strings.Repeat("x", i), Type: WebhookPostRollout, URL: "http://chat/"})
			}
			return ws
		}, want: []string{`spec.webhooks: at most 16 webhooks are allowed, got 17`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := ReleasePolicySpec{Services: []string{"web"}}
			spec.Webhooks = tt.mutate(good())
			require.Equal(t, tt.want, policyErrors(spec))
		})
	}
}

// TestWebhookErrorsHavePositions: a bad webhook in a file is reported at
// its line and column, and nothing is returned.
func TestWebhookErrorsHavePositions(t *testing.T) {
	src := `apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata:
  name: p
spec:
  services: [web]
  webhooks:
    - name: load
      type: rollout
      url: http://loadtester/
    - name: load
      type: confirm-promotion
      url: gopher://gate/
      timeout: 5m
`
	docs, err := Parse("policy.yaml", []byte(src))
	require.Nil(t, docs)
	errs, ok := AsErrors(err)
	require.True(t, ok, "%v", err)
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	require.Equal(t, []string{
		`policy.yaml:11:13: ReleasePolicy "p": spec.webhooks[1].name: duplicate webhook name "load" (also spec.webhooks[0])`,
		`policy.yaml:13:12: ReleasePolicy "p": spec.webhooks[1].url: invalid URL "gopher://gate/": want http:// or https:// followed by host[:port] and a path, e.g. "http://loadtester:8080/gate"`,
		`policy.yaml:14:16: ReleasePolicy "p": spec.webhooks[1].timeout: must be between 100ms and 1m0s when set, got 5m0s`,
	}, got)
}

func TestWebhookDefaults(t *testing.T) {
	spec := ReleasePolicySpec{Services: []string{"web"}, Webhooks: []WebhookSpec{
		{Name: "a", Type: WebhookRollout, URL: "http://a/"},
		{Name: "b", Type: WebhookPostRollout, URL: "http://b/"},
		{Name: "c", Type: WebhookRollout, URL: "http://c/", Timeout: dur("2s"), OnFailure: WebhookRollback},
	}}
	out := PolicyDefaults(&spec)
	require.Equal(t, Duration(DefaultWebhookTimeout), out.Webhooks[0].Timeout)
	require.Equal(t, WebhookHold, out.Webhooks[0].OnFailure)
	require.Equal(t, WebhookFailure(""), out.Webhooks[1].OnFailure, "post-rollout never holds")
	require.Equal(t, Duration(2*time.Second), out.Webhooks[2].Timeout)
	require.Equal(t, WebhookRollback, out.Webhooks[2].OnFailure)
	require.Equal(t, Duration(0), spec.Webhooks[0].Timeout, "the input is not changed")
	require.Equal(t, []string{"a", "c"}, names(WebhooksOf(&out, WebhookRollout)))
}

func names(ws []WebhookSpec) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Name)
	}
	return out
}

// TestWebhooksRoundTrip: a policy's webhooks written as YAML read back
// the same.
func TestWebhooksRoundTrip(t *testing.T) {
	src := `apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: p}
spec:
  services: [web]
  webhooks:
    - {name: load test, type: rollout, url: "http://loadtester/?q=1", timeout: 3s, metadata: {cmd: "hey -z 1m"}, onFailure: rollback}
    - {name: notify, type: post-rollout, url: "https://chat.example.com/hook"}
`
	docs, err := Parse("p.yaml", []byte(src))
	require.NoError(t, err)
	out, err := EncodeYAML(docs[0].ReleasePolicy)
	require.NoError(t, err)
	again, err := Parse("again.yaml", out)
	require.NoError(t, err, string(out))
	require.Equal(t, docs[0].ReleasePolicy.Spec.Webhooks, again[0].ReleasePolicy.Spec.Webhooks)
	require.Len(t, again[0].ReleasePolicy.Spec.Webhooks, 2)
}
