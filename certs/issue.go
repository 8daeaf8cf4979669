package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"
)

// ErrIssue is returned when a certificate cannot be issued.
var ErrIssue = errors.New("cannot issue certificate")

// CA is a certificate authority that can issue certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// PEM is the CA certificate, PEM-encoded.
	PEM []byte
}

// NewCA makes a self-signed CA (ECDSA P-256) valid from now for validity.
func NewCA(name string, now time.Time, validity time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIssue, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Sluice"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIssue, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIssue, err)
	}
	return &CA{Cert: cert, Key: key, PEM: pemBlock("CERTIFICATE", der)}, nil
}

// LoadCA reads a CA certificate and its private key (PEM, PKCS#8).
func LoadCA(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("%w: %s or %s is not PEM", ErrLoad, certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrLoad, certFile, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrLoad, keyFile, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok || !cert.IsCA {
		return nil, fmt.Errorf("%w: %s is not a CA with a signing key", ErrLoad, certFile)
	}
	return &CA{Cert: cert, Key: signer, PEM: certPEM}, nil
}

// KeyPEM returns the CA's private key, PEM-encoded (PKCS#8).
func (ca *CA) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIssue, err)
	}
	return pemBlock("PRIVATE KEY", der), nil
}

// Request describes a certificate to issue.
type Request struct {
	// Kind is KindNode (server and client use) or KindProxy (client use).
	Kind        string
	Name        string
	TrustDomain string
	// Hosts are DNS names and IP addresses the holder serves on (nodes).
	Hosts     []string
	NotBefore time.Time
	NotAfter  time.Time
}

// namePart is what a node id or proxy cluster may be in an identity.
var namePart = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$`)

// Issue signs a certificate for r and returns it with its new key, both
// PEM-encoded.
func (ca *CA) Issue(r Request) (certPEM, keyPEM []byte, err error) {
	if r.Kind != KindNode && r.Kind != KindProxy {
		return nil, nil, fmt.Errorf("%w: kind %q: want %q or %q", ErrIssue, r.Kind, KindNode, KindProxy)
	}
	if !namePart.MatchString(r.Name) {
		return nil, nil, fmt.Errorf("%w: name %q: use letters, digits, '.', '_' and '-'", ErrIssue, r.Name)
	}
	if r.TrustDomain == "" {
		r.TrustDomain = DefaultTrustDomain
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrIssue, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: r.Name, Organization: []string{"Sluice " + r.Kind}},
		NotBefore:    r.NotBefore,
		NotAfter:     r.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{URI(r.TrustDomain, r.Kind, r.Name)},
	}
	if r.Kind == KindNode {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	for _, h := range r.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrIssue, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrIssue, err)
	}
	return pemBlock("CERTIFICATE", der), pemBlock("PRIVATE KEY", kder), nil
}

// InitOptions say what `sluice tls init` writes.
type InitOptions struct {
	Dir         string
	TrustDomain string
	// Nodes maps node ids to the hosts their certificates list.
	Nodes   map[string][]string
	Proxies []string
	Now     time.Time
	// Validity of the issued certificates; the CA gets ten times as long.
	Validity time.Duration
}

// Init writes a development CA (ca.crt, ca.key; reused when present) and a
// certificate and key per node (node-<id>.crt/.key) and per proxy
// cluster (proxy-<cluster>.crt/.key) into Dir. Keys are written 0600. It
// returns the files written.
func Init(o InitOptions) ([]string, error) {
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIssue, err)
	}
	caCert, caKey := filepath.Join(o.Dir, "ca.crt"), filepath.Join(o.Dir, "ca.key")
	var written []string
	ca, err := LoadCA(caCert, caKey)
	if errors.Is(err, os.ErrNotExist) {
		if ca, err = NewCA("Sluice development CA", o.Now, 10*o.Validity); err != nil {
			return nil, err
		}
		keyPEM, err := ca.KeyPEM()
		if err != nil {
			return nil, err
		}
		if err := WritePair(caCert, ca.PEM, caKey, keyPEM); err != nil {
			return nil, err
		}
		written = append(written, caCert, caKey)
	} else if err != nil {
		return nil, err
	}
	issue := func(kind, name string, hosts []string) error {
		c, k, err := ca.Issue(Request{Kind: kind, Name: name, TrustDomain: o.TrustDomain, Hosts: hosts,
			NotBefore: o.Now.Add(-time.Minute), NotAfter: o.Now.Add(o.Validity)})
		if err != nil {
			return err
		}
		cf, kf := filepath.Join(o.Dir, kind+"-"+name+".crt"), filepath.Join(o.Dir, kind+"-"+name+".key")
		if err := WritePair(cf, c, kf, k); err != nil {
			return err
		}
		written = append(written, cf, kf)
		return nil
	}
	for _, id := range sortedKeys(o.Nodes) {
		if err := issue(KindNode, id, o.Nodes[id]); err != nil {
			return written, err
		}
	}
	for _, p := range o.Proxies {
		if err := issue(KindProxy, p, nil); err != nil {
			return written, err
		}
	}
	return written, nil
}

// WritePair writes a certificate (0644) and its key (0600), each through
// a temporary file renamed into place, so that a Store reloading at the
// same moment never reads half a file.
func WritePair(certFile string, certPEM []byte, keyFile string, keyPEM []byte) error {
	if err := writeAtomic(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return writeAtomic(certFile, certPEM, 0o644)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrIssue, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: %w", ErrIssue, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: %w", ErrIssue, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%w: %w", ErrIssue, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("%w: %w", ErrIssue, err)
	}
	return nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return n
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
