// Package tlsconf owns Wharf's HTTPS: the certificates of --tls internal
// (a local CA generated once under <data>/certs/ca, and a server
// certificate it issues for the machine's names and addresses) and of
// --tls acme (obtained and renewed by certmagic, stored under
// <data>/certs), the tls.Config the server's own http.Server uses, and the
// plain-HTTP handler that redirects to HTTPS and answers ACME HTTP-01
// challenges.
//
// It imports no other Wharf package; server wires it in.
package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
)

// Mode is how certificates are obtained.
type Mode string

const (
	// Off serves plain HTTP.
	Off Mode = "off"
	// Internal serves certificates from the local CA.
	Internal Mode = "internal"
	// ACME obtains certificates from an ACME CA (Let's Encrypt by default)
	// through certmagic.
	ACME Mode = "acme"
)

// ParseMode checks a --tls value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Off, Internal, ACME:
		return m, nil
	}
	return "", fmt.Errorf("tlsconf: mode %q: want off, internal or acme", s)
}

// LetsEncrypt is the default ACME directory: Let's Encrypt's production CA.
const LetsEncrypt = certmagic.LetsEncryptProductionCA

// Config is what New needs. Zero values mean the documented defaults.
type Config struct {
	// Mode is Internal or ACME (required).
	Mode Mode
	// Dir is where certificates live, <data>/certs (required): the local CA
	// in ca/, its server certificate in local/, certmagic's storage (ACME
	// accounts, certificates, locks) in the rest. Created 0700 if missing.
	Dir string
	// Domains are the names the certificate is for. ACME needs at least
	// one; the local CA adds them to the machine's own names and addresses.
	Domains []string
	// ListenHost is the host part of the HTTPS listener's address. A
	// specific address goes into the local certificate; for ACME it is
	// where certmagic would open its own challenge listeners, which it does
	// not when Wharf's listeners already hold the ports. "": all interfaces.
	ListenHost string
	// HTTPSPort is the port of the HTTPS listener; ACME TLS-ALPN-01
	// challenges are answered there. 0: 443.
	HTTPSPort int
	// HTTPPort is the port of the plain-HTTP listener, whose handler
	// (HTTPHandler) answers ACME HTTP-01 challenges. 0: there is none, and
	// only TLS-ALPN-01 is used.
	HTTPPort int
	// ACMECA is the ACME directory URL. "": LetsEncrypt.
	ACMECA string
	// ACMEEmail is the ACME account's contact. "": an account without one
	// (the CA cannot warn about problems).
	ACMEEmail string
	// Challenges are the ACME challenge types to use, among "http-01" and
	// "tls-alpn-01". nil: both (HTTP-01 only when HTTPPort is set).
	Challenges []string
	// ACMERoots are PEM certificates trusted for the ACME directory's own
	// HTTPS in addition to the system's (a test CA such as Pebble). nil:
	// the system's only.
	ACMERoots []byte
	// Logger receives Wharf's and certmagic's log lines. nil: slog.Default().
	Logger *slog.Logger
	// ACMELogLevel is the lowest level of certmagic's lines that are kept.
	// nil: slog.LevelWarn (certmagic reports every step at info), or
	// debug when Logger is enabled at debug.
	ACMELogLevel slog.Leveler
	// RenewInterval is how often the local certificate is checked. 0: 24h.
	RenewInterval time.Duration
	// Now is the clock of the local CA. nil: time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() error {
	if c.Dir == "" {
		return errors.New("tlsconf: no certificate directory")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ACMELogLevel == nil {
		c.ACMELogLevel = slog.LevelWarn
		if c.Logger.Enabled(context.Background(), slog.LevelDebug) {
			c.ACMELogLevel = slog.LevelDebug
		}
	}
	if c.RenewInterval <= 0 {
		c.RenewInterval = 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.HTTPSPort == 0 {
		c.HTTPSPort = 443
	}
	if c.ACMECA == "" {
		c.ACMECA = LetsEncrypt
	}
	switch c.Mode {
	case Internal:
	case ACME:
		if len(c.Domains) == 0 {
			return errors.New("tlsconf: --tls acme needs at least one --domain")
		}
		for _, d := range c.Domains {
			if d == "" || strings.ContainsAny(d, "/: ") || net.ParseIP(d) != nil {
				return fmt.Errorf("tlsconf: --domain %q: want a DNS name such as files.example.org", d)
			}
		}
		for _, ch := range c.Challenges {
			if ch != "http-01" && ch != "tls-alpn-01" {
				return fmt.Errorf("tlsconf: ACME challenge %q: want http-01 or tls-alpn-01", ch)
			}
		}
		if len(c.Challenges) > 0 && !slices.Contains(c.Challenges, "tls-alpn-01") && c.HTTPPort == 0 {
			return errors.New("tlsconf: ACME HTTP-01 needs the plain-HTTP listener (--http-listen)")
		}
		if u, err := url.Parse(c.ACMECA); err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("tlsconf: --acme-ca %q: want an https:// directory URL", c.ACMECA)
		}
	default:
		return fmt.Errorf("tlsconf: mode %q: want internal or acme", c.Mode)
	}
	return nil
}

// Source provides the certificates of one running server. Its methods are
// safe for concurrent use. The caller runs Run for as long as it serves
// and calls Close when done.
type Source struct {
	cfg Config
	in  *internal // Internal

	magic  *certmagic.Config // ACME
	cache  *certmagic.Cache
	issuer *certmagic.ACMEIssuer
}

// New prepares the certificates of cfg.Mode. For Internal it loads or
// creates the local CA and makes sure a valid server certificate exists
// before it returns; for ACME it only sets certmagic up: certificates are
// obtained by Run, once the listeners are open to answer challenges.
func New(cfg Config) (*Source, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg}
	if cfg.Mode == Internal {
		in, err := newInternal(&s.cfg)
		if err != nil {
			return nil, err
		}
		s.in = in
		return s, nil
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("tlsconf: %w", err)
	}
	roots, err := acmeRoots(cfg.ACMERoots)
	if err != nil {
		return nil, err
	}
	zl := newZap(cfg.Logger, cfg.ACMELogLevel)
	// certmagic.New needs a cache whose GetConfigForCert returns the
	// config being made: the closure reads s.magic once it is set.
	s.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return s.magic, nil },
		Logger:           zl,
	})
	s.magic = certmagic.New(s.cache, certmagic.Config{
		Storage:           &certmagic.FileStorage{Path: cfg.Dir},
		Logger:            zl,
		DefaultServerName: cfg.Domains[0], // for clients that send no SNI (an IP in the URL)
	})
	s.issuer = certmagic.NewACMEIssuer(s.magic, certmagic.ACMEIssuer{
		CA:    cfg.ACMECA,
		Email: cfg.ACMEEmail,
		// Choosing --tls acme is agreeing to the CA's terms; certmagic
		// would otherwise prompt on a terminal a service does not have.
		Agreed:                  true,
		TrustedRoots:            roots,
		ListenHost:              cfg.ListenHost,
		AltTLSALPNPort:          cfg.HTTPSPort,
		AltHTTPPort:             cfg.HTTPPort,
		DisableHTTPChallenge:    cfg.HTTPPort == 0 || (len(cfg.Challenges) > 0 && !slices.Contains(cfg.Challenges, "http-01")),
		DisableTLSALPNChallenge: len(cfg.Challenges) > 0 && !slices.Contains(cfg.Challenges, "tls-alpn-01"),
		Logger:                  zl,
	})
	s.magic.Issuers = []certmagic.Issuer{s.issuer}
	return s, nil
}

