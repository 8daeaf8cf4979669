package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
	"github.com/sluicehq/sluice/xds"
)

// Client talks to any node's API.
type Client struct {
	base    string
	http    *http.Client
	timeout time.Duration
	Actor   string
	// Token is sent as a bearer token when set.
	Token string
	// Consistent makes Get and Release linearizable reads
	// (?consistent=true): answered by the leader after a Raft barrier
	// instead of from the node's own, possibly lagging, state.
	Consistent bool
}

// readQuery is the query string of a read.
func (c *Client) readQuery() string {
	if c.Consistent {
		return "?consistent=true"
	}
	return ""
}

// NewClient returns a client for a node at addr ("host:port" or a URL),
// over plain HTTP unless addr says https://.
func NewClient(addr string) *Client { return NewClientWith(addr, ClientOptions{}) }

// ClientOptions configure a Client.
type ClientOptions struct {
	// TLS verifies the server (and may present a client certificate).
	// With TLS set, an address without a scheme is reached over HTTPS.
	TLS *tls.Config
	// Timeout bounds each request (default 60s).
	Timeout time.Duration
}

// NewClientWith returns a client for a node at addr with options.
func NewClientWith(addr string, o ClientOptions) *Client {
	if !strings.Contains(addr, "://") {
		scheme := "http://"
		if o.TLS != nil {
			scheme = "https://"
		}
		addr = scheme + addr
	}
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	hc := &http.Client{Timeout: o.Timeout}
	if o.TLS != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = o.TLS
		hc.Transport = tr
	}
	return &Client{base: strings.TrimRight(addr, "/"), http: hc, timeout: o.Timeout}
}

// Error is an error answered by the server.
type Error struct {
	Status int
	Body   ErrorBody
}

func (e *Error) Error() string {
	if len(e.Body.Details) == 0 {
		return e.Body.Error
	}
	return config.Errors(e.Body.Details).Error()
}

// Is lets callers match config.ErrInvalid on validation failures.
func (e *Error) Is(target error) bool {
	return target == config.ErrInvalid && e.Status == http.StatusBadRequest && len(e.Body.Details) > 0
}

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, contentType string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set(ClientHeader, "sluice-go")
	if c.Actor != "" {
		req.Header.Set("X-Sluice-Actor", c.Actor)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read response from %s: %w", c.base, err)
	}
	if resp.StatusCode >= 300 && isGRPC(resp.Header) {
		return c.notAPIError()
	}
	if resp.StatusCode >= 300 {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(data, &e.Body) != nil || e.Body.Error == "" {
			e.Body.Error = fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
		}
		return e
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode response of %s %s: %w", method, path, err)
	}
	return nil
}

// Apply sends YAML or JSON documents; file names them in error messages.
func (c *Client) Apply(ctx context.Context, file string, data []byte) (*ApplyResponse, error) {
	return c.ApplyForced(ctx, file, data, false)
}

