package xds

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/sluicehq/sluice/certs"
)

// BootstrapTLS secures a bootstrap's ADS stream with mutual TLS: Envoy
// presents Cert and Key and trusts only servers whose certificate CA
// signed and names a Sluice node of TrustDomain. The zero value is
// plaintext.
type BootstrapTLS struct {
	// CA, Cert and Key are PEM files on the proxy's host, all or none.
	CA, Cert, Key string
	// ServerName is sent as SNI; empty sends none.
	ServerName string
	// TrustDomain of the nodes' identities (certs.DefaultTrustDomain if
	// empty).
	TrustDomain string
}

// enabled says whether any TLS file was given.
func (t BootstrapTLS) enabled() bool { return t.CA != "" || t.Cert != "" || t.Key != "" }

// problems lists what keeps t from giving a working mutual TLS set-up.
func (t BootstrapTLS) problems() []string {
	if !t.enabled() {
		if t.ServerName != "" || t.TrustDomain != "" {
			return []string{"--tls-server-name and --tls-trust-domain need --tls-ca, --tls-cert and --tls-key"}
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

// transportSocket is the xDS cluster's UpstreamTlsContext: the proxy's
// certificate from files, the CA as trusted_ca and the server's
// certificate matched on the node identity prefix. Envoy reads the files
// when it starts; rotated files take effect on its next (hot) restart.
func (t BootstrapTLS) transportSocket() (*corev3.TransportSocket, error) {
	domain := t.TrustDomain
	if domain == "" {
		domain = certs.DefaultTrustDomain
	}
	file := func(name string) *corev3.DataSource {
		return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: name}}
	}
	ctx, err := marshalAny(&tlsv3.UpstreamTlsContext{
		Sni: t.ServerName,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsParams: &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2},
			TlsCertificates: []*tlsv3.TlsCertificate{{
				CertificateChain: file(t.Cert),
				PrivateKey:       file(t.Key),
			}},
			AlpnProtocols: []string{"h2"},
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: file(t.CA),
				MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
					SanType: tlsv3.SubjectAltNameMatcher_URI,
					Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{
						Prefix: certs.URIPrefix(domain, certs.KindNode),
					}},
				}},
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
