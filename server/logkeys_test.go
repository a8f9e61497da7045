package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// keyCheck is a slog handler that records every line on which a key
// appears twice (a logger named twice: component=dav component=dav).
type keyCheck struct {
	attrs []string
	mu    *sync.Mutex
	seen  *[]string // lines, as "msg key=… key=…"
	dups  *[]string
}

func (h keyCheck) Enabled(context.Context, slog.Level) bool { return true }

func (h keyCheck) Handle(_ context.Context, r slog.Record) error {
	keys := append([]string(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool { keys = append(keys, a.Key); return true })
	line := r.Message + " " + strings.Join(keys, " ")
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.seen = append(*h.seen, line)
	count := map[string]int{}
	for _, k := range keys {
		if count[k]++; count[k] == 2 {
			*h.dups = append(*h.dups, k+" twice in: "+line)
		}
	}
	return nil
}

func (h keyCheck) WithAttrs(as []slog.Attr) slog.Handler {
	n := h
	n.attrs = append(append([]string(nil), h.attrs...), func() []string {
		var ks []string
		for _, a := range as {
			ks = append(ks, a.Key)
		}
		return ks
	}()...)
	return n
}

func (h keyCheck) WithGroup(string) slog.Handler { return h }

// TestLogKeysOnce: every line a running server logs names its component
// (and every other key) once, whichever component logs it.
func TestLogKeysOnce(t *testing.T) {
	var seen, dups []string
	h := keyCheck{mu: &sync.Mutex{}, seen: &seen, dups: &dups}
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	const pw = "a long enough password"
	go func() {
		done <- Run(ctx, Config{Dir: t.TempDir(), Listen: "127.0.0.1:0", AdminPassword: pw,
			Logger: slog.New(h), Ready: func(a net.Addr) { ready <- a }})
	}()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not start within 60s")
	}
	base := "http://" + addr.String()
	for _, c := range []struct{ method, path, user, pass, body string }{
		{"GET", "/dav/spaces/files/", "admin", "a wrong password", ""},          // auth: login failed
		{"PUT", "/dav/spaces/files/a.txt", "admin", pw, "hello"},                // dav, postproc
		{"PUT", "/dav/spaces/files/a.txt", "admin", pw, "hello again"},          // replace
		{"GET", "/api/v1/spaces/files/nodes/", "admin", pw, ""},                 // web
		{"POST", "/tus/", "admin", pw, ""},                                      // tus (refused: no metadata)
		{"GET", "/api/v1/targets", "admin", pw, ""},                             // phraseanet
		{"DELETE", "/dav/spaces/files/nothing-there", "admin", pw, ""},          // dav 404
		{"MKCOL", "/dav/spaces/files/folder", "admin", pw, ""},                  // dav
		{"GET", "/api/v1/uploads/no-such-upload/progress", "admin", pw, ""},     // postproc progress
		{"POST", "/api/v1/auth/token", "admin", "a wrong password again", "{}"}, // publish, auth
		{"GET", "/metrics", "admin", pw, ""},                                    // metrics
	} {
		req, _ := http.NewRequestWithContext(t.Context(), c.method, base+c.path, strings.NewReader(c.body))
		req.SetBasicAuth(c.user, c.pass)
		if c.method == "POST" && c.path == "/tus/" {
			req.Header.Set("Tus-Resumable", "1.0.0")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, d := range dups {
		t.Errorf("a log line repeats a key: %s", d)
	}
	named := 0
	for _, l := range seen {
		if strings.Contains(" "+l+" ", " component ") {
			named++
		}
	}
	if named == 0 {
		t.Errorf("no line named its component; the check saw nothing:\n%s", strings.Join(seen, "\n"))
	}
}
