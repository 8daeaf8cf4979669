package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrNoAnswer: the server took the request but did not answer within the
// client's timeout.
var ErrNoAnswer = errors.New("no answer")

// ErrNotAPI: the address answers, but with gRPC (HTTP/2 only), as a
// node's xDS port does, not with the HTTP API.
var ErrNotAPI = errors.New("not a Sluice API address")

// probeTimeout bounds the HTTP/2 probe of an address that gave a response
// the HTTP client could not read.
const probeTimeout = 2 * time.Second

// http2Preface is what an HTTP/2 client sends first: the connection
// preface and an empty SETTINGS frame.
var http2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")

// transportError explains a request that got no usable HTTP response.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("request to sluice at %s: %w", c.base, ctx.Err())
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("sluice at %s: %w within %s: the node may be overloaded or the address may not be a Sluice API; wait longer with --timeout",
			c.base, ErrNoAnswer, c.timeout)
	}
	var oe *net.OpError
	if !(errors.As(err, &oe) && oe.Op == "dial") {
		if host := hostOf(c.base); host != "" && speaksHTTP2Only(host) {
			return c.notAPIError()
		}
	}
	return fmt.Errorf("cannot reach sluice at %s: %w", c.base, err)
}

func (c *Client) notAPIError() error {
	return fmt.Errorf("%s is %w: it answers gRPC only, as a node's xDS port does; point --server at the node's API port (`sluice server --api-addr`, default 127.0.0.1:7070)",
		c.base, ErrNotAPI)
}

// isGRPC reports whether a response came from a gRPC server (an xDS port
// reached over TLS answers HTTP/2 requests that way).
func isGRPC(h http.Header) bool {
	return strings.HasPrefix(h.Get("Content-Type"), "application/grpc") || h.Get("Grpc-Status") != ""
}

func hostOf(base string) string {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" {
		return ""
	}
	return u.Host
}

// speaksHTTP2Only reports whether addr answers an HTTP/2 connection
// preface with a SETTINGS frame, as a gRPC server does.
func speaksHTTP2Only(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return false
	}
	defer conn.Close()
	if conn.SetDeadline(time.Now().Add(probeTimeout)) != nil {
		return false
	}
	if _, err := conn.Write(http2Preface); err != nil {
		return false
	}
	var hdr [9]byte // an HTTP/2 frame header; byte 3 is the frame type
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return false
	}
	const frameSettings = 0x4
	return hdr[3] == frameSettings
}
