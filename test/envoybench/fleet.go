// Package envoybench measures how fast a routing change reaches real
// Envoys: from `sluice apply` of new weights to M Envoys all holding the
// new route (their /config_dump), against a bare go-control-plane server
// feeding the same Envoys the same resources in the same run. It also
// reads the CPU time the control plane and the Envoys spent.
//
// The Envoys' bootstrap lists two xDS addresses, Sluice's and the bare
// server's. The bare server is not listening at first, so every Envoy
// settles on Sluice; after Sluice's rounds the bare server starts with the
// same state and Sluice stops, and the same Envoy processes fail over to
// it. Each Envoy's latency is its own last_updated time for the route
// minus the moment just before the change was made, so polling the
// admin interfaces (every 20 ms, one small request each) adds no error of
// its own beyond the millisecond last_updated has.
package envoybench

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
	"github.com/sluicehq/sluice/xds"
)

// Group places every benchmark Envoy in one proxy group.
var Group = xds.Group{Cluster: "bench", Region: "eu-west", Zone: "eu-west-1", GatewayAddress: "127.0.0.1"}

// BenchService is the service whose weights the rounds change.
const BenchService = "bench"

// Splits are the two (v1, v2) splits rounds alternate between; the fleet
// starts at Splits[0].
var Splits = [2][2]uint32{{90, 10}, {10, 90}}

// FleetYAML is the benchmark configuration: services http services (the
// bench service first) sharing one gateway port, each with two versions
// of two endpoints, the bench service at split.
func FleetYAML(services int, port int, split int) []byte {
	var b strings.Builder
	for i := range services {
		name := fmt.Sprintf("svc-%03d", i)
		w1, w2 := uint32(100), uint32(0)
		if i == 0 {
			name = BenchService
			w1, w2 = Splits[split][0], Splits[split][1]
		}
		fmt.Fprintf(&b, `---
apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: %s}
spec:
  protocol: http
  port: %d
  domains: [%s.bench.internal]
  versions:
    - {name: v1, weight: %d, endpoints: [{address: "10.1.%d.1:8080", region: eu-west}, {address: "10.1.%d.2:8080", region: eu-west}]}
    - {name: v2, weight: %d, endpoints: [{address: "10.2.%d.1:8080", region: eu-west}, {address: "10.2.%d.2:8080", region: eu-west}]}
`, name, port, name, w1, i, i, w2, i, i)
	}
	return []byte(b.String())
}

// RouteName is the route configuration the bench service lives in.
func RouteName(port int) string { return fmt.Sprintf("http_%d", port) }

// Resources translates the fleet at split for Group, as every Sluice node
// would: the bare server serves exactly these.
func Resources(services, port, split int) (*xds.Resources, error) {
	docs, err := config.Parse("fleet.yaml", FleetYAML(services, port, split))
	if err != nil {
		return nil, err
	}
	cmd, err := state.NewCommand(state.CmdApply, time.Unix(0, 0), "sluice-bench", state.ApplyPayload{Documents: docs, Defaults: config.CurrentDefaults})
	if err != nil {
		return nil, err
	}
	st, _, err := state.Apply(state.New(), 1, cmd)
	if err != nil {
		return nil, err
	}
	return xds.Translate(st, Group)
}
