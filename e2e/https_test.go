package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// httpsClient is an HTTP client that trusts roots only, and follows no
// redirects.
func httpsClient(roots *x509.CertPool) *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// peerCert connects to addr as a client that trusts roots only and asks for
// serverName; it returns the verified leaf or the handshake error.
func peerCert(addr, serverName string, roots *x509.CertPool) (*x509.Certificate, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{RootCAs: roots, ServerName: serverName}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}

var (
	redirectLine = regexp.MustCompile(`msg="redirecting HTTP to HTTPS" addr=(\S+)`)
	urlField     = regexp.MustCompile(`msg=serving addr=\S+ .*url=(\S+)`)
)

// caExport runs "wharf ca export" and returns the pool holding the printed
// certificate and the fingerprint printed beside it, after checking that
// the fingerprint is the certificate's.
func caExport(t *testing.T, data string) (*x509.CertPool, string) {
	t.Helper()
	res := wharf(t, data, "", "ca", "export")
	if res.code != 0 {
		t.Fatalf("wharf ca export: exit %d: %s", res.code, res.stderr)
	}
	block, rest := pem.Decode([]byte(res.stdout))
	if block == nil || block.Type != "CERTIFICATE" || strings.TrimSpace(string(rest)) != "" {
		t.Fatalf("wharf ca export stdout is not one PEM certificate:\n%s", res.stdout)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`SHA-256 fingerprint: ([0-9A-F:]{95})`).FindStringSubmatch(res.stderr)
	if m == nil {
		t.Fatalf("no fingerprint on stderr:\n%s", res.stderr)
	}
	sum := sha256.Sum256(cert.Raw)
	if want := strings.ToUpper(strings.ReplaceAll(fmt.Sprintf("% x", sum), " ", ":")); m[1] != want {
		t.Fatalf("printed fingerprint %s, certificate's is %s", m[1], want)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, m[1]
}

func TestHTTPSInternal(t *testing.T) {
	data := t.TempDir()
	env := []string{"WHARF_TLS=internal", "WHARF_HTTP_LISTEN=127.0.0.1:0"}
	in := start(t, data, env...)
	addr := strings.TrimPrefix(in.URL, "http://")
	if m := urlField.FindStringSubmatch(in.output()); m == nil || m[1] != "https://"+addr {
		t.Errorf("serving line does not give the https URL:\n%s", in.output())
	}
	roots, fp := caExport(t, data)

	// Only the exported CA is trusted: the certificate verifies for every
	// way a local user reaches the server.
	for _, name := range []string{"127.0.0.1", "localhost"} {
		if _, err := peerCert(addr, name, roots); err != nil {
			t.Errorf("TLS to %s as %q, trusting only the Wharf CA: %v", addr, name, err)
		}
	}
	if _, err := peerCert(addr, "localhost", nil); err == nil {
		t.Error("certificate verifies with the system roots: it is not from the local CA")
	}
	resp, err := httpsClient(roots).Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Errorf("GET /healthz over https: %s %s, want 200 over HTTP/2", resp.Proto, resp.Status)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=86400" {
		t.Errorf("GET /healthz over https with the local CA: Strict-Transport-Security %q, want max-age=86400 (a day)", got)
	}

	// The plain-HTTP listener sends browsers and Explorer to HTTPS.
	m := redirectLine.FindStringSubmatch(in.output())
	if m == nil {
		t.Fatalf("no redirect listener logged:\n%s", in.output())
	}
	resp, err = httpsClient(nil).Get("http://" + m[1] + "/dav/?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, port, _ := net.SplitHostPort(addr)
	if want := "https://" + net.JoinHostPort(strings.Split(m[1], ":")[0], port) + "/dav/?x=1"; resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
		t.Errorf("GET over http: %d to %q, want 301 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "" {
		t.Errorf("GET over plain http: Strict-Transport-Security %q, want none", got)
	}

	// A restart keeps the CA clients were told to trust.
	if code := in.stop(); code != 0 {
		t.Fatalf("stop: exit %d\n%s", code, in.output())
	}
	in = start(t, data, env...)
	addr = strings.TrimPrefix(in.URL, "http://")
	_, fp2 := caExport(t, data)
	if fp2 != fp {
		t.Errorf("CA fingerprint changed across a restart: %s, then %s", fp, fp2)
	}
	if _, err := peerCert(addr, "localhost", roots); err != nil {
		t.Errorf("after restart, TLS trusting the CA exported before: %v", err)
	}
}

// pebble builds the Pebble ACME test server from tools/go.mod (once per
// test binary). When it cannot be built the test is skipped loudly on a
// developer's machine and fails under CI=true.
func pebble(t *testing.T) string {
	t.Helper()
	pebbleBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "wharf-pebble-")
		if err != nil {
			pebbleBuild.err = err
			return
		}
		pebbleBuild.bin = filepath.Join(dir, "pebble")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-modfile=../tools/go.mod", "-o", pebbleBuild.bin, "github.com/letsencrypt/pebble/v2/cmd/pebble")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			pebbleBuild.err = fmt.Errorf("go build pebble (tools/go.mod): %v\n%s", err, out)
			return
		}
		// The test CA's certificate and key for Pebble's own HTTPS ship in
		// the module's source, which the build just put in the cache.
		out, err := exec.Command("go", "list", "-modfile=../tools/go.mod", "-m", "-f", "{{.Dir}}", "github.com/letsencrypt/pebble/v2").Output()
		if err != nil {
			pebbleBuild.err = fmt.Errorf("locating pebble's module: %v", err)
			return
		}
		pebbleBuild.certs = filepath.Join(strings.TrimSpace(string(out)), "test", "certs")
	})
	if pebbleBuild.err != nil {
		msg := pebbleBuild.err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		fmt.Fprintf(os.Stderr, "\n!!! SKIPPING %s: %s\n\n", t.Name(), msg)
		t.Skip(msg)
	}
	return pebbleBuild.bin
}

