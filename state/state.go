// Package state holds Sluice's replicated state and the deterministic
// function that applies commands to it.
//
// A State value is immutable once published: Apply returns a new State that
// shares every unchanged object with the old one (copy on write), so readers
// (the API, xDS translation, the controller) take a pointer and never lock.
package state

import (
	"errors"
	"sort"

	"github.com/sluicehq/sluice/config"
)

// ErrNotFound is returned when a command names an object that does not
// exist. It is config.ErrNotFound, so callers match either name.
var ErrNotFound = config.ErrNotFound

// ErrUnknownCommand is returned for a command type this binary does not know.
// A cluster must not mix binaries that disagree on command types.
var ErrUnknownCommand = errors.New("unknown command type")

// ErrBadPayload is returned when a command's payload does not decode.
var ErrBadPayload = errors.New("malformed command payload")

// Member is a cluster node's addresses, replicated so that any node can
// forward to the leader's API and tell clients where to connect.
type Member struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raftAddr"`
	APIAddr  string `json:"apiAddr"`
	XDSAddr  string `json:"xdsAddr"`
}

// State is everything Sluice replicates. Treat it as read-only.
type State struct {
	// Index is the Raft log index of the last command that changed the
	// state. It is the xDS snapshot version: every node serves the same
	// version for the same state.
	Index uint64 `json:"index"`

	Services map[string]*config.Service       `json:"services"`
	Policies map[string]*config.ReleasePolicy `json:"policies"`
	Members  map[string]*Member               `json:"members"`
	Releases map[string]*Release              `json:"releases"`
	// Active maps a service to its release in progress (or to the release
	// of a train member until the train ends).
	Active map[string]string `json:"active"`
	Trains map[string]*Train `json:"trains"`
	// ServiceStatus is what is known of services beyond their specs:
	// the stable version of those that declare their version, and the
	// decisions taken on them outside a release.
	ServiceStatus map[string]*ServiceStatus `json:"serviceStatus,omitempty"`
	// Endpoints are the discovered endpoints of the versions that name a
	// discovery source, by EndpointKey (endpoints.go).
	Endpoints map[string]*EndpointSet `json:"endpoints,omitempty"`
	// RiskModel is the risk model learned from this cluster's outcomes;
	// nil means analysis/risk's built-in model.
	RiskModel *RiskModel `json:"riskModel,omitempty"`
	// RiskBase is the model installed with CmdRiskInstall, which the
	// leader's learner starts from; nil means the built-in model.
	RiskBase *RiskModel `json:"riskBase,omitempty"`
	// RiskInstalls records the installs, oldest first (MaxRiskInstalls).
	RiskInstalls []RiskInstall `json:"riskInstalls,omitempty"`
	// Notifiers are the Notifier documents; Outboxes their notices not
	// yet delivered, by notifier (notify.go).
	Notifiers map[string]*config.Notifier `json:"notifiers,omitempty"`
	Outboxes  map[string]*Outbox          `json:"outboxes,omitempty"`
}

// New returns an empty state.
func New() *State {
	return &State{
		Services: map[string]*config.Service{},
		Policies: map[string]*config.ReleasePolicy{},
		Members:  map[string]*Member{},
		Releases: map[string]*Release{},
		Active:   map[string]string{},
		Trains:   map[string]*Train{},

		ServiceStatus: map[string]*ServiceStatus{},
		Notifiers:     map[string]*config.Notifier{},
		Outboxes:      map[string]*Outbox{},
	}
}

// normalize makes nil maps empty, so a decoded snapshot behaves like New().
func (s *State) normalize() {
	if s.Services == nil {
		s.Services = map[string]*config.Service{}
	}
	if s.Policies == nil {
		s.Policies = map[string]*config.ReleasePolicy{}
	}
	if s.Members == nil {
		s.Members = map[string]*Member{}
	}
	if s.Releases == nil {
		s.Releases = map[string]*Release{}
	}
	if s.Active == nil {
		s.Active = map[string]string{}
	}
	if s.Trains == nil {
		s.Trains = map[string]*Train{}
	}
	if s.ServiceStatus == nil {
		s.ServiceStatus = map[string]*ServiceStatus{}
	}
	if s.Notifiers == nil {
		s.Notifiers = map[string]*config.Notifier{}
	}
	if s.Outboxes == nil {
		s.Outboxes = map[string]*Outbox{}
	}
}

// shallow copies the top-level struct; maps are still shared and must be
// cloned (cloneMap, through tx) before a change.
func (s *State) shallow() *State {
	c := *s
	return &c
}

func cloneMap[V any](m map[string]V) map[string]V {
	c := make(map[string]V, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	return c
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Service implements config.Catalog.
func (s *State) Service(name string) (*config.Service, bool) {
	v, ok := s.Services[name]
	return v, ok
}

// ReleasePolicy implements config.Catalog.
func (s *State) ReleasePolicy(name string) (*config.ReleasePolicy, bool) {
	v, ok := s.Policies[name]
	return v, ok
}

// ServiceNames implements config.Catalog.
func (s *State) ServiceNames() []string { return sortedKeys(s.Services) }

// ReleasePolicyNames implements config.Catalog.
func (s *State) ReleasePolicyNames() []string { return sortedKeys(s.Policies) }

// PolicyFor returns the policy covering a service, if any.
func (s *State) PolicyFor(service string) (*config.ReleasePolicy, bool) {
	for _, name := range s.ReleasePolicyNames() {
		p := s.Policies[name]
		for _, svc := range p.Spec.Services {
			if svc == service {
				return p, true
			}
		}
	}
	return nil, false
}
