package api

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/config"
)

// ErrCrossSite is returned for a write a web page on another origin could
// have sent: browsers send "simple" requests (text/plain, form encodings,
// no custom header) across origins without asking the server first, so a
// page visited by an operator could otherwise roll a release back.
var ErrCrossSite = errors.New("cross-site request refused")

// ClientHeader marks requests made by a Sluice client (the CLI, another
// node, a pipeline using the Go client). A browser cannot add a custom
// header to a cross-origin request without a CORS preflight, which this API
// never grants, so its presence proves the request is not a forged simple
// request.
const ClientHeader = "X-Sluice-Client"

// writeContentTypes are the body types a write may carry without
// ClientHeader; none is a type a cross-site form or simple fetch may send.
var writeContentTypes = []string{"application/json", "application/yaml", "application/x-yaml", "text/yaml", "application/octet-stream"}

func isWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// checkCrossSite refuses cross-site writes. A write must carry either
// ClientHeader or a non-simple content type, and when a browser names the
// page's origin (Origin, or Sec-Fetch-Site) it must be this API's own
// origin or one of Options.TrustedOrigins.
func (s *Server) checkCrossSite(r *http.Request) error {
	if !isWrite(r.Method) {
		return nil
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		if !s.trustedOrigin(r.Header.Get("Origin")) {
			return fmt.Errorf("%w: the browser marks it %s (Sec-Fetch-Site)", ErrCrossSite, site)
		}
	}
	if origin := r.Header.Get("Origin"); origin != "" && !s.sameOrigin(r, origin) && !s.trustedOrigin(origin) {
		return fmt.Errorf("%w: Origin %q is not this API's origin", ErrCrossSite, clipHeader(origin))
	}
	if r.Header.Get(ClientHeader) != "" {
		return nil
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !slices.Contains(writeContentTypes, ct) {
		return fmt.Errorf("%w: a write must have Content-Type %s or the %s header (got %q)",
			ErrCrossSite, strings.Join(writeContentTypes, ", "), ClientHeader, clipHeader(r.Header.Get("Content-Type")))
	}
	return nil
}

// sameOrigin reports whether origin is the origin this request was sent
// to (scheme and host).
func (s *Server) sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return u.Scheme == scheme && strings.EqualFold(u.Host, r.Host)
}

func (s *Server) trustedOrigin(origin string) bool {
	return origin != "" && slices.Contains(s.opts.TrustedOrigins, origin)
}

func clipHeader(v string) string { return config.Clip(v, maxEchoed) }
