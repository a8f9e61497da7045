package server

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wharfhq/wharf/server/tlsconf"
)

func TestTLSModeDefault(t *testing.T) {
	for _, tc := range []struct {
		tls, listen string
		want        tlsconf.Mode
	}{
		{"", "127.0.0.1:8080", tlsconf.Off},
		{"", "[::1]:8080", tlsconf.Off},
		{"", "localhost:8080", tlsconf.Off},
		{"", ":8080", tlsconf.Internal},
		{"", "0.0.0.0:443", tlsconf.Internal},
		{"", "192.0.2.10:8443", tlsconf.Internal},
		{"off", "0.0.0.0:8080", tlsconf.Off},
		{"internal", "127.0.0.1:8443", tlsconf.Internal},
		{"acme", ":443", tlsconf.ACME},
	} {
		t.Run(tc.tls+"@"+tc.listen, func(t *testing.T) {
			got, err := tlsMode(&Config{TLS: tc.tls, Listen: tc.listen})
			if err != nil || got != tc.want {
				t.Errorf("tlsMode = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := tlsMode(&Config{TLS: "on", Listen: ":8080"}); err == nil {
		t.Error(`--tls on accepted`)
	}
}

func TestHSTSValue(t *testing.T) {
	for mode, want := range map[tlsconf.Mode]string{
		tlsconf.ACME:     "max-age=31536000",
		tlsconf.Internal: "max-age=86400",
		tlsconf.Off:      "",
	} {
		if got := hsts(mode); got != want {
			t.Errorf("hsts(%q) = %q, want %q", mode, got, want)
		}
	}
	// Over plain HTTP, never.
	h := withHSTS(hsts(tlsconf.ACME), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "http://wharf.test/", nil))
	if got := rec.Header().Get("Strict-Transport-Security"); got != "" {
		t.Errorf("over plain HTTP: Strict-Transport-Security %q", got)
	}
}

// TestHSTSWhenServingTLS: with --tls internal, every answer over HTTPS
// (success, refusal, not found) carries Strict-Transport-Security; the
// plain-HTTP listener's redirects do not.
func TestHSTSWhenServingTLS(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := l.Addr().String()
	l.Close()
	addrc := make(chan net.Addr, 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, Config{Dir: t.TempDir(), Listen: "127.0.0.1:0", TLS: "internal", HTTPListen: httpAddr,
			Console: io.Discard, Logger: slog.New(slog.DiscardHandler), Ready: func(a net.Addr) { addrc <- a }})
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-errc:
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not listening within 30s")
	}
	client := &http.Client{
		// The local CA's certificate; what is checked here is a header.
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
	get := func(u string) *http.Response {
		t.Helper()
		resp, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, p := range []string{"/healthz", "/api/v1/me", "/no/such/thing"} {
		resp := get("https://" + addr.String() + p)
		if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=86400" {
			t.Errorf("GET %s over https (%d): Strict-Transport-Security %q, want max-age=86400", p, resp.StatusCode, got)
		}
	}
	resp := get("http://" + httpAddr + "/healthz")
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("GET over plain http: %d with Strict-Transport-Security %q; want a 301 without it",
			resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
