package test

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/test/envoytest"
)

// composeFile is the part of docker-compose.yaml the checks read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
	Volumes map[string]any `yaml:"volumes"`
}

type composeService struct {
	Image      string    `yaml:"image"`
	Build      string    `yaml:"build"`
	Entrypoint []string  `yaml:"entrypoint"`
	Command    []string  `yaml:"command"`
	Volumes    []string  `yaml:"volumes"`
	Ports      []string  `yaml:"ports"`
	Networks   yaml.Node `yaml:"networks"`
	DependsOn  []string  `yaml:"depends_on"`
}

// flag returns the value after name in the command ("" when absent), and
// every value when it repeats.
func (s composeService) flag(name string) string { return firstOr(s.flags(name)) }

func (s composeService) flags(name string) []string {
	var out []string
	for i, a := range s.Command {
		if a == name && i+1 < len(s.Command) {
			out = append(out, s.Command[i+1])
		}
	}
	return out
}

func firstOr(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// ipv4 is the service's fixed address on the network, if any.
func (s composeService) ipv4(t *testing.T) string {
	t.Helper()
	var nets map[string]struct {
		IPv4 string `yaml:"ipv4_address"`
	}
	if s.Networks.Kind != yaml.MappingNode {
		return ""
	}
	require.NoError(t, s.Networks.Decode(&nets))
	for _, n := range nets {
		return n.IPv4
	}
	return ""
}

func port(t *testing.T, hostPort string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(hostPort)
	require.NoError(t, err, hostPort)
	return p
}

// TestComposeStatic checks docker-compose.yaml, the Dockerfile and the
// files under deploy/ without a Docker engine: the compose file parses,
// every file it mounts exists, and ports and addresses agree between the
// compose file, Envoy's bootstrap (which must be exactly what `sluice
// envoy bootstrap` prints), Prometheus's scrape configuration and the
// services Sluice is given. `docker compose config -q` runs when the
// client has the compose plugin.
func TestComposeStatic(t *testing.T) {
	root := ".."
	read := func(p string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, p))
		require.NoError(t, err)
		return b
	}
	var cf composeFile
	require.NoError(t, yaml.Unmarshal(read("docker-compose.yaml"), &cf))
	svc := func(name string) composeService {
		t.Helper()
		s, ok := cf.Services[name]
		require.True(t, ok, "docker-compose.yaml has no service %q", name)
		return s
	}

	// Files it builds from and mounts.
	require.FileExists(t, filepath.Join(root, "Dockerfile"))
	require.FileExists(t, filepath.Join(root, ".dockerignore"))
	require.Equal(t, ".", svc("sluice-1").Build)
	for name, s := range cf.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				_, err := os.Stat(filepath.Join(root, src))
				require.NoError(t, err, "service %s mounts %s", name, src)
			} else {
				require.Contains(t, cf.Volumes, src, "service %s: named volume %s is declared", name, src)
			}
		}
	}
	dockerfile := string(read("Dockerfile"))
	for _, p := range []string{"./cmd/sluice", "./cmd/sluice-demo"} {
		require.Contains(t, dockerfile, p)
		require.DirExists(t, filepath.Join(root, p))
	}

	// The API tokens every node and the apply job use.
	auth, err := api.LoadAuth(filepath.Join(root, "deploy/sluice/auth.yaml"))
	require.NoError(t, err)

	// The Sluice nodes.
	nodes := []string{"sluice-1", "sluice-2", "sluice-3"}
	var xdsAddrs, apiAddrs []string
	for _, n := range nodes {
		s := svc(n)
		require.Equal(t, "server", s.Command[0], n)
		require.Equal(t, n, s.flag("--node-id"))
		for flag, want := range map[string]string{"--api-addr": "7070", "--xds-addr": "18000", "--raft-addr": "7071"} {
			a := s.flag(flag)
			host, p, err := net.SplitHostPort(a)
			require.NoError(t, err, "%s %s", n, flag)
			require.Equal(t, n, host, "%s %s is its own name", n, flag)
			require.Equal(t, want, p, "%s %s", n, flag)
		}
		xdsAddrs = append(xdsAddrs, s.flag("--xds-addr"))
		apiAddrs = append(apiAddrs, s.flag("--api-addr"))
		require.Equal(t, "http://prometheus:9090", s.flag("--prometheus-url"), n)
		// Closed like every non-dev node: an auth file it mounts, a token
		// of its own with the admin role (for joining), /metrics open to
		// Prometheus.
		require.Equal(t, "/deploy/sluice/auth.yaml", s.flag("--auth-file"), n)
		require.Contains(t, s.Volumes, "./deploy/sluice:/deploy/sluice:ro", n)
		require.Equal(t, []string{"admin"}, tokenRoles(t, auth, s.flag("--token")), n)
		require.True(t, slices.Contains(s.Command, "--metrics-open"), n)
		if n != "sluice-1" {
			require.Equal(t, svc("sluice-1").flag("--api-addr"), s.flag("--join"), n)
		}
	}
	require.True(t, slices.Contains(svc("sluice-1").Command, "--bootstrap"))

	// Envoy: the official 1.40 image on the generated bootstrap.
	envoy := svc("envoy")
	require.True(t, strings.HasPrefix(envoy.Image, "envoyproxy/envoy:v1.40."), envoy.Image)
	require.Contains(t, envoy.Volumes, "./deploy/envoy/envoy.yaml:/etc/envoy/envoy.yaml:ro")
	boot := read("deploy/envoy/envoy.yaml")
	first, body, _ := bytes.Cut(boot, []byte("\n"))
	const header = "# Generated by: sluice envoy bootstrap "
	require.True(t, bytes.HasPrefix(first, []byte(header)), "deploy/envoy/envoy.yaml starts with the command that made it")
	args := strings.Fields(strings.TrimPrefix(string(first), header))
	regenerated, err := exec.Command(sluiceBin, append([]string{"envoy", "bootstrap"}, args...)...).Output()
	require.NoError(t, err)
	_, body, _ = bytes.Cut(body, []byte("\n")) // the second comment line
	require.Equal(t, string(regenerated), string(body), "deploy/envoy/envoy.yaml is what `sluice envoy bootstrap %s` prints now", strings.Join(args, " "))
	bs := composeService{Command: args}
	require.Equal(t, xdsAddrs, bs.flags("--xds"), "Envoy's bootstrap lists every node's xDS address")
	envoyAdmin := bs.flag("--admin")

	// Prometheus scrapes every node, every backend and Envoy.
	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	require.Contains(t, svc("prometheus").Volumes, "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro")
	require.NoError(t, yaml.Unmarshal(read("deploy/prometheus/prometheus.yml"), &prom))
	targets := map[string][]string{}
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets[sc.JobName] = append(targets[sc.JobName], st.Targets...)
		}
		if sc.JobName == "envoy" {
			require.Equal(t, "/stats/prometheus", sc.MetricsPath)
		}
	}
	require.Equal(t, apiAddrs, targets["sluice"], "Prometheus scrapes every node's API (/metrics)")
	require.Equal(t, []string{"envoy:" + port(t, envoyAdmin)}, targets["envoy"], "Prometheus scrapes Envoy's admin port")

	// Backends: fixed addresses; scraped; each named by its service and
	// version.
	backends := map[string]composeService{}
	for name, s := range cf.Services {
		if len(s.Entrypoint) == 1 && s.Entrypoint[0] == "sluice-demo" && s.Command[0] == "backend" {
			backends[name] = s
			require.Equal(t, name, s.flag("--service")+"-"+s.flag("--version"), "backend name")
			require.Contains(t, targets["backends"], name+":"+port(t, s.flag("--http-addr")), "Prometheus scrapes %s", name)
		}
	}
	require.Len(t, targets["backends"], len(backends))

	// The services Sluice is given point at those backends.
	require.Contains(t, svc("apply").Volumes, "./deploy/sluice:/deploy/sluice:ro")
	require.Equal(t, "/deploy/sluice/apps.yaml", svc("apply").flag("-f"))
	require.Equal(t, []string{"deployer"}, tokenRoles(t, auth, svc("apply").flag("--token")))
	docs, err := config.Parse("deploy/sluice/apps.yaml", read("deploy/sluice/apps.yaml"))
	require.NoError(t, err)
	services := map[string]*config.Service{}
	for _, d := range docs {
		if d.Service == nil {
			continue
		}
		services[d.Name] = d.Service
		for _, v := range d.Service.Spec.Versions {
			b, ok := backends[d.Name+"-"+v.Name]
			require.True(t, ok, "a backend for %s/%s", d.Name, v.Name)
			portFlag := "--grpc-addr"
			if d.Service.Spec.Protocol == config.ProtocolHTTP {
				portFlag = "--http-addr"
			}
			for _, ep := range v.Endpoints {
				require.Equal(t, net.JoinHostPort(b.ipv4(t), port(t, b.flag(portFlag))), ep.Address, "%s/%s", d.Name, v.Name)
			}
		}
	}

	// HTTP through Envoy: the gateway port is the web service's port, and
	// the load sends its Host.
	web := services["web"]
	require.NotNil(t, web)
	gateway := strconv.Itoa(int(web.Spec.Port))
	require.Equal(t, []string{"127.0.0.1:" + gateway + ":" + gateway}, envoy.Ports)
	wl := svc("web-load")
	require.Equal(t, "envoy:"+gateway, wl.flag("--proxy"))
	require.Contains(t, web.Spec.Domains, wl.flag("--authority"))
	require.True(t, slices.Contains(wl.Command, "--http"))
	// Proxyless gRPC through a node's xDS port.
	gl := svc("greeter-load")
	require.Contains(t, xdsAddrs, gl.flag("--xds"))
	require.Equal(t, config.ProtocolGRPC, services[gl.flag("--target")].Spec.Protocol)

	t.Run("docker compose config", func(t *testing.T) {
		if err := exec.Command("docker", "compose", "version").Run(); err != nil {
			t.Skipf("no docker compose plugin here (%v); the checks above cover the file", err)
		}
		cmd := exec.Command("docker", "compose", "-f", "docker-compose.yaml", "config", "-q")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
	})

	t.Run("envoy validates the bootstrap", func(t *testing.T) {
		out, err := envoytest.Validate(envoytest.Binary(t), boot)
		require.NoError(t, err, "%s", out)
	})
}

// tokenRoles are the roles auth gives token, failing the test when it
// gives none.
func tokenRoles(t *testing.T, auth *api.Auth, token string) []string {
	t.Helper()
	id, ok := auth.Lookup(token)
	require.True(t, ok, "token %q is not in deploy/sluice/auth.yaml", token)
	var out []string
	for _, r := range id.Roles {
		out = append(out, string(r))
	}
	return out
}
