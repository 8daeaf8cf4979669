package demo

import (
	"encoding/json"
	"fmt"
)

// BootstrapEnv is the environment variable grpc-go reads its xDS bootstrap
// JSON from, once, when the process starts.
const BootstrapEnv = "GRPC_XDS_BOOTSTRAP_CONFIG"

// BootstrapFileEnv names a bootstrap file; grpc-go prefers it over
// BootstrapEnv, so a process that sets BootstrapEnv must unset it.
const BootstrapFileEnv = "GRPC_XDS_BOOTSTRAP"

// Node is how an xDS client introduces itself to the control plane.
type Node struct {
	ID      string
	Cluster string
	Region  string
	Zone    string
}

type bootstrapServer struct {
	URI      string              `json:"server_uri"`
	Creds    []map[string]string `json:"channel_creds"`
	Features []string            `json:"server_features"`
}

type bootstrapLocality struct {
	Region string `json:"region,omitempty"`
	Zone   string `json:"zone,omitempty"`
}

type bootstrapNode struct {
	ID       string            `json:"id"`
	Cluster  string            `json:"cluster,omitempty"`
	Locality bootstrapLocality `json:"locality"`
}

type bootstrapConfig struct {
	Servers []bootstrapServer `json:"xds_servers"`
	Node    bootstrapNode     `json:"node"`
}

// Bootstrap returns grpc-go's xDS bootstrap JSON for a client that talks
// to the control plane at xdsAddrs (host:port or a gRPC target such as
// dns:///sluice-xds.example:18000, plaintext), every node in order of
// preference. The output is the same for the same input, so it can be
// compared with the value a process was started with.
//
// grpc-go moves to the next server only while a resource it watches is
// not cached yet (gRFC A71): a client that holds its routes stays on a
// dead first server. List first a name that resolves to every node (a
// DNS name with one address per node), so the xDS channel reconnects to a
// live node by itself, then the nodes one by one.
func Bootstrap(n Node, xdsAddrs ...string) ([]byte, error) {
	if len(xdsAddrs) == 0 {
		return nil, fmt.Errorf("%w: bootstrap needs the control plane's xDS address", ErrInvalidConfig)
	}
	if n.ID == "" {
		return nil, fmt.Errorf("%w: bootstrap needs a node id", ErrInvalidConfig)
	}
	servers := make([]bootstrapServer, 0, len(xdsAddrs))
	for i, a := range xdsAddrs {
		if a == "" {
			return nil, fmt.Errorf("%w: bootstrap xDS address %d is empty", ErrInvalidConfig, i+1)
		}
		servers = append(servers, bootstrapServer{URI: a, Creds: []map[string]string{{"type": "insecure"}}, Features: []string{"xds_v3"}})
	}
	return json.Marshal(bootstrapConfig{
		Servers: servers,
		Node:    bootstrapNode{ID: n.ID, Cluster: n.Cluster, Locality: bootstrapLocality{Region: n.Region, Zone: n.Zone}},
	})
}
