// Package ui is Sluice's web console: HTML pages with server-rendered SVG,
// embedded in the binary and served by every node.
//
// Two handlers make it up. Shell serves /ui/: one static page, its script
// and its style sheet, which hold no data and need no token. Views serves
// /v1/console/...: the HTML of each page, built from the node's replicated
// state by pure functions (BuildOverview, BuildReleasePage, BuildTrainPage,
// Layout) and rendered by html/template, which escapes every name a user
// chose. Views sits under /v1/ so the API authenticates it like any read;
// the script sends the token the user typed (kept in sessionStorage, never
// in a URL), follows /v1/events to know when to fetch a page again, and
// sends manual actions to the same API endpoints the CLI uses.
package ui

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/raft"
	"github.com/sluicehq/sluice/state"
	"github.com/sluicehq/sluice/xds"
)

// Paths the console is served under.
const (
	// ShellPath is the prefix of the static console.
	ShellPath = "/ui/"
	// ViewsPath is the prefix of the rendered pages (authenticated by the API).
	ViewsPath = "/v1/console/"
)

// ErrNotFound is returned (as a 404 page) for a release or train that the
// state does not hold.
var ErrNotFound = errors.New("not found")

//go:embed static templates
var files embed.FS

// Source is what the console reads from the node.
type Source interface {
	State() *state.State
	Stats() raft.Stats
	Servers() ([]raft.Server, error)
}

// Options configure the console.
type Options struct {
	Logger *slog.Logger
	// Now ends the plot of a running release (default time.Now).
	Now func() time.Time
	// LocalXDS is this node's xDS status.
	LocalXDS func() xds.Status
	// PeerXDS asks another node's API for its xDS status, with the
	// caller's Authorization header.
	PeerXDS func(ctx context.Context, apiAddr, authorization string) (*xds.Status, error)
}

// Console serves the web console of one node.
type Console struct {
	src   Source
	opts  Options
	log   *slog.Logger
	pages *template.Template
	shell *http.ServeMux
	views *http.ServeMux
}

// New parses the embedded templates and returns the console.
func New(src Source, opts Options) (*Console, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LocalXDS == nil {
		opts.LocalXDS = func() xds.Status { return xds.Status{} }
	}
	if opts.PeerXDS == nil {
		opts.PeerXDS = func(context.Context, string, string) (*xds.Status, error) {
			return nil, errors.New("peer status is not available")
		}
	}
	pages, err := template.New("").Funcs(funcs()).ParseFS(files, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	c := &Console{src: src, opts: opts, log: opts.Logger, pages: pages, shell: http.NewServeMux(), views: http.NewServeMux()}
	static, err := fs.Sub(files, "static")
	if err != nil {
		return nil, fmt.Errorf("console assets: %w", err)
	}
	assets := http.StripPrefix(ShellPath+"static/", http.FileServerFS(static))
	c.shell.Handle("GET "+ShellPath+"static/", secure(assets))
	c.shell.HandleFunc("GET "+ShellPath, c.index)

	c.views.HandleFunc("GET "+ViewsPath+"overview/", c.overview)
	c.views.HandleFunc("GET "+ViewsPath+"release/{name}", c.release)
	c.views.HandleFunc("GET "+ViewsPath+"train/{name}", c.train)
	c.views.HandleFunc("GET "+ViewsPath+"cluster/", c.cluster)
	return c, nil
}

// Shell serves the static console under ShellPath.
func (c *Console) Shell() http.Handler { return c.shell }

// Views serves the rendered pages under ViewsPath. Mount it behind the
// API's authentication.
func (c *Console) Views() http.Handler { return c.views }

// index serves the one page of the console for every path under /ui/: the
// script reads the path and fetches the matching view.
func (c *Console) index(w http.ResponseWriter, r *http.Request) {
	b, err := files.ReadFile("static/index.html")
	if err != nil {
		http.Error(w, "console page missing from the binary", http.StatusInternalServerError)
		return
	}
	writeHTML(w, b)
}

func (c *Console) overview(w http.ResponseWriter, _ *http.Request) {
	c.render(w, "overview", BuildOverview(c.src.State()))
}

func (c *Console) release(w http.ResponseWriter, r *http.Request) {
	st := c.src.State()
	name := r.PathValue("name")
	rel, ok := st.Releases[name]
	if !ok {
		c.notFound(w, "Release", name)
		return
	}
	c.render(w, "release", BuildReleasePage(st, rel, c.opts.Now()))
}

func (c *Console) train(w http.ResponseWriter, r *http.Request) {
	st := c.src.State()
	name := r.PathValue("name")
	t, ok := st.Trains[name]
	if !ok {
		c.notFound(w, "ReleaseTrain", name)
		return
	}
	c.render(w, "train", BuildTrainPage(st, t))
}

func (c *Console) cluster(w http.ResponseWriter, r *http.Request) {
	c.render(w, "cluster", c.buildCluster(r.Context(), r.Header.Get("Authorization")))
}

func (c *Console) notFound(w http.ResponseWriter, kind, name string) {
	w.WriteHeader(http.StatusNotFound)
	c.render(w, "notfound", map[string]string{"Kind": kind, "Name": name, "Error": ErrNotFound.Error()})
}

// render executes a template into a buffer first, so a failing template
// never sends half a page.
func (c *Console) render(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := c.pages.ExecuteTemplate(&buf, name, data); err != nil {
		c.log.Error("render console page", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	writeHTML(w, buf.Bytes())
}

// writeHTML sends a page with the console's security headers.
func writeHTML(w http.ResponseWriter, b []byte) {
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b)
}

// contentSecurityPolicy allows only the console's own script and style: no
// inline script, nothing from elsewhere, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}

func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		h.ServeHTTP(w, r)
	})
}
