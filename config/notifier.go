package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Notifier sends release and train events to people: a generic JSON
// webhook signed with HMAC-SHA256, a Slack incoming webhook, or PagerDuty
// Events v2. Secrets (Slack's URL, the HMAC key, PagerDuty's routing key)
// are never part of the document: it names environment variables that the
// leader reads when it delivers (docs/notifications.md).
type Notifier struct {
	APIVersion string       `json:"apiVersion"`
	Kind       Kind         `json:"kind"`
	Metadata   Metadata     `json:"metadata"`
	Spec       NotifierSpec `json:"spec"`
}

// NotifierType is the wire format a notifier speaks.
type NotifierType string

// Notifier types.
const (
	// NotifierWebhook POSTs the event as Sluice's JSON schema, signed.
	NotifierWebhook NotifierType = "webhook"
	// NotifierSlack POSTs a Slack incoming-webhook message (text + blocks).
	NotifierSlack NotifierType = "slack"
	// NotifierPagerDuty sends PagerDuty Events v2 (trigger on rollbacks).
	NotifierPagerDuty NotifierType = "pagerduty"
)

// NotifierTypes lists every notifier type.
var NotifierTypes = []NotifierType{NotifierWebhook, NotifierSlack, NotifierPagerDuty}

// NotifyEvent is the kind of one notification. The state machine derives
// notifications from the decisions it applies and names each with one of
// these (state/notify.go); filters and receivers match on them.
type NotifyEvent string

// Notification events.
const (
	EventReleaseStarted       NotifyEvent = "release.started"
	EventReleaseStepAdvanced  NotifyEvent = "release.step-advanced"
	EventReleaseHeld          NotifyEvent = "release.held"
	EventReleaseNeedsApproval NotifyEvent = "release.needs-approval"
	EventReleasePromoted      NotifyEvent = "release.promoted"
	EventReleaseRollingBack   NotifyEvent = "release.rolling-back"
	EventReleaseRolledBack    NotifyEvent = "release.rolled-back"
	EventReleaseAborted       NotifyEvent = "release.aborted"
	EventReleaseScheduled     NotifyEvent = "release.scheduled"
	EventTrainStarted         NotifyEvent = "train.started"
	EventTrainPaused          NotifyEvent = "train.paused"
	EventTrainRollingBack     NotifyEvent = "train.rolling-back"
	EventTrainPromoted        NotifyEvent = "train.promoted"
	EventTrainRolledBack      NotifyEvent = "train.rolled-back"
	EventTrainAborted         NotifyEvent = "train.aborted"
)

// NotifyEvents lists every notification event.
var NotifyEvents = []NotifyEvent{
	EventReleaseStarted, EventReleaseStepAdvanced, EventReleaseHeld, EventReleaseNeedsApproval,
	EventReleasePromoted, EventReleaseRollingBack, EventReleaseRolledBack, EventReleaseAborted, EventReleaseScheduled,
	EventTrainStarted, EventTrainPaused, EventTrainRollingBack, EventTrainPromoted, EventTrainRolledBack, EventTrainAborted,
}

// PagerDutyDefaultEvents are what a pagerduty notifier without events
// sends: the rollbacks, which page someone (a gradual rollback pages when
// it starts; its end updates the same alert).
var PagerDutyDefaultEvents = []NotifyEvent{EventReleaseRollingBack, EventReleaseRolledBack, EventTrainRolledBack}

