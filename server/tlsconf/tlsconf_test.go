package tlsconf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
)

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" : valid
	}{
		{"internal", Config{Mode: Internal, Dir: "x"}, ""},
		{"acme", Config{Mode: ACME, Dir: "x", Domains: []string{"files.example.org"}}, ""},
		{"no dir", Config{Mode: Internal}, "no certificate directory"},
		{"off is not a source", Config{Mode: Off, Dir: "x"}, "want internal or acme"},
		{"acme without domain", Config{Mode: ACME, Dir: "x"}, "needs at least one --domain"},
		{"acme with an IP", Config{Mode: ACME, Dir: "x", Domains: []string{"192.0.2.1"}}, "want a DNS name"},
		{"acme with a URL", Config{Mode: ACME, Dir: "x", Domains: []string{"https://files.example.org"}}, "want a DNS name"},
		{"acme CA over http", Config{Mode: ACME, Dir: "x", Domains: []string{"a.example"}, ACMECA: "http://ca.example/dir"}, "want an https://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.setDefaults()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := ParseMode("on"); err == nil {
		t.Error(`ParseMode("on") succeeded`)
	}
}

func TestTLSConfigInternal(t *testing.T) {
	s, err := New(Config{Mode: Internal, Dir: t.TempDir(), Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := s.TLSConfig()
	if !slices.Equal(c.NextProtos, []string{"h2", "http/1.1"}) || c.MinVersion != tls.VersionTLS12 {
		t.Errorf("NextProtos %v, MinVersion %x", c.NextProtos, c.MinVersion)
	}
	cert, err := c.GetCertificate(&tls.ClientHelloInfo{ServerName: "localhost"})
	if err != nil || cert == nil {
		t.Fatalf("GetCertificate: %v, %v", cert, err)
	}
}

// The ACME source is built from certmagic.New with Wharf's own storage and
// issuer, never certmagic.Default: its TLS config answers TLS-ALPN-01 and
// its HTTP handler serves HTTP-01 before redirecting.
func TestTLSConfigACME(t *testing.T) {
	s, err := New(Config{Mode: ACME, Dir: t.TempDir(), Domains: []string{"files.example.org"}, HTTPSPort: 8443, HTTPPort: 8080, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := s.TLSConfig()
	if !slices.Equal(c.NextProtos, []string{"h2", "http/1.1", "acme-tls/1"}) {
		t.Errorf("NextProtos %v: want the application protocols first, then acme-tls/1", c.NextProtos)
	}
	if s.issuer.AltTLSALPNPort != 8443 || s.issuer.AltHTTPPort != 8080 || s.issuer.DisableHTTPChallenge {
		t.Errorf("issuer ports %d/%d, HTTP-01 disabled %v", s.issuer.AltTLSALPNPort, s.issuer.AltHTTPPort, s.issuer.DisableHTTPChallenge)
	}
	if s.issuer.CA != LetsEncrypt {
		t.Errorf("CA %q, want Let's Encrypt by default", s.issuer.CA)
	}
	rec := httptest.NewRecorder()
	s.HTTPHandler("").ServeHTTP(rec, httptest.NewRequest("GET", "http://files.example.org/dav/", nil))
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "https://files.example.org:8443/dav/" {
		t.Errorf("redirect: %d %q", rec.Code, rec.Header().Get("Location"))
	}

	noHTTP, err := New(Config{Mode: ACME, Dir: t.TempDir(), Domains: []string{"files.example.org"}, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer noHTTP.Close()
	if !noHTTP.issuer.DisableHTTPChallenge {
		t.Error("HTTP-01 enabled without an HTTP listener to answer it")
	}
}

func TestACMERoots(t *testing.T) {
	if _, err := acmeRoots([]byte("not a certificate")); err == nil {
		t.Error("a roots file without certificates was accepted")
	}
	ca, err := LoadOrCreateCA(t.TempDir()+"/ca", t0)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := acmeRoots(ca.PEM())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Certificate().Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		t.Errorf("extra root not trusted: %v", err)
	}
}

func TestRedirect(t *testing.T) {
	for _, tc := range []struct {
		name, public, method, url string
		port                      int
		code                      int
		location                  string
	}{
		{"same host, other port", "", "GET", "http://192.0.2.1:8080/dav/a%20b?x=1", 8443, 301, "https://192.0.2.1:8443/dav/a%20b?x=1"},
		{"port 443 omitted", "", "GET", "http://files.example.org/", 443, 301, "https://files.example.org/"},
		{"IPv6", "", "HEAD", "http://[fd00::2]/x", 443, 301, "https://[fd00::2]/x"},
		{"IPv6 other port", "", "GET", "http://[fd00::2]:80/x", 8443, 301, "https://[fd00::2]:8443/x"},
		{"public URL wins", "https://files.example.org", "GET", "http://192.0.2.1/x", 8443, 301, "https://files.example.org/x"},
		{"http public URL ignored", "http://files.example.org", "GET", "http://192.0.2.1/x", 443, 301, "https://192.0.2.1/x"},
		{"PUT keeps its method", "", "PUT", "http://h/dav/f", 443, 308, "https://h/dav/f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			redirect(tc.public, tc.port).ServeHTTP(rec, httptest.NewRequest(tc.method, tc.url, nil))
			if rec.Code != tc.code || rec.Header().Get("Location") != tc.location {
				t.Errorf("%d %q, want %d %q", rec.Code, rec.Header().Get("Location"), tc.code, tc.location)
			}
		})
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "http://h/", nil)
	req.Host = ""
	redirect("", 443).ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("no host: %d, want 400", rec.Code)
	}
}

func TestZapToSlog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", "tls")
	zl := newZap(log, slog.LevelWarn).Named("certmagic").With(zap.String("identifier", "files.example.org"))
	zl.Info("obtaining certificate")
	zl.Warn("renewal failed", zap.Error(errors.New("no route")), zap.Int("attempt", 2))
	out := buf.String()
	if strings.Contains(out, "obtaining") {
		t.Errorf("info line kept below the warn floor:\n%s", out)
	}
	for _, want := range []string{"level=WARN", `msg="renewal failed"`, "component=tls", "logger=certmagic", "identifier=files.example.org", `err="no route"`, "attempt=2"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in:\n%s", want, out)
		}
	}

	buf.Reset()
	quiet := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError}))
	z := newZap(quiet, slog.LevelDebug)
	z.Warn("dropped by the handler")
	z.Error("kept")
	if out := buf.String(); strings.Contains(out, "dropped") || !strings.Contains(out, "kept") {
		t.Errorf("the slog handler's own level is not honoured:\n%s", out)
	}
	if z.Core().Enabled(zap.DebugLevel) {
		t.Error("debug enabled although the handler drops it")
	}
}

func TestACMELogLevelFollowsDebug(t *testing.T) {
	debug := slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := Config{Mode: Internal, Dir: "x", Logger: debug}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.ACMELogLevel.Level() != slog.LevelDebug {
		t.Errorf("with --log-level debug certmagic is kept from %v, want debug", c.ACMELogLevel)
	}
	c = Config{Mode: Internal, Dir: "x", Logger: quietLog()}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.ACMELogLevel.Level() != slog.LevelWarn {
		t.Errorf("certmagic kept from %v by default, want warn", c.ACMELogLevel)
	}
}
