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
// to the control plane at xdsAddr (host:port, plaintext). The output is
// the same for the same input, so it can be compared with the value a
// process was started with.
func Bootstrap(xdsAddr string, n Node) ([]byte, error) {
	if xdsAddr == "" {
		return nil, fmt.Errorf("%w: bootstrap needs the control plane's xDS address", ErrInvalidConfig)
	}
	if n.ID == "" {
		return nil, fmt.Errorf("%w: bootstrap needs a node id", ErrInvalidConfig)
	}
	return json.Marshal(bootstrapConfig{
		Servers: []bootstrapServer{{
			URI:      xdsAddr,
			Creds:    []map[string]string{{"type": "insecure"}},
			Features: []string{"xds_v3"},
		}},
		Node: bootstrapNode{ID: n.ID, Cluster: n.Cluster, Locality: bootstrapLocality{Region: n.Region, Zone: n.Zone}},
	})
}
