// Package notify turns notices (state.Notice) into the requests a
// notifier sends: Sluice's signed JSON webhook, a Slack incoming-webhook
// message, or a PagerDuty Events v2 event. It is pure: no I/O, no clock
// (the caller passes the time), so every format is tested byte for byte.
// The leader's delivery loop (controller/notify.go) sends what it builds.
package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// ErrMissingSecret is returned when a secret the notifier names (its URL,
// HMAC key or routing key) is empty on this node: nothing is sent.
var ErrMissingSecret = errors.New("notifier secret not set")

// Schema names the generic webhook's JSON body version.
const Schema = "sluice.dev/notification/v1"

// Headers of the generic webhook (and the event id on every format).
const (
	HeaderEvent     = "X-Sluice-Event"
	HeaderEventID   = "X-Sluice-Event-Id"
	HeaderTimestamp = "X-Sluice-Timestamp"
	HeaderSignature = "X-Sluice-Signature"
)

// Secrets are what the leader read from its environment for one notifier.
type Secrets struct {
	URL        string
	Key        string
	RoutingKey string
}

// Request is one HTTP POST to make.
type Request struct {
	URL    string
	Body   []byte
	Header http.Header
}

// WebhookBody is the generic webhook's JSON body: the notice's fields and
// the schema name.
type WebhookBody struct {
	Schema string `json:"schema"`
	state.Notice
}

// format builds one notifier type's request.
type format func(n *config.Notifier, notice state.Notice, sec Secrets, now time.Time) (Request, error)

var formats = map[config.NotifierType]format{
	config.NotifierWebhook:   webhook,
	config.NotifierSlack:     slack,
	config.NotifierPagerDuty: pagerDuty,
}

// Build returns the request notifier n makes for notice at time now.
func Build(n *config.Notifier, notice state.Notice, sec Secrets, now time.Time) (Request, error) {
	f, ok := formats[n.Spec.Type]
	if !ok {
		return Request{}, fmt.Errorf("notifier %q: unknown type %q", n.Metadata.Name, n.Spec.Type)
	}
	req, err := f(n, notice, sec, now)
	if err != nil {
		return Request{}, fmt.Errorf("notifier %q: %w", n.Metadata.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sluice-notify")
	req.Header.Set(HeaderEvent, string(notice.Event))
	req.Header.Set(HeaderEventID, notice.ID)
	return req, nil
}

func webhook(n *config.Notifier, notice state.Notice, sec Secrets, now time.Time) (Request, error) {
	url := n.Spec.URL
	if n.Spec.URLEnv != "" {
		url = sec.URL
	}
	if url == "" {
		return Request{}, fmt.Errorf("%w: %s is empty", ErrMissingSecret, n.Spec.URLEnv)
	}
	if n.Spec.SecretEnv != "" && sec.Key == "" {
		return Request{}, fmt.Errorf("%w: %s is empty (the body would go unsigned)", ErrMissingSecret, n.Spec.SecretEnv)
	}
	body, err := json.Marshal(WebhookBody{Schema: Schema, Notice: notice})
	if err != nil {
		return Request{}, err
	}
	h := http.Header{}
	ts := strconv.FormatInt(now.Unix(), 10)
	h.Set(HeaderTimestamp, ts)
	if sec.Key != "" {
		h.Set(HeaderSignature, Sign([]byte(sec.Key), ts, body))
	}
	return Request{URL: url, Body: body, Header: h}, nil
}

// Sign is the generic webhook's signature: "sha256=" and the hex HMAC-SHA256,
// under key, of the timestamp header, a '.', and the raw body.
func Sign(key []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature made by Sign (in constant time).
func Verify(key []byte, timestamp string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(key, timestamp, body)), []byte(signature))
}

// slackMessage is a Slack incoming-webhook body.
type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func slack(n *config.Notifier, notice state.Notice, sec Secrets, _ time.Time) (Request, error) {
	if sec.URL == "" {
		return Request{}, fmt.Errorf("%w: %s is empty", ErrMissingSecret, n.Spec.URLEnv)
	}
	summary := Summary(notice)
	detail := "*" + slackEscape(summary) + "*"
	if notice.Message != "" {
		detail += "\n" + slackEscape(config.Clip(notice.Message, 2500))
	}
	msg := slackMessage{Text: summary, Blocks: []slackBlock{
		{Type: "section", Text: &slackText{Type: "mrkdwn", Text: detail}},
		{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: slackEscape(contextLine(notice))}}},
	}}
	body, err := json.Marshal(msg)
	if err != nil {
		return Request{}, err
	}
	return Request{URL: sec.URL, Body: body, Header: http.Header{}}, nil
}

