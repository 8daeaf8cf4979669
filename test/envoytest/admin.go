package envoytest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// maxAdminBody bounds what is read from one admin answer.
const maxAdminBody = 64 << 20

// Admin reads an Envoy's admin interface.
type Admin struct {
	addr   string
	client *http.Client
}

// NewAdmin returns a client for the admin interface at addr (host:port).
func NewAdmin(addr string) *Admin {
	return &Admin{addr: addr, client: &http.Client{Timeout: 10 * time.Second}}
}

// Addr is the admin address.
func (a *Admin) Addr() string { return a.addr }

func (a *Admin) get(ctx context.Context, pathQuery string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.addr+pathQuery, nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("envoy admin %s: %w", pathQuery, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminBody))
	if err != nil {
		return nil, fmt.Errorf("envoy admin %s: %w", pathQuery, err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("envoy admin %s: %s: %.300s", pathQuery, resp.Status, body)
	}
	return body, nil
}

// getJSON decodes the JSON answer to pathQuery into v; what names the
// answer in errors.
func (a *Admin) getJSON(ctx context.Context, pathQuery, what string, v any) error {
	body, err := a.get(ctx, pathQuery)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode %s: %w", what, err)
	}
	return nil
}

// Ready returns nil once Envoy reports LIVE on /ready: its initial
// listeners and clusters have arrived and warmed.
func (a *Admin) Ready(ctx context.Context) error {
	_, err := a.get(ctx, "/ready")
	return err
}

// RouteConfig is one dynamic route configuration in /config_dump.
type RouteConfig struct {
	Name    string
	Version string
	// Updated is when Envoy last accepted it (its last_updated, to the
	// millisecond).
	Updated time.Time
	// Config is the route configuration as Envoy holds it (proto JSON).
	Config json.RawMessage
}

// Routes returns the dynamic route configurations, by name.
func (a *Admin) Routes(ctx context.Context) (map[string]RouteConfig, error) {
	return a.routes(ctx, "/config_dump?resource=dynamic_route_configs")
}

// Route returns one dynamic route configuration (found false when Envoy
// has none of that name); it asks Envoy for that one alone.
func (a *Admin) Route(ctx context.Context, name string) (RouteConfig, bool, error) {
	rs, err := a.routes(ctx, "/config_dump?resource=dynamic_route_configs&name_regex="+url.QueryEscape("^"+regexp.QuoteMeta(name)+"$"))
	if err != nil {
		return RouteConfig{}, false, err
	}
	rc, ok := rs[name]
	return rc, ok, nil
}

func (a *Admin) routes(ctx context.Context, pathQuery string) (map[string]RouteConfig, error) {
	var dump struct {
		Configs []struct {
			VersionInfo string          `json:"version_info"`
			RouteConfig json.RawMessage `json:"route_config"`
			LastUpdated time.Time       `json:"last_updated"`
		} `json:"configs"`
	}
	if err := a.getJSON(ctx, pathQuery, "route config dump", &dump); err != nil {
		return nil, err
	}
	out := map[string]RouteConfig{}
	for _, c := range dump.Configs {
		var named struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(c.RouteConfig, &named); err != nil {
			return nil, fmt.Errorf("decode route config name: %w", err)
		}
		out[named.Name] = RouteConfig{Name: named.Name, Version: c.VersionInfo, Updated: c.LastUpdated, Config: c.RouteConfig}
	}
	return out, nil
}

// Listener is one dynamic listener in /config_dump.
type Listener struct {
	Name string
	// ActiveVersion is the version of the listener in use ("" when none
	// is active yet); Warming is set while a new one waits for its routes.
	ActiveVersion string
	// Address is the active listener's socket address, host:port.
	Address string
	Warming bool
	// Error is Envoy's message for the last rejected update of this
	// listener (NACKed), empty when none.
	Error string
}

// Listeners returns the dynamic listeners, by name.
func (a *Admin) Listeners(ctx context.Context) (map[string]Listener, error) {
	var dump struct {
		Configs []struct {
			Name        string `json:"name"`
			ActiveState *struct {
				VersionInfo string `json:"version_info"`
				Listener    struct {
					Address struct {
						SocketAddress struct {
							Address   string `json:"address"`
							PortValue int    `json:"port_value"`
						} `json:"socket_address"`
					} `json:"address"`
				} `json:"listener"`
			} `json:"active_state"`
			WarmingState *struct{} `json:"warming_state"`
			ErrorState   *struct {
				Details string `json:"details"`
			} `json:"error_state"`
		} `json:"configs"`
	}
	if err := a.getJSON(ctx, "/config_dump?resource=dynamic_listeners", "listener dump", &dump); err != nil {
		return nil, err
	}
	out := map[string]Listener{}
	for _, c := range dump.Configs {
		l := Listener{Name: c.Name, Warming: c.WarmingState != nil}
		if a := c.ActiveState; a != nil {
			l.ActiveVersion = a.VersionInfo
			sa := a.Listener.Address.SocketAddress
			l.Address = net.JoinHostPort(sa.Address, strconv.Itoa(sa.PortValue))
		}
		if c.ErrorState != nil {
			l.Error = c.ErrorState.Details
		}
		out[c.Name] = l
	}
	return out, nil
}

