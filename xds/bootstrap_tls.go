package xds

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/sluicehq/sluice/certs"
)

// BootstrapTLS secures a bootstrap's ADS stream with mutual TLS: Envoy
// presents Cert and Key and trusts only servers whose certificate CA
// signed and names a Sluice node of TrustDomain. The zero value is
// plaintext.
//
// The certificate and the CA reach Envoy through file-based SDS: the
// bootstrap names two SDS files (SDSFiles, in SDSDir) whose secrets refer
// to Cert, Key and CA by path and watch their directories, so Envoy loads
// a rotated certificate or CA bundle from disk without a restart; the next
// connection to a Sluice node presents it.
type BootstrapTLS struct {
	// CA, Cert and Key are PEM files on the proxy's host, all or none.
	CA, Cert, Key string
	// ServerName is sent as SNI; empty sends none.
	ServerName string
	// TrustDomain of the nodes' identities (certs.DefaultTrustDomain if
	// empty).
	TrustDomain string
	// SDSDir is the directory on the proxy's host that holds the SDS
	// files; empty means the directory of Cert.
	SDSDir string
}

// SDS secret names of the xDS cluster's transport socket.
const (
	SecretXDSClientCert = "sluice_xds_client_cert"
	SecretXDSCA         = "sluice_xds_ca"
)

// SDSFile is one file of file-based SDS: where the bootstrap expects it on
// the proxy's host, and what it holds (a DiscoveryResponse in JSON).
type SDSFile struct {
	Path string
	Data []byte
}

// enabled says whether any TLS file was given.
func (t BootstrapTLS) enabled() bool { return t.CA != "" || t.Cert != "" || t.Key != "" }

// problems lists what keeps t from giving a working mutual TLS set-up.
func (t BootstrapTLS) problems() []string {
	if !t.enabled() {
		if t.ServerName != "" || t.TrustDomain != "" || t.SDSDir != "" {
			return []string{"--tls-server-name, --tls-trust-domain and --tls-sds-dir need --tls-ca, --tls-cert and --tls-key"}
		}
		return nil
	}
	var missing []string
	for _, f := range []struct{ flag, v string }{{"--tls-ca", t.CA}, {"--tls-cert", t.Cert}, {"--tls-key", t.Key}} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.flag)
		}
	}
	if len(missing) > 0 {
		return []string{"mutual TLS needs --tls-ca, --tls-cert and --tls-key together; missing " + strings.Join(missing, ", ")}
	}
	return nil
}

// clientCertSecret is the proxy's certificate and key by path. With both
// files in one directory, that directory is watched: a rename into it
// (a rotated file moved in place, or a Kubernetes-style ..data swap)
// reloads the pair together, checked for consistency.
func (t BootstrapTLS) clientCertSecret() *tlsv3.Secret {
	c := &tlsv3.TlsCertificate{CertificateChain: fileSource(t.Cert), PrivateKey: fileSource(t.Key)}
	if dir := filepath.Dir(t.Cert); dir == filepath.Dir(t.Key) {
		c.WatchedDirectory = &corev3.WatchedDirectory{Path: dir}
	}
	return &tlsv3.Secret{Name: SecretXDSClientCert, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: c}}
}

// caSecret is the CA bundle by path, its directory watched.
func (t BootstrapTLS) caSecret() *tlsv3.Secret {
	return &tlsv3.Secret{Name: SecretXDSCA, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
		TrustedCa:        fileSource(t.CA),
		WatchedDirectory: &corev3.WatchedDirectory{Path: filepath.Dir(t.CA)},
	}}}
}

func fileSource(name string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: name}}
}

// SDSFiles are the files the bootstrap's SDS configs read, none without
// TLS. Each file's name ends in a hash of its contents, so bootstraps of
// different proxies can share SDSDir, and writing the same files again
// changes nothing.
func (t BootstrapTLS) SDSFiles() ([]SDSFile, error) {
	if !t.enabled() {
		return nil, nil
	}
	var out []SDSFile
	for _, s := range []struct {
		base   string
		secret *tlsv3.Secret
	}{{filepath.Base(t.Cert), t.clientCertSecret()}, {filepath.Base(t.CA), t.caSecret()}} {
		f, err := t.sdsFile(s.base, s.secret)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func (t BootstrapTLS) sdsFile(base string, s *tlsv3.Secret) (SDSFile, error) {
	if err := s.ValidateAll(); err != nil {
		return SDSFile{}, fmt.Errorf("%w: SDS secret %s: %v", ErrInvalidBootstrap, s.GetName(), err)
	}
	a, err := anypb.New(s)
	if err != nil {
		return SDSFile{}, fmt.Errorf("pack SDS secret %s: %w", s.GetName(), err)
	}
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(&discoveryv3.DiscoveryResponse{Resources: []*anypb.Any{a}})
	if err != nil {
		return SDSFile{}, fmt.Errorf("marshal SDS secret %s: %w", s.GetName(), err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, js, "", "  "); err != nil {
		return SDSFile{}, fmt.Errorf("marshal SDS secret %s: %w", s.GetName(), err)
	}
	buf.WriteByte('\n')
	sum := sha256.Sum256(buf.Bytes())
	dir := t.SDSDir
	if dir == "" {
		dir = filepath.Dir(t.Cert)
	}
	name := fmt.Sprintf("%s.sds-%s.json", strings.TrimSuffix(base, filepath.Ext(base)), hex.EncodeToString(sum[:6]))
	return SDSFile{Path: filepath.Join(dir, name), Data: buf.Bytes()}, nil
}

// sdsConfig reads one secret from an SDS file, watching its directory.
func sdsConfig(name, path string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: &corev3.ConfigSource{
		ResourceApiVersion: corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_PathConfigSource{PathConfigSource: &corev3.PathConfigSource{
			Path:             path,
			WatchedDirectory: &corev3.WatchedDirectory{Path: filepath.Dir(path)},
		}},
	}}
}

// transportSocket is the xDS cluster's UpstreamTlsContext: the proxy's
// certificate and the CA from the SDS files, and the server's certificate
// matched on the node identity prefix.
func (t BootstrapTLS) transportSocket() (*corev3.TransportSocket, error) {
	domain := t.TrustDomain
	if domain == "" {
		domain = certs.DefaultTrustDomain
	}
	files, err := t.SDSFiles()
	if err != nil {
		return nil, err
	}
	ctx, err := marshalAny(&tlsv3.UpstreamTlsContext{
		Sni: t.ServerName,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsParams:                      &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2},
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsConfig(SecretXDSClientCert, files[0].Path)},
			AlpnProtocols:                  []string{"h2"},
			ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext: &tlsv3.CertificateValidationContext{
					MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
						SanType: tlsv3.SubjectAltNameMatcher_URI,
						Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{
							Prefix: certs.URIPrefix(domain, certs.KindNode),
						}},
					}},
				},
				ValidationContextSdsSecretConfig: sdsConfig(SecretXDSCA, files[1].Path),
			}},
		},
	})
	if err != nil {
		return nil, err
	}
	return &corev3.TransportSocket{
		Name:       "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: ctx},
	}, nil
}
