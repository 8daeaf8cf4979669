package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// HTTPTarget is where an HTTP load sends its requests.
type HTTPTarget struct {
	// URL is requested with GET, e.g. an Envoy gateway listener
	// "http://127.0.0.1:10000/".
	URL string
	// Host, when set, is the Host header (the service's domain), so that
	// the proxy picks the service's virtual host.
	Host string
}

// CodeTransport counts HTTP requests that got no response at all
// (connection refused or reset, timeout).
const CodeTransport = "transport"

// maxAnswer bounds how much of a response body is read.
const maxAnswer = 4 << 10

// httpCaller sends the requests of an HTTP load.
type httpCaller struct {
	req    *http.Request // template: method, URL, Host and headers
	client *http.Client
}

// newHTTPLoad builds an HTTP load from a cfg with defaults filled in.
func newHTTPLoad(cfg LoadConfig) (*Load, error) {
	u, err := url.Parse(cfg.HTTP.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: HTTP load URL %q: want http://host:port/path", ErrInvalidConfig, cfg.HTTP.URL)
	}
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: HTTP load URL %q: %v", ErrInvalidConfig, cfg.HTTP.URL, err)
	}
	if h := cfg.HTTP.Host; h != "" {
		if !httpguts.ValidHostHeader(h) {
			return nil, fmt.Errorf("%w: HTTP load host %q is not a valid Host header", ErrInvalidConfig, h)
		}
		req.Host = h
	}
	for k, v := range cfg.Headers {
		if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
			return nil, fmt.Errorf("%w: header %q: not a valid HTTP header name and value", ErrInvalidConfig, k)
		}
		req.Header.Set(k, v)
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: cfg.Timeout}).DialContext,
		MaxIdleConns:        cfg.MaxInFlight,
		MaxIdleConnsPerHost: cfg.MaxInFlight,
		IdleConnTimeout:     30 * time.Second,
	}
	c := &httpCaller{req: req, client: &http.Client{Transport: tr, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	return &Load{cfg: cfg, http: c, counts: Counts{ByVersion: map[string]uint64{}, ByCode: map[string]uint64{}}}, nil
}

func (c *httpCaller) close() { c.client.CloseIdleConnections() }

// callHTTP sends one request and counts it: by version when the answer is
// 200 and names one ("<service> <version>"), otherwise by HTTP status, or
// CodeTransport when no response came.
func (l *Load) callHTTP(ctx context.Context) (string, error) {
	version, code, err := l.http.do(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.counts.Errors++
		l.counts.ByCode[code]++
		return "", err
	}
	l.counts.OK++
	l.counts.ByVersion[version]++
	return version, nil
}

// errHTTPStatus is wrapped by a call answered with a status other than 200.
var errHTTPStatus = errors.New("unexpected HTTP status")

func (c *httpCaller) do(ctx context.Context) (version, code string, err error) {
	resp, err := c.client.Do(c.req.Clone(ctx))
	if err != nil {
		return "", CodeTransport, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return "", CodeTransport, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", strconv.Itoa(resp.StatusCode), fmt.Errorf("%w %d: %.200s", errHTTPStatus, resp.StatusCode, body)
	}
	fields := strings.Fields(string(body))
	if len(fields) != 2 {
		return "", strconv.Itoa(resp.StatusCode), fmt.Errorf("%w: answer %.200q is not \"<service> <version>\"", errHTTPStatus, body)
	}
	return fields[1], "", nil
}
