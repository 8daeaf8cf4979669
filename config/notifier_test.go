package config

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const notifierYAML = `apiVersion: sluice.dev/v1alpha1
kind: Notifier
metadata:
  name: ops
spec:
  type: webhook
  url: https://hooks.example.com/sluice
  secretEnv: SLUICE_HOOK_KEY
  events: [release.rolled-back, release.held]
  services: [web]
  timeout: 2s
`

func TestNotifierParses(t *testing.T) {
	docs, err := Parse("n.yaml", []byte(notifierYAML))
	require.NoError(t, err)
	require.Len(t, docs, 1)
	n := docs[0].Notifier
	require.NotNil(t, n)
	require.Equal(t, KindNotifier, docs[0].Kind)
	require.Equal(t, NotifierWebhook, n.Spec.Type)
	require.Equal(t, []NotifyEvent{EventReleaseRolledBack, EventReleaseHeld}, n.Spec.Events)
	require.Equal(t, "2s", n.Spec.AttemptTimeout().String())
	initial, maxWait := n.Spec.Backoff()
	require.Equal(t, DefaultRetryInitial, initial)
	require.Equal(t, DefaultRetryMax, maxWait)
}

func TestNotifierErrors(t *testing.T) {
	edit := func(old, new string) string {
		require.Contains(t, notifierYAML, old)
		return strings.Replace(notifierYAML, old, new, 1)
	}
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"unknown type", edit("type: webhook", "type: teams"),
			[]string{`n.yaml:6:9: Notifier "ops": spec.type: unknown notifier type "teams": one of webhook, slack, pagerduty`}},
		{"unknown event", edit("release.held]", "release.hold]"),
			[]string{`n.yaml:9:33: Notifier "ops": spec.events[1]: unknown event "release.hold": one of ` + notifyEventList()}},
		{"url and urlEnv", edit("  secretEnv:", "  urlEnv: HOOK_URL\n  secretEnv:"),
			[]string{`n.yaml:7:8: Notifier "ops": spec.url: a webhook notifier needs exactly one of url and urlEnv`}},
		{"slack url in the document", edit("type: webhook", "type: slack"),
			[]string{
				`n.yaml:5:1: Notifier "ops": spec.urlEnv: required: the environment variable holding the Slack incoming-webhook URL (a secret, so it is not written in the document)`,
				`n.yaml:7:8: Notifier "ops": spec.url: not used by a slack notifier`,
				`n.yaml:8:14: Notifier "ops": spec.secretEnv: not used by a slack notifier`,
			}},
		{"pagerduty without key", edit("type: webhook", "type: pagerduty"),
			[]string{
				`n.yaml:5:1: Notifier "ops": spec.routingKeyEnv: required: the environment variable holding the PagerDuty routing key`,
				`n.yaml:8:14: Notifier "ops": spec.secretEnv: not used by a pagerduty notifier`,
			}},
		{"bad env name", edit("SLUICE_HOOK_KEY", "9-KEY"),
			[]string{`n.yaml:8:14: Notifier "ops": spec.secretEnv: invalid environment variable name "9-KEY": letters, digits and '_', not starting with a digit, at most 128 characters`}},
		{"bad service name", edit("[web]", "[Web]"),
			[]string{`n.yaml:10:14: Notifier "ops": spec.services[0]: invalid name "Web": use lowercase letters, digits and '-', starting and ending with a letter or digit`}},
		{"retry bounds", edit("timeout: 2s", "timeout: 2s\n  retryInitial: 10s\n  retryMax: 5s"),
			[]string{`n.yaml:13:13: Notifier "ops": spec.retryMax: must not be shorter than retryInitial (10s), got 5s`}},
		{"credentials in the url", edit("https://hooks", "https://u:p@hooks"),
			[]string{`n.yaml:7:8: Notifier "ops": spec.url: invalid URL "https://u:p@hooks.example.com/sluice": credentials in the URL are not supported (they would be recorded with every call)`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := Parse("n.yaml", []byte(tc.input))
			require.Nil(t, docs)
			require.Equal(t, tc.want, errorLines(t, err))
			require.ErrorIs(t, err, ErrInvalid)
		})
	}
}

func TestNotifierWants(t *testing.T) {
	all := NotifierSpec{Type: NotifierWebhook}
	require.True(t, all.Wants(EventTrainStarted, "", "t1"))
	web := NotifierSpec{Type: NotifierSlack, Services: []string{"web"}, Events: []NotifyEvent{EventReleasePromoted}}
	require.True(t, web.Wants(EventReleasePromoted, "web", ""))
	require.False(t, web.Wants(EventReleasePromoted, "api", ""))
	require.False(t, web.Wants(EventReleaseStarted, "web", ""))
	train := NotifierSpec{Type: NotifierWebhook, Trains: []string{"t1"}}
	require.True(t, train.Wants(EventReleaseHeld, "web", "t1"))
	require.False(t, train.Wants(EventReleaseHeld, "web", ""))
	pd := NotifierSpec{Type: NotifierPagerDuty}
	require.True(t, pd.Wants(EventReleaseRolledBack, "web", ""))
	require.False(t, pd.Wants(EventReleasePromoted, "web", ""))
}

func TestNotifierExample(t *testing.T) {
	src, err := os.ReadFile("../examples/notifiers.yaml")
	require.NoError(t, err)
	docs, err := Parse("notifiers.yaml", src)
	require.NoError(t, err)
	require.Len(t, docs, 3)
	require.NoError(t, Check(docs, newCatalog(t, "")))
}