// NotifierSpec is the body of a Notifier.
type NotifierSpec struct {
	Type NotifierType `json:"type"`
	// URL is where a webhook notifier POSTs (not a secret), or PagerDuty's
	// events endpoint (default DefaultPagerDutyURL). Exactly one of URL and
	// URLEnv is set for webhook; slack needs URLEnv.
	URL string `json:"url,omitempty"`
	// URLEnv names the environment variable holding the URL (Slack's
	// incoming-webhook URL is a secret).
	URLEnv string `json:"urlEnv,omitempty"`
	// SecretEnv names the variable holding a webhook's HMAC-SHA256 key;
	// without it the body is not signed.
	SecretEnv string `json:"secretEnv,omitempty"`
	// RoutingKeyEnv names the variable holding PagerDuty's routing key.
	RoutingKeyEnv string `json:"routingKeyEnv,omitempty"`
	// Events filters by event; empty means every event (pagerduty:
	// PagerDutyDefaultEvents).
	Events []NotifyEvent `json:"events,omitempty"`
	// Services and Trains filter by the release's service and train;
	// empty means any. An event passes when it passes both.
	Services []string `json:"services,omitempty"`
	Trains   []string `json:"trains,omitempty"`
	// Timeout bounds one delivery attempt (default DefaultNotifyTimeout).
	Timeout Duration `json:"timeout,omitempty"`
	// RetryInitial and RetryMax bound the exponential backoff between
	// attempts (defaults DefaultRetryInitial, DefaultRetryMax). Delivery
	// is retried until it succeeds or the notifier is deleted.
	RetryInitial Duration `json:"retryInitial,omitempty"`
	RetryMax     Duration `json:"retryMax,omitempty"`
}

// Notifier limits and defaults.
const (
	DefaultNotifyTimeout = 10 * time.Second
	DefaultRetryInitial  = time.Second
	DefaultRetryMax      = 5 * time.Minute
	MinRetryInitial      = 10 * time.Millisecond
	MaxRetry             = time.Hour
	DefaultPagerDutyURL  = "https://events.pagerduty.com/v2/enqueue"
	// MaxNotifierFilter bounds each filter list.
	MaxNotifierFilter = 256
	maxEnvNameLen     = 128
)

// envName is the rule for the *Env fields.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// AttemptTimeout is the bound of one delivery attempt.
func (s *NotifierSpec) AttemptTimeout() time.Duration {
	return durationOr(s.Timeout, DefaultNotifyTimeout)
}

// Backoff returns the first and the longest wait between attempts.
func (s *NotifierSpec) Backoff() (initial, maxWait time.Duration) {
	return durationOr(s.RetryInitial, DefaultRetryInitial), durationOr(s.RetryMax, DefaultRetryMax)
}

func durationOr(d Duration, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d.D()
}

// EventFilter is the events the notifier sends; empty means every one.
func (s *NotifierSpec) EventFilter() []NotifyEvent {
	if len(s.Events) == 0 && s.Type == NotifierPagerDuty {
		return PagerDutyDefaultEvents
	}
	return s.Events
}

// Wants reports whether the notifier sends event e about a release of
// service in train (either may be empty). This is the one filter rule.
func (s *NotifierSpec) Wants(e NotifyEvent, service, train string) bool {
	events := s.EventFilter()
	return (len(events) == 0 || slices.Contains(events, e)) &&
		(len(s.Services) == 0 || slices.Contains(s.Services, service)) &&
		(len(s.Trains) == 0 || slices.Contains(s.Trains, train))
}

