package config

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// Layout of svc(name, protocol, port, extra) documents, used for positions
// below: metadata.name at 4:9; with a port, extra starts at line 12, without
// one at line 11.

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		catalog string
		request string
		mutate  func(docs []Document)
		want    []string // nil: no error
	}{
		{
			name:    "valid request against an empty catalog",
			request: join(svc("db", "grpc", 0, ""), svc("web", "http", 80, "  dependsOn: [db]\n"), policy("p", "web", "db")),
		},
		{
			name:    "duplicate document",
			request: join(svc("web", "http", 80, ""), svc("web", "http", 81, "")),
			want: []string{`f.yaml:16:9: Service "web": metadata.name: ` +
				`duplicate Service "web" in this request (first at f.yaml:1:1)`},
		},
		{
			name:    "same name, different kinds",
			request: join(svc("web", "http", 80, ""), policy("web", "web")),
		},
		{
			name:    "unknown dependency",
			request: svc("web", "http", 80, "  dependsOn: [db, cache]\n"),
			want: []string{
				`f.yaml:12:15: Service "web": spec.dependsOn[0]: unknown service "db" (neither in this request nor already applied)`,
				`f.yaml:12:19: Service "web": spec.dependsOn[1]: unknown service "cache" (neither in this request nor already applied)`,
			},
		},
		{
			name:    "dependency already applied",
			catalog: svc("db", "grpc", 0, ""),
			request: svc("web", "http", 80, "  dependsOn: [db]\n"),
		},
		{
			name:    "dependsOn cycle within the request",
			request: join(svc("a", "grpc", 0, "  dependsOn: [b]\n"), svc("b", "grpc", 0, "  dependsOn: [c]\n"), svc("c", "grpc", 0, "  dependsOn: [a]\n")),
			want:    []string{`f.yaml:11:15: Service "a": spec.dependsOn[0]: dependsOn cycle: a -> b -> c -> a`},
		},
		{
			name:    "dependsOn cycle through the catalog",
			catalog: join(svc("a", "grpc", 0, ""), svc("b", "grpc", 0, "  dependsOn: [a]\n")),
			request: svc("a", "grpc", 0, "  dependsOn: [b]\n"),
			want:    []string{`f.yaml:11:15: Service "a": spec.dependsOn[0]: dependsOn cycle: a -> b -> a`},
		},
		{
			name:    "replacing a service breaks a cycle-to-be",
			catalog: join(svc("a", "grpc", 0, "  dependsOn: [b]\n"), svc("b", "grpc", 0, "")),
			request: join(svc("a", "grpc", 0, ""), svc("b", "grpc", 0, "  dependsOn: [a]\n")),
		},
		{
			name:    "http domain conflict with an applied service",
			catalog: svc("shop", "http", 80, "  domains: [Web.Example.com]\n"),
			request: svc("web", "http", 80, "  domains: [a.example.com, web.example.com]\n"),
			want: []string{`f.yaml:12:28: Service "web": spec.domains[1]: ` +
				`domain "web.example.com" on port 80 is already used by Service "shop" (already applied)`},
		},
		{
			name:    "http domain conflict within the request",
			request: join(svc("shop", "http", 80, "  domains: [web.example.com]\n"), svc("web", "http", 80, "  domains: [web.example.com]\n")),
			want: []string{`f.yaml:25:13: Service "web": spec.domains[0]: ` +
				`domain "web.example.com" on port 80 is already used by Service "shop" (at f.yaml:12:13)`},
		},
		{
			name:    "same domain on another port",
			catalog: svc("shop", "http", 80, "  domains: [web.example.com]\n"),
			request: svc("web", "http", 8080, "  domains: [web.example.com]\n"),
		},
		{
			name:    "replacing a service keeps its own domains",
			catalog: svc("web", "http", 80, "  domains: [web.example.com]\n"),
			request: svc("web", "http", 80, "  domains: [web.example.com]\n"),
		},
		{
			name:    "grpc target conflict: domain equals another service's name",
			catalog: svc("greeter", "grpc", 0, ""),
			request: svc("hello", "grpc", 0, "  domains: [greeter]\n"),
			want: []string{`f.yaml:11:13: Service "hello": spec.domains[0]: ` +
				`gRPC target "greeter" is already used by Service "greeter" (already applied)`},
		},
		{
			name:    "grpc target conflict: name:port",
			catalog: svc("greeter", "grpc", 9000, ""),
			request: svc("hello", "grpc", 0, "  domains: [\"greeter:9000\"]\n"),
			want: []string{`f.yaml:11:13: Service "hello": spec.domains[0]: ` +
				`gRPC target "greeter:9000" is already used by Service "greeter" (already applied)`},
		},
		{
			name:    "grpc target conflict: name",
			request: join(svc("hello", "grpc", 0, "  domains: [greeter]\n"), svc("greeter", "grpc", 0, "")),
			want: []string{`f.yaml:16:9: Service "greeter": metadata.name: ` +
				`gRPC target "greeter" is already used by Service "hello" (at f.yaml:11:13)`},
		},
		{
			name:    "http domain and grpc target may match",
			request: join(svc("web", "http", 80, "  domains: [greeter]\n"), svc("greeter", "grpc", 0, "")),
		},
		{
			name:    "policy names an unknown service",
			request: policy("p", "web"),
			want:    []string{`f.yaml:6:14: ReleasePolicy "p": spec.services[0]: unknown service "web" (neither in this request nor already applied)`},
		},
		{
			name:    "service covered by two policies",
			catalog: join(svc("web", "http", 80, ""), svc("api", "grpc", 0, ""), policy("p1", "web")),
			request: policy("p2", "api", "web"),
			want: []string{`f.yaml:6:19: ReleasePolicy "p2": spec.services[1]: Service "web" is already covered by ` +
				`ReleasePolicy "p1" (already applied); a service may be covered by one policy only`},
		},
		{
			name:    "service covered by two policies in one request",
			catalog: svc("web", "http", 80, ""),
			request: join(policy("p1", "web"), policy("p2", "web")),
			want: []string{`f.yaml:13:14: ReleasePolicy "p2": spec.services[0]: Service "web" is already covered by ` +
				`ReleasePolicy "p1" (at f.yaml:6:14); a service may be covered by one policy only`},
		},
		{
			name:    "re-applying a policy does not conflict with itself",
			catalog: join(svc("web", "http", 80, ""), svc("api", "grpc", 0, ""), policy("p1", "web")),
			request: policy("p1", "web", "api"),
		},
		{
			name:    "moving a service between policies in one request",
			catalog: join(svc("web", "http", 80, ""), svc("api", "grpc", 0, ""), policy("p1", "web")),
			request: join(policy("p1", "api"), policy("p2", "web")),
		},
		{
			name:    "field rules run too",
			request: svc("web", "http", 80, ""),
			mutate:  func(docs []Document) { docs[0].Service.Spec.Port = 70000 },
			want:    []string{`f.yaml:7:9: Service "web": spec.port: must be 1-65535, got 70000`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cat := newCatalog(t, tc.catalog)
			docs, err := Parse("f.yaml", []byte(tc.request))
			require.NoError(t, err)
			if tc.mutate != nil {
				tc.mutate(docs)
			}
			err = Check(docs, cat)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Equal(t, tc.want, errorLines(t, err))
			require.ErrorIs(t, err, ErrInvalid)
		})
	}
}

