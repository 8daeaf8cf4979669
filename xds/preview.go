package xds

import (
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// previewRouteName names the route that sends a blue/green preview's
// requests to the version that is not live.
const previewRouteName = "preview"

// previewRoutes is the header form of a service's preview route, placed
// before every other route: requests carrying the preview header go to
// the preview version entirely. It is empty when the service has no
// preview route or its preview is a domain (previewVirtualHost).
func (t *translator) previewRoutes(svc *config.Service, prefix string) ([]*routev3.Route, error) {
	p, ok := t.st.Preview(svc.Metadata.Name)
	if !ok || p.Preview.Header == nil {
		return nil, nil
	}
	h := p.Preview.Header
	r, err := weightedRoute(previewRouteName, svc, state.SplitWeights(svc, "", p.Version, config.TotalWeight),
		prefixMatch(prefix, []*routev3.HeaderMatcher{exactHeader(h.Name, h.Value)}))
	if err != nil {
		return nil, err
	}
	return []*routev3.Route{r}, nil
}

// previewVirtualHost is the domain form of a service's preview route: a
// virtual host of its own on the service's gateway port whose one route
// sends everything to the preview version. It is nil when the service has
// no preview route or its preview is a header.
func (t *translator) previewVirtualHost(svc *config.Service) (*routev3.VirtualHost, error) {
	p, ok := t.st.Preview(svc.Metadata.Name)
	if !ok || p.Preview.Domain == "" {
		return nil, nil
	}
	r, err := weightedRoute(previewRouteName, svc, state.SplitWeights(svc, "", p.Version, config.TotalWeight), prefixMatch("/", nil))
	if err != nil {
		return nil, err
	}
	preview := *svc
	preview.Spec.Domains = []string{p.Preview.Domain}
	return &routev3.VirtualHost{
		Name:    svc.Metadata.Name + "/" + previewRouteName,
		Domains: httpDomains(&preview),
		Routes:  []*routev3.Route{r},
	}, nil
}

// addGateway adds a service's virtual hosts (its own and, with a preview
// domain, the preview's) to its gateway port.
func (t *translator) addGateway(svc *config.Service, weights []uint32) error {
	vh, err := t.httpVirtualHost(svc, weights)
	if err != nil {
		return err
	}
	pv, err := t.previewVirtualHost(svc)
	if err != nil {
		return err
	}
	if t.httpPorts == nil {
		t.httpPorts = map[uint32][]*routev3.VirtualHost{}
	}
	port := svc.Spec.Port
	t.httpPorts[port] = append(t.httpPorts[port], vh)
	if pv != nil {
		t.httpPorts[port] = append(t.httpPorts[port], pv)
	}
	return nil
}