// slackEscape escapes what Slack's mrkdwn reads as markup.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func contextLine(n state.Notice) string {
	parts := []string{string(n.Event), "phase " + n.Phase}
	if n.Steps > 0 {
		parts = append(parts, fmt.Sprintf("step %d/%d at %d%%", n.Step, n.Steps, n.Weight))
	}
	if n.Hold != nil {
		parts = append(parts, "hold "+string(n.Hold.Kind))
	}
	return strings.Join(append(parts, "id "+n.ID), " · ")
}

// pagerDutyEvent is a PagerDuty Events v2 body.
type pagerDutyEvent struct {
	RoutingKey  string           `json:"routing_key"`
	EventAction string           `json:"event_action"`
	DedupKey    string           `json:"dedup_key"`
	Payload     pagerDutyPayload `json:"payload"`
}

type pagerDutyPayload struct {
	Summary       string       `json:"summary"`
	Source        string       `json:"source"`
	Severity      string       `json:"severity"`
	Timestamp     string       `json:"timestamp"`
	Component     string       `json:"component,omitempty"`
	Group         string       `json:"group,omitempty"`
	Class         string       `json:"class"`
	CustomDetails state.Notice `json:"custom_details"`
}

// pagerDutySeverity is each event's severity; the others are "info".
var pagerDutySeverity = map[config.NotifyEvent]string{
	config.EventReleaseRollingBack:   "error",
	config.EventReleaseRolledBack:    "error",
	config.EventTrainRolledBack:      "error",
	config.EventTrainRollingBack:     "error",
	config.EventReleaseHeld:          "warning",
	config.EventReleaseNeedsApproval: "warning",
}

func pagerDuty(n *config.Notifier, notice state.Notice, sec Secrets, _ time.Time) (Request, error) {
	if sec.RoutingKey == "" {
		return Request{}, fmt.Errorf("%w: %s is empty", ErrMissingSecret, n.Spec.RoutingKeyEnv)
	}
	url := config.DefaultPagerDutyURL
	switch {
	case n.Spec.URLEnv != "" && sec.URL != "":
		url = sec.URL
	case n.Spec.URL != "":
		url = n.Spec.URL
	}
	severity, ok := pagerDutySeverity[notice.Event]
	if !ok {
		severity = "info"
	}
	ev := pagerDutyEvent{RoutingKey: sec.RoutingKey, EventAction: "trigger", DedupKey: dedupKey(notice),
		Payload: pagerDutyPayload{Summary: config.Clip(Summary(notice), 1024), Source: "sluice", Severity: severity,
			Timestamp: notice.Time.UTC().Format(time.RFC3339Nano), Component: notice.Service, Group: notice.Train,
			Class: string(notice.Event), CustomDetails: notice}}
	body, err := json.Marshal(ev)
	if err != nil {
		return Request{}, err
	}
	return Request{URL: url, Body: body, Header: http.Header{}}, nil
}

// dedupKey groups a release's (or train's) events into one PagerDuty
// alert; a notice delivered twice updates the same alert.
func dedupKey(n state.Notice) string {
	if n.Release != "" {
		return "sluice/release/" + n.Release
	}
	return "sluice/train/" + n.Train
}

// verbs say what each event did, for Summary.
var verbs = map[config.NotifyEvent]string{
	config.EventReleaseStarted:       "started",
	config.EventReleaseStepAdvanced:  "advanced",
	config.EventReleaseHeld:          "is held",
	config.EventReleaseNeedsApproval: "needs approval",
	config.EventReleasePromoted:      "was promoted",
	config.EventReleaseRollingBack:   "is rolling back gradually",
	config.EventReleaseRolledBack:    "was rolled back",
	config.EventReleaseAborted:       "was aborted",
	config.EventReleaseScheduled:     "is scheduled",
	config.EventTrainStarted:         "started",
	config.EventTrainPaused:          "is paused",
	config.EventTrainRollingBack:     "is rolling back",
	config.EventTrainPromoted:        "was promoted",
	config.EventTrainRolledBack:      "was rolled back",
	config.EventTrainAborted:         "was aborted",
}

// Summary is one line saying what happened, for people.
func Summary(n state.Notice) string {
	verb, ok := verbs[n.Event]
	if !ok {
		verb = string(n.Event)
	}
	if n.Release == "" {
		return fmt.Sprintf("Train %s %s", n.Train, verb)
	}
	s := fmt.Sprintf("Release %s of %s (%s → %s) %s", n.Release, n.Service, n.From, n.To, verb)
	if n.Steps > 0 && n.Step > 0 {
		s += fmt.Sprintf(" at step %d/%d (%d%%)", n.Step, n.Steps, n.Weight)
	}
	switch {
	case n.Hold != nil && n.Hold.Message != "":
		s += ": " + n.Hold.Message
	case (n.Event == config.EventReleaseRolledBack || n.Event == config.EventReleaseRollingBack) && n.Message != "":
		s += ": " + n.Message
	}
	return s
}