// Stats returns the counters and gauges whose names match the regular
// expression filter (Envoy's /stats?filter=), by name.
func (a *Admin) Stats(ctx context.Context, filter string) (map[string]uint64, error) {
	var st struct {
		Stats []struct {
			Name  string          `json:"name"`
			Value json.RawMessage `json:"value"`
		} `json:"stats"`
	}
	if err := a.getJSON(ctx, "/stats?format=json&filter="+url.QueryEscape(filter), "stats", &st); err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, s := range st.Stats {
		if len(s.Value) == 0 { // histograms have no value
			continue
		}
		v, err := strconv.ParseUint(string(s.Value), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("stat %s: value %s: %w", s.Name, s.Value, err)
		}
		out[s.Name] = v
	}
	return out, nil
}

// UpstreamRequests returns cluster.<name>.upstream_rq_total for every
// cluster: the requests Envoy sent to each, as Envoy counts them.
func (a *Admin) UpstreamRequests(ctx context.Context) (map[string]uint64, error) {
	st, err := a.Stats(ctx, `^cluster\..*\.upstream_rq_total$`)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for name, v := range st {
		const prefix, suffix = "cluster.", ".upstream_rq_total"
		out[name[len(prefix):len(name)-len(suffix)]] = v
	}
	return out, nil
}

// Host is one upstream host of a cluster in /clusters.
type Host struct {
	Address string
	// ActiveConnections is the host's cx_active gauge.
	ActiveConnections uint64
}

// Clusters returns the hosts of every cluster Envoy knows (/clusters), by
// cluster name.
func (a *Admin) Clusters(ctx context.Context) (map[string][]Host, error) {
	var cs struct {
		ClusterStatuses []struct {
			Name         string `json:"name"`
			HostStatuses []struct {
				Address struct {
					SocketAddress struct {
						Address   string `json:"address"`
						PortValue int    `json:"port_value"`
					} `json:"socket_address"`
				} `json:"address"`
				Stats []struct {
					Name  string `json:"name"`
					Value string `json:"value"`
				} `json:"stats"`
			} `json:"host_statuses"`
		} `json:"cluster_statuses"`
	}
	if err := a.getJSON(ctx, "/clusters?format=json", "clusters", &cs); err != nil {
		return nil, err
	}
	out := map[string][]Host{}
	for _, c := range cs.ClusterStatuses {
		hosts := []Host{}
		for _, h := range c.HostStatuses {
			host := Host{Address: fmt.Sprintf("%s:%d", h.Address.SocketAddress.Address, h.Address.SocketAddress.PortValue)}
			for _, s := range h.Stats {
				if s.Name == "cx_active" && s.Value != "" {
					host.ActiveConnections, _ = strconv.ParseUint(s.Value, 10, 64)
				}
			}
			hosts = append(hosts, host)
		}
		out[c.Name] = hosts
	}
	return out, nil
}

// Split returns, for the named virtual host of the route configuration,
// the weighted clusters of its last route (Sluice's default route), by
// cluster name; a single-cluster route gives that cluster weight 1.
func (rc RouteConfig) Split(vhost string) (map[string]uint32, error) {
	var cfg struct {
		VirtualHosts []struct {
			Name   string `json:"name"`
			Routes []struct {
				Route struct {
					Cluster          string `json:"cluster"`
					WeightedClusters struct {
						Clusters []struct {
							Name   string `json:"name"`
							Weight uint32 `json:"weight"`
						} `json:"clusters"`
					} `json:"weighted_clusters"`
				} `json:"route"`
			} `json:"routes"`
		} `json:"virtual_hosts"`
	}
	if err := json.Unmarshal(rc.Config, &cfg); err != nil {
		return nil, fmt.Errorf("decode route config %s: %w", rc.Name, err)
	}
	for _, vh := range cfg.VirtualHosts {
		if vh.Name != vhost || len(vh.Routes) == 0 {
			continue
		}
		last := vh.Routes[len(vh.Routes)-1].Route
		out := map[string]uint32{}
		if last.Cluster != "" {
			out[last.Cluster] = 1
		}
		for _, c := range last.WeightedClusters.Clusters {
			out[c.Name] = c.Weight
		}
		return out, nil
	}
	return nil, fmt.Errorf("route config %s has no virtual host %q with routes", rc.Name, vhost)
}

// serial is a serial number as Go's big.Int.Text(16) writes it: lower
// case, no leading zeros (Envoy pads to whole bytes).
func serial(s string) string { return strings.TrimLeft(strings.ToLower(s), "0") }

// CertSerials returns the serial numbers (hex, lower case, no leading
// zeros) of the
// certificates Envoy holds now (/certs): the certificate chains it
// presents and the CAs it trusts, for every TLS context.
func (a *Admin) CertSerials(ctx context.Context) (chains, cas []string, err error) {
	type cert struct {
		SerialNumber string `json:"serial_number"`
	}
	var out struct {
		Certificates []struct {
			CACert    []cert `json:"ca_cert"`
			CertChain []cert `json:"cert_chain"`
		} `json:"certificates"`
	}
	if err := a.getJSON(ctx, "/certs", "certs", &out); err != nil {
		return nil, nil, err
	}
	for _, c := range out.Certificates {
		for _, s := range c.CertChain {
			chains = append(chains, serial(s.SerialNumber))
		}
		for _, s := range c.CACert {
			cas = append(cas, serial(s.SerialNumber))
		}
	}
	return chains, cas, nil
}