// checkNotifier applies the rules for a Notifier's spec.
func checkNotifier(r *reporter, n *Notifier) {
	s := &n.Spec
	switch s.Type {
	case NotifierWebhook:
		if (s.URL == "") == (s.URLEnv == "") {
			r.addf("spec.url", "a webhook notifier needs exactly one of url and urlEnv")
		}
		notWith(r, "spec.routingKeyEnv", s.RoutingKeyEnv != "", s.Type)
	case NotifierSlack:
		if s.URLEnv == "" {
			r.addf("spec.urlEnv", "required: the environment variable holding the Slack incoming-webhook URL (a secret, so it is not written in the document)")
		}
		notWith(r, "spec.url", s.URL != "", s.Type)
		notWith(r, "spec.secretEnv", s.SecretEnv != "", s.Type)
		notWith(r, "spec.routingKeyEnv", s.RoutingKeyEnv != "", s.Type)
	case NotifierPagerDuty:
		if s.RoutingKeyEnv == "" {
			r.addf("spec.routingKeyEnv", "required: the environment variable holding the PagerDuty routing key")
		}
		if s.URL != "" && s.URLEnv != "" {
			r.addf("spec.url", "set at most one of url and urlEnv")
		}
		notWith(r, "spec.secretEnv", s.SecretEnv != "", s.Type)
	case "":
		r.addf("spec.type", "required: one of %s", notifierTypeList())
	default:
		r.addf("spec.type", "unknown notifier type %q: one of %s", s.Type, notifierTypeList())
	}
	if s.URL != "" {
		checkWebhookURL(r, "spec.url", s.URL)
	}
	for _, f := range []struct{ path, v string }{{"spec.urlEnv", s.URLEnv}, {"spec.secretEnv", s.SecretEnv}, {"spec.routingKeyEnv", s.RoutingKeyEnv}} {
		if f.v != "" && (len(f.v) > maxEnvNameLen || !envName.MatchString(f.v)) {
			r.addf(f.path, "invalid environment variable name %q: letters, digits and '_', not starting with a digit, at most %d characters", Clip(f.v, 40), maxEnvNameLen)
		}
	}
	checkNotifyEvents(r, s.Events)
	checkNameList(r, "spec.services", s.Services)
	checkNameList(r, "spec.trains", s.Trains)
	if t := s.Timeout.D(); s.Timeout != 0 && (t < MinWebhookTimeout || t > MaxWebhookTimeout) {
		r.addf("spec.timeout", "must be between %s and %s when set, got %s", MinWebhookTimeout, MaxWebhookTimeout, t)
	}
	initial, maxWait := s.Backoff()
	if s.RetryInitial != 0 && (initial < MinRetryInitial || initial > MaxRetry) {
		r.addf("spec.retryInitial", "must be between %s and %s when set, got %s", MinRetryInitial, MaxRetry, initial)
	}
	switch {
	case s.RetryMax != 0 && maxWait > MaxRetry:
		r.addf("spec.retryMax", "must be at most %s, got %s", MaxRetry, maxWait)
	case maxWait < initial:
		r.addf("spec.retryMax", "must not be shorter than retryInitial (%s), got %s", initial, maxWait)
	}
}

// notWith reports a field that type t does not use.
func notWith(r *reporter, path string, set bool, t NotifierType) {
	if set {
		r.addf(path, "not used by a %s notifier", t)
	}
}

func checkNotifyEvents(r *reporter, events []NotifyEvent) {
	if len(events) > len(NotifyEvents) {
		r.addf("spec.events", "at most %d events are allowed, got %d", len(NotifyEvents), len(events))
		return
	}
	seen := map[NotifyEvent]bool{}
	for i, e := range events {
		path := fmt.Sprintf("spec.events[%d]", i)
		switch {
		case !slices.Contains(NotifyEvents, e):
			r.addf(path, "unknown event %q: one of %s", Clip(string(e), 40), notifyEventList())
		case seen[e]:
			r.addf(path, "duplicate event %q", e)
		}
		seen[e] = true
	}
}

func checkNameList(r *reporter, path string, names []string) {
	if len(names) > MaxNotifierFilter {
		r.addf(path, "at most %d names are allowed, got %d", MaxNotifierFilter, len(names))
		return
	}
	for i, n := range names {
		checkName(r, fmt.Sprintf("%s[%d]", path, i), n)
	}
}

func notifierTypeList() string {
	out := make([]string, len(NotifierTypes))
	for i, t := range NotifierTypes {
		out[i] = string(t)
	}
	return strings.Join(out, ", ")
}

func notifyEventList() string {
	out := make([]string, len(NotifyEvents))
	for i, e := range NotifyEvents {
		out[i] = string(e)
	}
	return strings.Join(out, ", ")
}