// withoutPositions simulates documents that came through the Raft log.
func withoutPositions(t *testing.T, docs []Document) []Document {
	t.Helper()
	raw, err := json.Marshal(docs)
	require.NoError(t, err)
	var out []Document
	require.NoError(t, json.Unmarshal(raw, &out))
	for _, d := range out {
		require.Zero(t, d.Pos)
		require.Nil(t, d.Fields)
	}
	return out
}

func TestCheckWithoutPositions(t *testing.T) {
	cat := newCatalog(t, join(svc("web", "http", 80, "  domains: [web.example.com]\n"), policy("p1", "web")))
	docs, err := Parse("f.yaml", []byte(join(
		svc("shop", "http", 80, "  domains: [web.example.com]\n  dependsOn: [db]\n"),
		svc("shop", "http", 80, ""),
		policy("p2", "web"),
	)))
	require.NoError(t, err)
	err = Check(withoutPositions(t, docs), cat)
	require.Equal(t, []string{
		`Service "shop": metadata.name: duplicate Service "shop" in this request (first is document 1)`,
		`Service "shop": spec.dependsOn[0]: unknown service "db" (neither in this request nor already applied)`,
		`Service "shop": spec.domains[0]: domain "web.example.com" on port 80 is already used by Service "web" (already applied)`,
		`ReleasePolicy "p2": spec.services[0]: Service "web" is already covered by ReleasePolicy "p1" (already applied); ` +
			`a service may be covered by one policy only`,
	}, errorLines(t, err))
	require.ErrorIs(t, err, ErrInvalid)

	// The same request with positions names file:line:col.
	err = Check(docs, cat)
	require.Contains(t, err.Error(), `f.yaml:18:9: Service "shop": metadata.name: duplicate Service "shop" in this request (first at f.yaml:1:1)`)
}

