package envoytest

import (
	"context"
	"strings"
)

// HealthFlags returns the health_flags of every host of every cluster
// from the text form of /clusters, by cluster name and then host address:
// "healthy", or flags such as "/failed_eds_health" (Envoy's own words).
func (a *Admin) HealthFlags(ctx context.Context) (map[string]map[string]string, error) {
	body, err := a.get(ctx, "/clusters")
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, line := range strings.Split(string(body), "\n") {
		// cluster::host:port::health_flags::flags
		parts := strings.Split(line, "::")
		if len(parts) != 4 || parts[2] != "health_flags" {
			continue
		}
		if out[parts[0]] == nil {
			out[parts[0]] = map[string]string{}
		}
		out[parts[0]][parts[1]] = parts[3]
	}
	return out, nil
}
