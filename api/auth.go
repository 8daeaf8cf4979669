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

// Has reports whether the identity holds a role. Admin holds all, and
// every role includes viewer.
func (id Identity) Has(r Role) bool {
	if r == RoleViewer && len(id.Roles) > 0 {
		return true
	}
	return slices.Contains(id.Roles, r) || slices.Contains(id.Roles, RoleAdmin)
}

// Lookup returns the identity a token stands for.
func (a *Auth) Lookup(token string) (Identity, bool) {
	h := sha256.Sum256([]byte(token))
	found := -1
	for i := range a.entries {
		if subtle.ConstantTimeCompare(h[:], a.hashes[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Identity{}, false
	}
	e := a.entries[found]
	return Identity{User: e.User, Roles: e.Roles}, true
}

// TokenEntry maps one bearer token to a user and roles.
type TokenEntry struct {
	Token string `yaml:"token"`
	User  string `yaml:"user"`
	Roles []Role `yaml:"roles"`
}

// Auth maps tokens to identities. A nil *Auth disables authentication
// (`--dev`, `--insecure-no-auth`): every caller has every role, and the
// X-Sluice-Actor header it sends is recorded only as an unverified name
// ("unverified:<name>"), never as an identity.
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
	if id, ok := a.Lookup(tok); ok {
		return id, nil
	}
	return Identity{}, ErrUnauthenticated
}

type identityKey struct{}

// withIdentity authenticates every /v1 request (and /metrics unless it is
// open), refuses cross-site writes, requires the viewer role for reads and
// keeps the identity in the request context. Roles of writes are checked
// by each handler (require).
func (s *Server) withIdentity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		guarded := strings.HasPrefix(r.URL.Path, "/v1/") || (r.URL.Path == "/metrics" && !s.opts.MetricsOpen)
		if !guarded {
			next.ServeHTTP(w, r)
			return
		}
		if err := s.checkCrossSite(r); err != nil {
			s.writeError(w, err)
			return
		}
		id, err := s.opts.Auth.identify(r)
		if err != nil {
			s.writeError(w, err)
			return
		}
		if !isWrite(r.Method) && !id.Has(RoleViewer) {
			s.writeError(w, fmt.Errorf("%w: reading %s needs the viewer role (%s has none)", ErrForbidden, r.URL.Path, id.User))
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

// maxActorLen bounds the unverified name a caller may give itself.
const maxActorLen = 64

// headerActor is the name an unauthenticated caller gives itself, marked
// as unverified so that no record mistakes it for an identity.
func headerActor(r *http.Request) string {
	a := strings.TrimSpace(r.Header.Get("X-Sluice-Actor"))
	if a == "" {
		return "anonymous"
	}
	if len(a) > maxActorLen {
		a = a[:maxActorLen]
	}
	return "unverified:" + strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return '_'
		}
		return c
	}, a)
}