// TestCheckRawDocuments covers documents that did not come from Parse:
// Check re-runs every field rule and checks that Kind and Name agree with
// the body.
func TestCheckRawDocuments(t *testing.T) {
	weight := uint32(50)
	docs := []Document{
		{Kind: KindService, Name: "web", Service: &Service{
			APIVersion: APIVersion, Kind: KindService, Metadata: Metadata{Name: "web"},
			Spec: ServiceSpec{Protocol: "tcp", Versions: []Version{{Name: "v1", Weight: &weight,
				Endpoints: []Endpoint{{Address: "10.0.0.1"}}}}},
		}},
		{Kind: KindService, Name: "other", Service: &Service{
			APIVersion: "v1", Kind: KindService, Metadata: Metadata{Name: "api"},
			Spec: ServiceSpec{Protocol: ProtocolGRPC, Versions: []Version{{Name: "v1",
				Endpoints: []Endpoint{{Address: "10.0.0.1:80"}}}}},
		}},
		{Kind: KindReleasePolicy, Name: "p"},
		{Kind: "Gateway", Name: "g"},
	}
	err := Check(docs, newCatalog(t, ""))
	require.Equal(t, []string{
		`Service "web": spec.protocol: must be "http" or "grpc", got "tcp"`,
		`Service "web": spec.versions[0].endpoints[0].address: invalid address "10.0.0.1": ` +
			`want host:port, e.g. "10.0.0.1:8080" or "[2001:db8::1]:8080"`,
		`Service "web": spec.versions: weights must sum to 100, got 50 (v1=50)`,
		`Service "other": apiVersion: unsupported apiVersion "v1": must be "sluice.dev/v1alpha1"`,
		`Service "other": metadata.name: document name "other" does not match metadata.name "api"`,
		`ReleasePolicy "p": document has no ReleasePolicy body`,
		`kind: unknown kind "Gateway": known kinds are Service, ReleasePolicy, Release, ReleaseTrain, Notifier`,
	}, errorLines(t, err))
}

func TestCheckDelete(t *testing.T) {
	cat := newCatalog(t, join(
		svc("db", "grpc", 0, ""),
		svc("web", "http", 80, "  dependsOn: [db]\n"),
		svc("lonely", "grpc", 0, ""),
		policy("p", "db"),
	))
	tests := []struct {
		name     string
		kind     Kind
		obj      string
		wantErr  error
		wantText string
	}{
		{name: "unreferenced service", kind: KindService, obj: "lonely"},
		{name: "referenced service", kind: KindService, obj: "db", wantErr: ErrInvalid,
			wantText: `Service "db": cannot be deleted: still referred to by Service "web" (spec.dependsOn), ReleasePolicy "p" (spec.services)`},
		{name: "dependent service", kind: KindService, obj: "web"},
		{name: "policy", kind: KindReleasePolicy, obj: "p"},
		{name: "missing service", kind: KindService, obj: "nope", wantErr: ErrNotFound, wantText: `Service "nope": not found`},
		{name: "missing policy", kind: KindReleasePolicy, obj: "nope", wantErr: ErrNotFound, wantText: `ReleasePolicy "nope": not found`},
		{name: "unknown kind", kind: "Gateway", obj: "g", wantErr: ErrInvalid,
			wantText: `kind: unknown kind "Gateway": known kinds are Service, ReleasePolicy, Release, ReleaseTrain, Notifier`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckDelete(tc.kind, tc.obj, cat)
			if tc.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
			require.EqualError(t, err, tc.wantText)
		})
	}
}
