package server

import (
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// TestSurfaceOfRoute: each request is counted under the surface of the
// route it matched, whichever way it was answered (by its handler, by the
// OPTIONS shortcut, refused before the mux, or by no route at all).
func TestSurfaceOfRoute(t *testing.T) {
	ps := startPublish(t)
	for _, tc := range []struct{ method, path, want string }{
		{"PROPFIND", "/dav/spaces/files/a", "dav"},
		{"OPTIONS", "/dav", "dav"},
		{"OPTIONS", "/tus/", "tus"},
		{"PATCH", "/tus/abc", "tus"},
		{"GET", "/api/v1/events", "events"},
		{"GET", "/api/v1/uploads/u1/progress", "events"},
		{"GET", "/api/v1/me", "api"},
		{"GET", "/api/v1/no-such-thing", "api"},
		{"GET", "/api/v1/../me", "api"},
		{"GET", "/assets/x/file", "phraseanet"},
		{"GET", "/commits", "phraseanet"},
		{"POST", "/oauth/v2/token", "phraseanet"},
		{"GET", "/", "ui"},
		{"GET", "/ui/static/app.js", "ui"},
		{"GET", "/metrics", "other"},
		{"GET", "/davx", "other"},
	} {
		before := requestsOf(t, ps, tc.want)
		// Not through http.Client, which would clean the dot segments.
		conn, err := net.Dial("tcp", strings.TrimPrefix(ps.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
			tc.method, tc.path, base64.StdEncoding.EncodeToString([]byte("admin:"+testAdminPW)))
		io.Copy(io.Discard, conn)
		conn.Close()
		// The connection closes once the handler chain, counting
		// included, has returned. The scrape that took before is counted
		// after it answered, under "other".
		got := requestsOf(t, ps, tc.want) - before
		if tc.want == "other" {
			got--
		}
		if got != 1 {
			t.Errorf("%s %s: counted %v times under surface %q, want once", tc.method, tc.path, got, tc.want)
		}
	}
	if got := methodLabel("BREW"); got != "other" {
		t.Errorf("methodLabel(BREW) = %q: made-up methods must not make series", got)
	}
}

// requestsOf scrapes the metrics as the admin and sums
// wharf_http_requests_total of surface.
func requestsOf(t *testing.T, ps *publishServer, surface string) float64 {
	t.Helper()
	st, _, body := ps.req(t, "GET", "/metrics", "admin", nil)
	if st != 200 {
		t.Fatalf("GET /metrics: %d", st)
	}
	var sum float64
	for line := range strings.SplitSeq(body, "\n") {
		if !strings.HasPrefix(line, "wharf_http_requests_total{") || !strings.Contains(line, `surface="`+surface+`"`) {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		sum += v
	}
	return sum
}

func TestSpaceOfRequest(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name, method, path, meta, want string
	}{
		{"dav", "PUT", "/dav/spaces/team/a/b.jpg", "", "team"},
		{"api", "GET", "/api/v1/spaces/team/nodes", "", "team"},
		{"tus creation", "POST", "/tus/", "path " + b64("a.bin") + ",space " + b64("team"), "team"},
		{"tus patch", "PATCH", "/tus/xyz", "", ""},
		{"junk space", "POST", "/tus/", "space " + b64("a b\n"), ""},
		{"other", "GET", "/api/v1/me", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.meta != "" {
				r.Header.Set("Upload-Metadata", tc.meta)
			}
			if got := spaceOfRequest(r); got != tc.want {
				t.Errorf("spaceOfRequest = %q, want %q", got, tc.want)
			}
		})
	}
}