var pebbleBuild struct {
	once       sync.Once
	bin, certs string
	err        error
}

// startPebble runs Pebble on loopback with its test certificate, validating
// HTTP-01 on httpPort and TLS-ALPN-01 on tlsPort. It returns the ACME
// directory URL and the root Pebble issues under (fetched from its
// management API).
func startPebble(t *testing.T, httpPort, tlsPort int) (dirURL string, issuing *x509.CertPool, log *lockedBuffer) {
	t.Helper()
	bin := pebble(t)
	listen, mgmt := freeAddr(t), freeAddr(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           listen,
		"managementListenAddress": mgmt,
		"certificate":             filepath.Join(pebbleBuild.certs, "localhost", "cert.pem"),
		"privateKey":              filepath.Join(pebbleBuild.certs, "localhost", "key.pem"),
		"httpPort":                httpPort,
		"tlsPort":                 tlsPort,
		"ocspResponderURL":        "",
	}}
	b, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(t.TempDir(), "pebble.json")
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", cfgFile)
	// No random sleep before validating (it only slows the test down);
	// validation itself is real: Pebble connects to Wharf's listeners.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("pebble output:\n%s", out.String())
		}
	})

	minica := x509.NewCertPool()
	pemBytes, err := os.ReadFile(filepath.Join(pebbleBuild.certs, "pebble.minica.pem"))
	if err != nil || !minica.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("pebble's test CA: %v", err)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: minica}}}
	var root []byte
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("https://" + mgmt + "/roots/0")
		if err == nil {
			root = []byte(readAll(t, resp.Body))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			err = fmt.Errorf("%s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble's management API: %v\n%s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	issuing = x509.NewCertPool()
	if !issuing.AppendCertsFromPEM(root) {
		t.Fatalf("pebble /roots/0 is not PEM:\n%s", root)
	}
	return "https://" + listen + "/dir", issuing, out
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestHTTPSACMEPebble obtains a certificate for "localhost" from a real
// ACME server, once through HTTP-01 (Pebble fetches the token from Wharf's
// --http-listen) and once through TLS-ALPN-01 (no HTTP listener: Pebble
// handshakes with Wharf's HTTPS listener), and verifies it trusting
// Pebble's root only.
func TestHTTPSACMEPebble(t *testing.T) {
	pebble(t)
	// Pebble dials the first address "localhost" resolves to, so Wharf
	// listens there.
	addrs, err := net.DefaultResolver.LookupHost(t.Context(), "localhost")
	if err != nil || len(addrs) == 0 {
		t.Fatalf("resolving localhost: %v", err)
	}
	host := addrs[0]
	free := func() int {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	}
	for _, tc := range []struct {
		name   string
		httpOn bool
		env    []string
	}{
		{"http-01", true, []string{"WHARF_ACME_CHALLENGES=http-01"}},
		{"tls-alpn-01", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "pebble-minica.pem")
			b, err := os.ReadFile(filepath.Join(pebbleBuild.certs, "pebble.minica.pem"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(root, b, 0o600); err != nil {
				t.Fatal(err)
			}
			// The ports are chosen free, then bound by Wharf: another
			// process may take one in between; then both are chosen again.
			var (
				in        *instance
				httpsPort int
				dirURL    string
				issuing   *x509.CertPool
				pebbleLog *lockedBuffer
			)
			for attempt := 1; ; attempt++ {
				var httpPort int
				httpsPort, httpPort = free(), free()
				dirURL, issuing, pebbleLog = startPebble(t, httpPort, httpsPort)
				httpListen := "off"
				if tc.httpOn {
					httpListen = net.JoinHostPort(host, strconv.Itoa(httpPort))
				}
				in, err = tryStart(t, t.TempDir(), append([]string{
					"WHARF_LISTEN=" + net.JoinHostPort(host, strconv.Itoa(httpsPort)),
					"WHARF_TLS=acme", "WHARF_DOMAIN=localhost",
					"WHARF_ACME_CA=" + dirURL, "WHARF_ACME_CA_ROOT=" + root,
					"WHARF_ACME_EMAIL=ops@example.org",
					"WHARF_HTTP_LISTEN=" + httpListen}, tc.env...)...)
				if err == nil {
					break
				}
				if !errors.Is(err, errAddrInUse) || attempt == 3 {
					t.Fatal(err)
				}
				t.Logf("attempt %d: %v; choosing other ports", attempt, err)
			}
			addr := strings.TrimPrefix(in.URL, "http://")
			if m := urlField.FindStringSubmatch(in.output()); m == nil || m[1] != "https://localhost:"+strconv.Itoa(httpsPort) {
				t.Errorf("serving line does not give https://localhost:%d:\n%s", httpsPort, in.output())
			}

			// Obtaining takes a few round trips; until then handshakes fail.
			var leaf *x509.Certificate
			deadline := time.Now().Add(60 * time.Second)
			for {
				leaf, err = peerCert(addr, "localhost", issuing)
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no certificate from Pebble within 60s: %v\nwharf:\n%s", err, in.output())
				}
				time.Sleep(200 * time.Millisecond)
			}
			if !slices.Contains(leaf.DNSNames, "localhost") {
				t.Errorf("certificate names %v, want localhost", leaf.DNSNames)
			}
			resp, err := httpsClient(issuing).Get("https://localhost:" + strconv.Itoa(httpsPort) + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET /healthz over https: %s", resp.Status)
			}
			if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
				t.Errorf("GET /healthz over https with acme: Strict-Transport-Security %q, want max-age=31536000 (a year)", got)
			}
			files, _ := filepath.Glob(filepath.Join(in.Data, "certs", "certificates", "*", "localhost", "localhost.crt"))
			if len(files) != 1 {
				t.Errorf("certificate not in certmagic's storage under <data>/certs: %v", files)
			}
			if got := strings.Contains(pebbleLog.String(), "validate w/ HTTP"); got != tc.httpOn {
				t.Errorf("Pebble validated over HTTP: %v, want %v:\n%s", got, tc.httpOn, pebbleLog.String())
			}
			if strings.Contains(in.output(), "level=ERROR") {
				t.Errorf("errors logged while obtaining:\n%s", in.output())
			}
		})
	}
}
