package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/config"

	yaml "go.yaml.in/yaml/v3"
)

// ErrUnauthenticated is returned when a request carries no valid token.
var ErrUnauthenticated = errors.New("unauthenticated: a valid token is required (--token or SLUICE_TOKEN)")

// ErrForbidden is returned when the caller lacks the role an action needs.
var ErrForbidden = errors.New("forbidden")

// Role is what a caller may do.
type Role string

// Roles. Each mutating call needs one; reads need any valid token.
const (
	// RoleViewer reads.
	RoleViewer Role = "viewer"
	// RoleDeployer applies configuration and starts, pauses, resumes,
	// rolls back and aborts releases and trains.
	RoleDeployer Role = "deployer"
	// RoleApprover approves steps, overrides failed quality gates and
	// approves starting outside the release window.
	RoleApprover Role = "approver"
	// RoleAdmin changes cluster membership and deletes objects; it holds
	// every other role too.
	RoleAdmin Role = "admin"
)

// Identity is who made a request.
type Identity struct {
	User  string
	Roles []Role
}

// Has reports whether the identity holds a role (admin holds all).
func (id Identity) Has(r Role) bool {
	return slices.Contains(id.Roles, r) || slices.Contains(id.Roles, RoleAdmin)
}

// TokenEntry maps one bearer token to a user and roles.
type TokenEntry struct {
	Token string `yaml:"token"`
	User  string `yaml:"user"`
	Roles []Role `yaml:"roles"`
}

// Auth maps tokens to identities. A nil *Auth disables authentication
// (development): every caller has every role and names itself with the
// X-Sluice-Actor header.
type Auth struct {
	entries []TokenEntry
	hashes  [][32]byte
}

// LoadAuth reads a token file:
//
//	tokens:
//	  - {token: "...", user: alice, roles: [deployer, approver]}
func LoadAuth(path string) (*Auth, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read auth file: %w", err)
	}
	var f struct {
		Tokens []TokenEntry `yaml:"tokens"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("auth file %s: %w", path, err)
	}
	return NewAuth(f.Tokens)
}

// NewAuth builds an Auth from entries, checking each.
func NewAuth(entries []TokenEntry) (*Auth, error) {
	a := &Auth{}
	var errs config.Errors
	seen := map[string]bool{}
	for i, e := range entries {
		field := fmt.Sprintf("tokens[%d]", i)
		switch {
		case len(e.Token) < 16:
			errs = append(errs, config.FieldError{Field: field + ".token", Message: "must be at least 16 characters"})
		case seen[e.Token]:
			errs = append(errs, config.FieldError{Field: field + ".token", Message: "duplicate token"})
		}
		seen[e.Token] = true
		if e.User == "" {
			errs = append(errs, config.FieldError{Field: field + ".user", Message: "required"})
		}
		for j, r := range e.Roles {
			switch r {
			case RoleViewer, RoleDeployer, RoleApprover, RoleAdmin:
			default:
				errs = append(errs, config.FieldError{Field: fmt.Sprintf("%s.roles[%d]", field, j),
					Message: fmt.Sprintf("unknown role %q (viewer, deployer, approver, admin)", r)})
			}
		}
		a.entries = append(a.entries, e)
		a.hashes = append(a.hashes, sha256.Sum256([]byte(e.Token)))
	}
	if len(entries) == 0 {
		errs = append(errs, config.FieldError{Field: "tokens", Message: "at least one token is required"})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return a, nil
}

// identify returns who a request comes from. Tokens are compared in
// constant time.
func (a *Auth) identify(r *http.Request) (Identity, error) {
	if a == nil {
		return Identity{User: headerActor(r), Roles: []Role{RoleAdmin}}, nil
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return Identity{}, ErrUnauthenticated
	}
	h := sha256.Sum256([]byte(tok))
	for i, e := range a.entries {
		if subtle.ConstantTimeCompare(h[:], a.hashes[i][:]) == 1 {
			return Identity{User: e.User, Roles: e.Roles}, nil
		}
	}
	return Identity{}, ErrUnauthenticated
}

type identityKey struct{}

// withIdentity authenticates every /v1 request and keeps the identity in
// the request context.
func (s *Server) withIdentity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			next.ServeHTTP(w, r)
			return
		}
		id, err := s.opts.Auth.identify(r)
		if err != nil {
			s.writeError(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

func identity(r *http.Request) Identity {
	id, _ := r.Context().Value(identityKey{}).(Identity)
	return id
}

// require wraps a handler with a role check.
func (s *Server) require(role Role, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if id := identity(r); !id.Has(role) {
			s.writeError(w, fmt.Errorf("%w: %s needs the %s role (%s has %v)", ErrForbidden, r.URL.Path, role, id.User, id.Roles))
			return
		}
		h(w, r)
	}
}

func headerActor(r *http.Request) string {
	if a := strings.TrimSpace(r.Header.Get("X-Sluice-Actor")); a != "" {
		return a
	}
	return "anonymous"
}
