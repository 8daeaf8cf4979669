package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/notify"
	"github.com/sluicehq/sluice/state"
)

// ErrNotDelivered is returned when a notifier's receiver answered with a
// status other than 2xx: the notice stays in the outbox and is retried.
var ErrNotDelivered = errors.New("notification not delivered")

// HTTPNotifier delivers notices over HTTP in the notifier's format
// (package notify), with the secrets read from this node's environment
// at each delivery, never from the replicated state.
type HTTPNotifier struct {
	// Client makes the requests (default: the webhooks' client, which
	// does not follow redirects).
	Client *http.Client
	// Now stamps the signature's timestamp (default time.Now).
	Now func() time.Time
	// Getenv reads secrets (default os.Getenv).
	Getenv func(string) string
}

// Send POSTs one notice; nil means the receiver answered 2xx.
func (h *HTTPNotifier) Send(ctx context.Context, n *config.Notifier, notice state.Notice) error {
	req, err := notify.Build(n, notice, h.secrets(&n.Spec), h.now())
	if err != nil {
		return err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return fmt.Errorf("notifier %q: %w", n.Metadata.Name, err)
	}
	hr.Header = req.Header
	resp, err := clientOr(h.Client).Do(hr)
	if err != nil {
		return fmt.Errorf("notifier %q: %s: %w", n.Metadata.Name, errorKind(ctx, err), err)
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, state.MaxWebhookBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxWebhookDrain))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("notifier %q: %w: status %d: %s", n.Metadata.Name, ErrNotDelivered, resp.StatusCode, config.Clip(validUTF8(head), 200))
	}
	return nil
}

func (h *HTTPNotifier) secrets(s *config.NotifierSpec) notify.Secrets {
	get := h.Getenv
	if get == nil {
		get = os.Getenv
	}
	read := func(name string) string {
		if name == "" {
			return ""
		}
		return get(name)
	}
	return notify.Secrets{URL: read(s.URLEnv), Key: read(s.SecretEnv), RoutingKey: read(s.RoutingKeyEnv)}
}

func (h *HTTPNotifier) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}