// ApplyForced is Apply; with force, static weights may move the traffic
// of a Service covered by a policy at once (admin role; recorded).
func (c *Client) ApplyForced(ctx context.Context, file string, data []byte, force bool) (*ApplyResponse, error) {
	var out ApplyResponse
	path := "/v1/apply?file=" + url.QueryEscape(file)
	if force {
		path += "&force=true"
	}
	err := c.do(ctx, http.MethodPost, path, bytes.NewReader(data), "application/yaml", &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// List returns the raw JSON objects of a collection ("services", "policies").
func (c *Client) List(ctx context.Context, collection string) (*ListResponse, error) {
	var out ListResponse
	if err := c.do(ctx, http.MethodGet, "/v1/"+url.PathEscape(collection), nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Undo sends a service back to the version before its last promotion.
func (c *Client) Undo(ctx context.Context, service string, req UndoRequest) (*UndoResponse, error) {
	b, _ := json.Marshal(req)
	var out UndoResponse
	if err := c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(service)+"/undo", bytes.NewReader(b), "application/json", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Get returns one object's JSON.
func (c *Client) Get(ctx context.Context, collection, name string) (json.RawMessage, error) {
	var out []byte
	if err := c.do(ctx, http.MethodGet, "/v1/"+url.PathEscape(collection)+"/"+url.PathEscape(name)+c.readQuery(), nil, "", &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Delete removes one object.
func (c *Client) Delete(ctx context.Context, collection, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/"+url.PathEscape(collection)+"/"+url.PathEscape(name), nil, "", nil)
}

// Members lists the cluster.
func (c *Client) Members(ctx context.Context) (*MembersResponse, error) {
	var out MembersResponse
	if err := c.do(ctx, http.MethodGet, "/v1/cluster/members", nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Join asks the cluster to add a node.
func (c *Client) Join(ctx context.Context, req JoinRequest) error {
	b, _ := json.Marshal(req)
	return c.do(ctx, http.MethodPost, "/v1/cluster/join", bytes.NewReader(b), "application/json", nil)
}

// Leave asks the cluster to remove a node.
func (c *Client) Leave(ctx context.Context, id string) error {
	b, _ := json.Marshal(LeaveRequest{ID: id})
	return c.do(ctx, http.MethodPost, "/v1/cluster/leave", bytes.NewReader(b), "application/json", nil)
}

// XDSStatus returns the node's xDS status.
func (c *Client) XDSStatus(ctx context.Context) (*xds.Status, error) {
	var out xds.Status
	if err := c.do(ctx, http.MethodGet, "/v1/xds/status", nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Ready reports whether the node answers /readyz with 200.
func (c *Client) Ready(ctx context.Context) bool {
	return c.do(ctx, http.MethodGet, "/readyz", nil, "", nil) == nil
}

// StartRelease creates a release.
func (c *Client) StartRelease(ctx context.Context, rel config.Release) (*state.Release, error) {
	b, err := json.Marshal(rel)
	if err != nil {
		return nil, err
	}
	var out state.Release
	if err := c.do(ctx, http.MethodPost, "/v1/releases", bytes.NewReader(b), "application/json", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Release returns one release with its status and decisions.
func (c *Client) Release(ctx context.Context, name string) (*state.Release, error) {
	var out state.Release
	if err := c.do(ctx, http.MethodGet, "/v1/releases/"+url.PathEscape(name)+c.readQuery(), nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Releases lists every release.
func (c *Client) Releases(ctx context.Context) ([]ReleaseSummary, error) {
	var out struct {
		Items []ReleaseSummary `json:"items"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/releases", nil, "", &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// ReleaseAction takes a manual action (pause, resume, promote, rollback,
// abort) on a release.
func (c *Client) ReleaseAction(ctx context.Context, name, action, reason string) (*state.Release, error) {
	b, _ := json.Marshal(ActionRequest{Reason: reason})
	var out state.Release
	if err := c.do(ctx, http.MethodPost, "/v1/releases/"+url.PathEscape(name)+"/"+url.PathEscape(action), bytes.NewReader(b), "application/json", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Approve approves a release step (1-based; 0 = the step it waits for).
func (c *Client) Approve(ctx context.Context, name string, step int, reason string) (*state.Release, error) {
	return c.ApproveWith(ctx, name, ActionRequest{Reason: reason, Step: step})
}

// ApproveWith sends an approval: a step, a gate override or start-now.
func (c *Client) ApproveWith(ctx context.Context, name string, req ActionRequest) (*state.Release, error) {
	b, _ := json.Marshal(req)
	var out state.Release
	if err := c.do(ctx, http.MethodPost, "/v1/releases/"+url.PathEscape(name)+"/approve", bytes.NewReader(b), "application/json", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// XDSConfig is a proxy group's served resources on one node.
type XDSConfig struct {
	Group     string                       `json:"group"`
	Index     uint64                       `json:"index"`
	Resources map[string][]json.RawMessage `json:"resources"`
}

// XDSConfig returns what a proxy group is served on this node.
func (c *Client) XDSConfig(ctx context.Context, group string) (*XDSConfig, error) {
	var out XDSConfig
	if err := c.do(ctx, http.MethodGet, "/v1/xds/config?group="+url.QueryEscape(group), nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Train returns a train with its members' releases.
func (c *Client) Train(ctx context.Context, name string) (*TrainView, error) {
	var out TrainView
	if err := c.do(ctx, http.MethodGet, "/v1/trains/"+url.PathEscape(name), nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// TrainAction takes a manual action (pause, resume, rollback, abort).
func (c *Client) TrainAction(ctx context.Context, name, action, reason string) (*TrainView, error) {
	b, _ := json.Marshal(ActionRequest{Reason: reason})
	var out TrainView
	if err := c.do(ctx, http.MethodPost, "/v1/trains/"+url.PathEscape(name)+"/"+url.PathEscape(action), bytes.NewReader(b), "application/json", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetJSON reads any API path into out.
func (c *Client) GetJSON(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, "", out)
}

// Snapshot returns a backup of the cluster's state: taken on the leader
// after every committed change, or, with local, this node's applied state
// (works without a leader).
func (c *Client) Snapshot(ctx context.Context, local bool) ([]byte, error) {
	path := "/v1/snapshot"
	if local {
		path += "?local=true"
	}
	var out []byte
	if err := c.do(ctx, http.MethodGet, path, nil, "", &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Restore replaces the cluster's state with a backup; a cluster that holds
// objects is replaced only with force.
func (c *Client) Restore(ctx context.Context, backup []byte, force bool) (*RestoreResponse, error) {
	path := "/v1/snapshot"
	if force {
		path += "?force=true"
	}
	var out RestoreResponse
	if err := c.do(ctx, http.MethodPost, path, bytes.NewReader(backup), "application/octet-stream", &out); err != nil {
		return nil, err
	}
	return &out, nil
}
