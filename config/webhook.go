package config

import (
	"fmt"
	"net/url"
	"slices"
	"time"
	"unicode"
)

// WebhookType says when a policy's webhook is called.
type WebhookType string

// Webhook types, in the order a release meets them.
const (
	// WebhookPreRollout is called before the first step takes traffic; the
	// release does not start until it answers 2xx.
	WebhookPreRollout WebhookType = "pre-rollout"
	// WebhookRollout is called once per step after the proxies ACKed it,
	// before the step's analysis counts (a load test, for example).
	WebhookRollout WebhookType = "rollout"
	// WebhookConfirmPromotion is called when the last step would be
	// promoted; the release stays at its last step until it answers 2xx.
	WebhookConfirmPromotion WebhookType = "confirm-promotion"
	// WebhookPostRollout is called once after the release was promoted,
	// rolled back or aborted. It is informational: its answer is
	// recorded and never changes the outcome.
	WebhookPostRollout WebhookType = "post-rollout"
)

// WebhookTypes lists every webhook type.
var WebhookTypes = []WebhookType{WebhookPreRollout, WebhookRollout, WebhookConfirmPromotion, WebhookPostRollout}

// WebhookFailure says what a webhook that does not answer 2xx does.
type WebhookFailure string

// Webhook failure actions.
const (
	// WebhookHold holds the release and calls the webhook again after the
	// analysis interval (the default).
	WebhookHold WebhookFailure = "hold"
	// WebhookRollback rolls the release back.
	WebhookRollback WebhookFailure = "rollback"
)

// WebhookSpec is one webhook of a ReleasePolicy: Sluice POSTs a JSON
// body to URL and counts a 2xx answer within Timeout as a pass.
type WebhookSpec struct {
	Name string      `json:"name"`
	Type WebhookType `json:"type"`
	URL  string      `json:"url"`
	// Timeout bounds one call (default DefaultWebhookTimeout).
	Timeout Duration `json:"timeout,omitempty"`
	// Metadata is sent with every call, as is.
	Metadata map[string]string `json:"metadata,omitempty"`
	// OnFailure is what an answer other than 2xx (or none) does: hold
	// (default) or rollback. Not allowed on post-rollout webhooks.
	OnFailure WebhookFailure `json:"onFailure,omitempty"`
}

// Webhook limits and defaults.
const (
	DefaultWebhookTimeout = 10 * time.Second
	MinWebhookTimeout     = 100 * time.Millisecond
	MaxWebhookTimeout     = time.Minute
	// MaxWebhooks is the most webhooks one policy may have.
	MaxWebhooks = 16
	// MaxWebhookMetadata bounds a webhook's metadata: entries, and the
	// bytes of one key or value.
	MaxWebhookMetadata      = 32
	MaxWebhookMetadataBytes = 1024
	maxWebhookNameLen       = 63
	maxWebhookURLLen        = 2048
)

// WebhooksOf returns the policy's webhooks of type t, in order.
func WebhooksOf(spec *ReleasePolicySpec, t WebhookType) []WebhookSpec {
	var out []WebhookSpec
	for _, w := range spec.Webhooks {
		if w.Type == t {
			out = append(out, w)
		}
	}
	return out
}

// webhookDefaults fills a webhook's timeout and failure action.
func webhookDefaults(ws []WebhookSpec) []WebhookSpec {
	out := slices.Clone(ws)
	for i := range out {
		setDuration(&out[i].Timeout, DefaultWebhookTimeout)
		if out[i].OnFailure == "" && out[i].Type != WebhookPostRollout {
			out[i].OnFailure = WebhookHold
		}
	}
	return out
}

// checkWebhooks applies the rules for spec.webhooks.
func checkWebhooks(r *reporter, ws []WebhookSpec) {
	if len(ws) > MaxWebhooks {
		r.addf("spec.webhooks", "at most %d webhooks are allowed, got %d", MaxWebhooks, len(ws))
	}
	seen := map[string]int{}
	for i := range ws {
		path := fmt.Sprintf("spec.webhooks[%d]", i)
		w := &ws[i]
		if first, dup := seen[w.Name]; dup && w.Name != "" {
			r.addf(path+".name", "duplicate webhook name %q (also spec.webhooks[%d])", w.Name, first)
		} else {
			seen[w.Name] = i
		}
		checkWebhook(r, path, w)
	}
}

func checkWebhook(r *reporter, path string, w *WebhookSpec) {
	switch {
	case w.Name == "":
		r.addf(path+".name", "required: a name for the webhook, e.g. \"load-test\"")
	case len(w.Name) > maxWebhookNameLen:
		r.addf(path+".name", "%q is %d characters long, at most %d are allowed", clip(w.Name), len(w.Name), maxWebhookNameLen)
	case !printable(w.Name):
		r.addf(path+".name", "must be printable text without control characters")
	}
	switch w.Type {
	case WebhookPreRollout, WebhookRollout, WebhookConfirmPromotion, WebhookPostRollout:
	case "":
		r.addf(path+".type", "required: one of %s", webhookTypeList())
	default:
		r.addf(path+".type", "unknown webhook type %q: one of %s", w.Type, webhookTypeList())
	}
	checkWebhookURL(r, path+".url", w.URL)
	if t := w.Timeout.D(); w.Timeout != 0 && (t < MinWebhookTimeout || t > MaxWebhookTimeout) {
		r.addf(path+".timeout", "must be between %s and %s when set, got %s", MinWebhookTimeout, MaxWebhookTimeout, t)
	}
	switch w.OnFailure {
	case "", WebhookHold, WebhookRollback:
		if w.OnFailure != "" && w.Type == WebhookPostRollout {
			r.addf(path+".onFailure", "not allowed on a post-rollout webhook: it runs after the release ended, and its answer is only recorded")
		}
	default:
		r.addf(path+".onFailure", "unknown action %q: %q or %q", w.OnFailure, WebhookHold, WebhookRollback)
	}
	checkWebhookMetadata(r, path+".metadata", w.Metadata)
}

func checkWebhookURL(r *reporter, path, raw string) {
	if raw == "" {
		r.addf(path, "required: the http:// or https:// address Sluice POSTs to")
		return
	}
	if len(raw) > maxWebhookURLLen {
		r.addf(path, "is %d bytes long, at most %d are allowed", len(raw), maxWebhookURLLen)
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil, u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.Opaque != "":
		r.addf(path, "invalid URL %q: want http:// or https:// followed by host[:port] and a path, e.g. \"http://loadtester:8080/gate\"", Clip(raw, 80))
	case u.User != nil:
		r.addf(path, "invalid URL %q: credentials in the URL are not supported (they would be recorded with every call)", Clip(raw, 80))
	case u.Fragment != "":
		r.addf(path, "invalid URL %q: must not have a fragment", Clip(raw, 80))
	}
}

func checkWebhookMetadata(r *reporter, path string, md map[string]string) {
	if len(md) > MaxWebhookMetadata {
		r.addf(path, "at most %d entries are allowed, got %d", MaxWebhookMetadata, len(md))
		return
	}
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch {
		case k == "":
			r.addf(path, "keys must not be empty")
		case len(k) > MaxWebhookMetadataBytes || len(md[k]) > MaxWebhookMetadataBytes:
			r.addf(path, "key %q: keys and values may be at most %d bytes long", clip(k), MaxWebhookMetadataBytes)
		}
	}
}

func printable(s string) bool {
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return false
		}
	}
	return true
}

func webhookTypeList() string {
	out := ""
	for i, t := range WebhookTypes {
		if i > 0 {
			out += ", "
		}
		out += string(t)
	}
	return out
}
