package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// HTTPWebhooks calls webhooks over HTTP: a POST of the JSON payload,
// without following redirects (a 3xx is an answer that does not pass).
type HTTPWebhooks struct {
	// Client makes the requests (default: a client that does not follow
	// redirects); the call's context bounds each one.
	Client *http.Client
	// Now measures latency (default time.Now).
	Now func() time.Time
}

// maxWebhookDrain is how much of an answer's body is read at most (the
// rest is dropped with the connection).
const maxWebhookDrain = 64 << 10

// Call POSTs p to w.URL and reports the answer.
func (h *HTTPWebhooks) Call(ctx context.Context, w config.WebhookSpec, p WebhookPayload) state.WebhookCall {
	call := state.WebhookCall{Name: w.Name, Type: w.Type, URL: w.URL, Step: p.Step - 1, Weight: p.Weight}
	body, err := json.Marshal(p)
	if err != nil {
		call.Error, call.Detail = state.WebhookErrRequest, err.Error()
		return call
	}
	call.BodyBytes = len(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		call.Error, call.Detail = state.WebhookErrRequest, err.Error()
		return call
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sluice-webhook")
	now := h.now()
	start := now()
	resp, err := h.client().Do(req)
	if err != nil {
		call.Latency = config.Duration(now().Sub(start))
		call.Error, call.Detail = errorKind(ctx, err), config.Clip(err.Error(), 200)
		return call
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, state.MaxWebhookBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxWebhookDrain))
	call.Latency = config.Duration(now().Sub(start))
	call.Status, call.Body = resp.StatusCode, validUTF8(head)
	if !call.Passed() {
		call.Error = state.WebhookErrStatus
	}
	return call
}

// errorKind classifies a failed request.
func errorKind(ctx context.Context, err error) state.WebhookErrorKind {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || errors.As(err, &ne) && ne.Timeout() {
		return state.WebhookErrTimeout
	}
	return state.WebhookErrConnection
}

// validUTF8 keeps a clipped body readable: bytes that are not UTF-8 (a
// cut rune, binary) are dropped.
func validUTF8(b []byte) string { return strings.ToValidUTF8(string(b), "") }

func (h *HTTPWebhooks) client() *http.Client { return clientOr(h.Client) }

// clientOr is c, or the client that calls webhooks and notifiers: it
// does not follow redirects (a 3xx is an answer, and a redirect could
// carry a signed body elsewhere); the call's context bounds each request.
func clientOr(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (h *HTTPWebhooks) now() func() time.Time {
	if h.Now != nil {
		return h.Now
	}
	return time.Now
}
