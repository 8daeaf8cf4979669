package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/sluicehq/sluice/state"
)

// VersionEndpoints is what is known of one discovered version's
// endpoints. Set is nil until the leader first looked at the source.
type VersionEndpoints struct {
	Version string             `json:"version"`
	Source  string             `json:"source"`
	Set     *state.EndpointSet `json:"set,omitempty"`
}

// EndpointsResponse is the body of GET /v1/services/{name}/endpoints: the
// versions of the service that name a discovery source, in spec order.
type EndpointsResponse struct {
	Service  string             `json:"service"`
	Index    uint64             `json:"index"`
	Versions []VersionEndpoints `json:"versions"`
}

func (s *Server) serviceEndpoints(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	st := s.cluster.State()
	svc, ok := st.Services[name]
	if !ok {
		s.writeError(w, fmt.Errorf("%w: Service %q", state.ErrNotFound, name))
		return
	}
	out := EndpointsResponse{Service: name, Index: st.Index, Versions: []VersionEndpoints{}}
	for i := range svc.Spec.Versions {
		v := &svc.Spec.Versions[i]
		if v.Discovery == nil {
			continue
		}
		ve := VersionEndpoints{Version: v.Name, Source: v.Discovery.Source()}
		ve.Set, _ = st.DiscoveredEndpoints(name, v)
		out.Versions = append(out.Versions, ve)
	}
	writeJSON(w, http.StatusOK, out)
}

// ServiceEndpoints returns the discovered endpoints of a service's
// versions.
func (c *Client) ServiceEndpoints(ctx context.Context, service string) (*EndpointsResponse, error) {
	var out EndpointsResponse
	if err := c.GetJSON(ctx, "/v1/services/"+url.PathEscape(service)+"/endpoints", &out); err != nil {
		return nil, err
	}
	return &out, nil
}
