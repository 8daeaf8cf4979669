package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// ErrLoad is returned when the certificate files cannot be used.
var ErrLoad = errors.New("cannot load TLS certificates")

// ErrPeer is returned when a peer's certificate is refused.
var ErrPeer = errors.New("peer certificate refused")

// DefaultReloadInterval is how often, at most, a Store looks at its files.
const DefaultReloadInterval = 2 * time.Second

// Files names a certificate chain, its key and the CA bundle that verifies
// peers (PEM files).
type Files struct {
	Cert string
	Key  string
	CA   string
}

// Options tune a Store.
type Options struct {
	// ReloadInterval bounds how often the files are looked at (default
	// DefaultReloadInterval). A handshake after the interval checks their
	// size and modification time and reloads what changed.
	ReloadInterval time.Duration
	Logger         *slog.Logger
}

// Store holds a key pair and a CA pool loaded from files. It reloads them
// when the files change: handshakes after a rotation use the new
// certificate and trust the new CA bundle, connections already open are
// not affected. A reload that fails (a half-written file) keeps the last
// good pair and is retried on the next handshake after the interval.
type Store struct {
	files Files
	opts  Options
	log   *slog.Logger

	mu      sync.Mutex
	checked time.Time
	stamp   [3]fileStamp
	cert    *tls.Certificate
	leaf    *x509.Certificate
	pool    *x509.CertPool
}

type fileStamp struct {
	size int64
	mod  time.Time
}

// Load reads the files; every one is required.
func Load(f Files, opts Options) (*Store, error) {
	if f.Cert == "" || f.Key == "" || f.CA == "" {
		return nil, fmt.Errorf("%w: a certificate, its key and a CA bundle are all required (got cert %q, key %q, ca %q)", ErrLoad, f.Cert, f.Key, f.CA)
	}
	if opts.ReloadInterval <= 0 {
		opts.ReloadInterval = DefaultReloadInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{files: f, opts: opts, log: opts.Logger}
	stamp, err := s.stamps()
	if err != nil {
		return nil, err
	}
	if err := s.load(stamp); err != nil {
		return nil, err
	}
	s.checked = time.Now()
	return s, nil
}

func (s *Store) stamps() ([3]fileStamp, error) {
	var out [3]fileStamp
	for i, p := range []string{s.files.Cert, s.files.Key, s.files.CA} {
		fi, err := os.Stat(p)
		if err != nil {
			return out, fmt.Errorf("%w: %w", ErrLoad, err)
		}
		out[i] = fileStamp{fi.Size(), fi.ModTime()}
	}
	return out, nil
}

// load reads and checks all three files; the Store changes only if all
// are good.
func (s *Store) load(stamp [3]fileStamp) error {
	pair, err := tls.LoadX509KeyPair(s.files.Cert, s.files.Key)
	if err != nil {
		return fmt.Errorf("%w: %s / %s: %w", ErrLoad, s.files.Cert, s.files.Key, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrLoad, s.files.Cert, err)
	}
	caPEM, err := os.ReadFile(s.files.CA)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrLoad, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("%w: %s holds no PEM certificate", ErrLoad, s.files.CA)
	}
	pair.Leaf = leaf
	s.cert, s.leaf, s.pool, s.stamp = &pair, leaf, pool, stamp
	return nil
}

// current returns the key pair and CA pool, reloading them first when the
// interval has passed and a file changed.
func (s *Store) current() (*tls.Certificate, *x509.CertPool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.checked) >= s.opts.ReloadInterval {
		s.checked = time.Now()
		if stamp, err := s.stamps(); err != nil {
			s.log.Error("TLS files unreadable; keeping the loaded certificate", "cert", s.files.Cert, "err", err)
		} else if stamp != s.stamp {
			if err := s.load(stamp); err != nil {
				s.log.Error("TLS files changed but do not load; keeping the loaded certificate", "cert", s.files.Cert, "err", err)
			} else {
				s.log.Info("TLS certificate reloaded", "cert", s.files.Cert, "identity", IdentityOf(s.leaf).String(), "not_after", s.leaf.NotAfter)
			}
		}
	}
	return s.cert, s.pool
}

// Leaf returns the certificate currently served.
func (s *Store) Leaf() *x509.Certificate {
	s.current()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaf
}

// ServerOptions shape a server-side tls.Config.
type ServerOptions struct {
	// RequireClientCert makes the server demand a client certificate
	// signed by the CA bundle (mutual TLS).
	RequireClientCert bool
	// VerifyPeer, when set, checks the verified client certificate
	// further (for example RequireNode).
	VerifyPeer func(*x509.Certificate) error
}

// ServerConfig returns a tls.Config for a listener. Each handshake takes
// the Store's current certificate and CA bundle.
func (s *Store) ServerConfig(o ServerOptions) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cert, pool := s.current()
			c := &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{*cert},
				NextProtos:   []string{"h2", "http/1.1"},
			}
			if o.RequireClientCert {
				c.ClientAuth = tls.RequireAndVerifyClientCert
				c.ClientCAs = pool
				if o.VerifyPeer != nil {
					c.VerifyConnection = func(cs tls.ConnectionState) error {
						return verifyPeer(cs, o.VerifyPeer)
					}
				}
			}
			return c, nil
		},
	}
}

// ClientOptions shape a client-side tls.Config.
type ClientOptions struct {
	// SkipHostname verifies the server's chain but not that it names the
	// address dialled (Raft peers are known by their node identity, and
	// may be reached through addresses their certificates do not list).
	SkipHostname bool
	// VerifyPeer, when set, checks the verified server certificate
	// further.
	VerifyPeer func(*x509.Certificate) error
}

// ClientConfig returns a tls.Config for dialling peers: it presents the
// Store's certificate and verifies the server against the current CA
// bundle (hostname included unless SkipHostname).
func (s *Store) ClientConfig(o ClientOptions) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is done in VerifyConnection against the CA bundle
		// of the moment, so that a rotated CA is trusted without a
		// restart; it is not skipped.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, _ := s.current()
			return cert, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, pool := s.current()
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: the server sent no certificate", ErrPeer)
			}
			vo := x509.VerifyOptions{Roots: pool, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
			if !o.SkipHostname {
				vo.DNSName = cs.ServerName
			}
			for _, c := range cs.PeerCertificates[1:] {
				vo.Intermediates.AddCert(c)
			}
			if _, err := cs.PeerCertificates[0].Verify(vo); err != nil {
				return fmt.Errorf("%w: %w", ErrPeer, err)
			}
			if o.VerifyPeer != nil {
				return verifyPeer(cs, o.VerifyPeer)
			}
			return nil
		},
	}
}

func verifyPeer(cs tls.ConnectionState, check func(*x509.Certificate) error) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("%w: no certificate", ErrPeer)
	}
	if err := check(cs.PeerCertificates[0]); err != nil {
		return fmt.Errorf("%w: %w", ErrPeer, err)
	}
	return nil
}