// acmeRoots is the system pool plus extra, or nil (certmagic's default,
// the system pool) when there is nothing extra.
func acmeRoots(extra []byte) (*x509.CertPool, error) {
	if len(extra) == 0 {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(extra) {
		return nil, errors.New("tlsconf: ACME CA roots: no PEM certificate found")
	}
	return pool, nil
}

// TLSConfig is the configuration for the server's http.Server: it serves
// the current certificate and, for ACME, answers TLS-ALPN-01 challenges.
// HTTP/2 is offered first.
func (s *Source) TLSConfig() *tls.Config {
	var c *tls.Config
	if s.in != nil {
		c = &tls.Config{GetCertificate: s.in.getCertificate}
	} else {
		// cfg.TLSConfig() sets GetCertificate and the acme-tls/1
		// protocol; the application protocols go before it.
		c = s.magic.TLSConfig()
		c.NextProtos = append([]string{"h2", "http/1.1"}, c.NextProtos...)
	}
	if len(c.NextProtos) == 0 {
		c.NextProtos = []string{"h2", "http/1.1"}
	}
	c.MinVersion = tls.VersionTLS12
	return c
}

// Run keeps the certificates valid until ctx ends: the local certificate is
// checked every RenewInterval; ACME certificates are obtained now (the
// listeners must be open) and renewed by certmagic, retrying failures with
// backoff. Failures are logged, not returned: the server keeps serving what
// it has.
func (s *Source) Run(ctx context.Context) {
	if s.in != nil {
		s.in.run(ctx)
		return
	}
	if err := s.magic.ManageAsync(ctx, s.cfg.Domains); err != nil {
		s.cfg.Logger.Error("managing certificates", "domains", strings.Join(s.cfg.Domains, ","), "err", err)
	}
	s.cfg.Logger.Info("managing certificates", "domains", strings.Join(s.cfg.Domains, ","), "ca", s.cfg.ACMECA)
	<-ctx.Done()
}

// Close stops certmagic's maintenance. Call it after Run returned.
func (s *Source) Close() {
	if s.cache != nil {
		s.cache.Stop()
	}
}

// HTTPHandler is the handler of the plain-HTTP listener: it answers ACME
// HTTP-01 challenges and redirects everything else to HTTPS, to publicURL's
// host when that is an https:// URL, else to the request's host on
// HTTPSPort.
func (s *Source) HTTPHandler(publicURL string) http.Handler {
	var h http.Handler = redirect(publicURL, s.cfg.HTTPSPort)
	if s.issuer != nil {
		h = s.issuer.HTTPChallengeHandler(h)
	}
	return h
}

func redirect(publicURL string, httpsPort int) http.Handler {
	var base string
	if u, err := url.Parse(publicURL); err == nil && u.Scheme == "https" && u.Host != "" {
		base = "https://" + u.Host
	}
	port := strconv.Itoa(httpsPort)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := base
		if target == "" {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			host = strings.Trim(host, "[]")
			if host == "" {
				http.Error(w, "HTTPS only: this request names no host", http.StatusBadRequest)
				return
			}
			if port == "443" {
				if strings.Contains(host, ":") {
					host = "[" + host + "]"
				}
				target = "https://" + host
			} else {
				target = "https://" + net.JoinHostPort(host, port)
			}
		}
		code := http.StatusPermanentRedirect // keeps the method and body
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			code = http.StatusMovedPermanently // understood by every client
		}
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, target+r.URL.RequestURI(), code)
	})
}
