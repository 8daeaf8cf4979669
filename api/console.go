package api

import (
	"net/http"
)

// Console is the web console a node serves (package ui): a static shell
// that needs no token and the rendered pages, which are reads like any
// other under /v1/ and so authenticated the same way.
type Console interface {
	// Shell serves everything under /ui/.
	Shell() http.Handler
	// Views serves the pages under /v1/console/.
	Views() http.Handler
}

// WhoAmI is the body of GET /v1/whoami.
type WhoAmI struct {
	User  string `json:"user"`
	Roles []Role `json:"roles"`
	// Auth is false when the node runs without authentication (--dev):
	// every caller may do everything.
	Auth bool `json:"auth"`
}

// whoami tells a caller who the API takes it for, so the console can say
// whose token is in use.
func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	id := identity(r)
	writeJSON(w, http.StatusOK, WhoAmI{User: id.User, Roles: id.Roles, Auth: s.opts.Auth != nil})
}

// consoleRoutes mounts the console and the endpoints it needs.
func (s *Server) consoleRoutes() {
	s.mux.HandleFunc("GET /v1/events", s.events)
	s.mux.HandleFunc("GET /v1/whoami", s.whoami)
	if s.opts.Console == nil {
		return
	}
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusFound)
	})
	s.mux.Handle("GET /ui/", s.opts.Console.Shell())
	// Three or more segments, so it never overlaps GET /v1/{kind}/{name}.
	s.mux.Handle("GET /v1/console/{page}/{rest...}", s.opts.Console.Views())
}
