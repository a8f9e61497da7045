package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// The web UI's JSON API driven the way the browser UI drives it: a cookie
// session with its CSRF token, the spaces and nodes endpoints, tus uploads
// by cookie, and the account and admin endpoints.

const webPW = "web api test password"

// webSession is a browser's cookie jar for one instance, reduced to what
// Wharf sets: the session cookie and the CSRF token from the login answer.
type webSession struct {
	in     *instance
	client *http.Client // nil: http.DefaultClient
	base   string       // "": in.URL
	cookie string       // "wharf_session=…"
	csrf   string
}

func (s *webSession) req(method, path string, body []byte, hdr ...string) (int, http.Header, string) {
	s.in.t.Helper()
	base := s.base
	if base == "" {
		base = s.in.URL
	}
	r, err := http.NewRequestWithContext(s.in.t.Context(), method, base+path, bytes.NewReader(body))
	if err != nil {
		s.in.t.Fatal(err)
	}
	if s.cookie != "" {
		r.Header.Set("Cookie", s.cookie)
	}
	if s.csrf != "" {
		r.Header.Set("X-CSRF-Token", s.csrf)
	}
	if len(body) > 0 && strings.HasPrefix(path, "/api/") {
		r.Header.Set("Content-Type", "application/json") // as the UI's scripts send it
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		r.Header.Set(k, strings.TrimSpace(v))
	}
	c := s.client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(r)
	if err != nil {
		s.in.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// webLogin logs user in at base (in.URL when "") and returns the session
// and the Set-Cookie header of the answer.
func webLogin(t *testing.T, in *instance, client *http.Client, base, user, pass string) (*webSession, string) {
	t.Helper()
	s := &webSession{in: in, client: client, base: base}
	st, h, body := s.req("POST", "/api/v1/session", jsonBody(t, map[string]string{"user": user, "password": pass}))
	if st != 200 {
		t.Fatalf("login %s: %d %s", user, st, body)
	}
	var out struct {
		User  string
		Admin bool
		CSRF  string
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || out.User != user || out.CSRF == "" {
		t.Fatalf("login %s answered %s", user, body)
	}
	setCookie := h.Get("Set-Cookie")
	cookie, _, _ := strings.Cut(setCookie, ";")
	if !strings.HasPrefix(cookie, "wharf_session=wharf_") {
		t.Fatalf("login %s: Set-Cookie %q", user, setCookie)
	}
	s.cookie, s.csrf = cookie, out.CSRF
	return s, setCookie
}

// TestWebAPISession: log in, browse, make a folder, upload over tus with
// the cookie and CSRF token, see the file, move it, delete it; CSRF,
// revoked sessions, roles, hidden spaces, admin endpoints and logout.
func TestWebAPISession(t *testing.T) {
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+webPW)

	// The shell is there without authentication, with its headers.
	resp := in.do("GET", "/", "", "", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
		resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("GET / = %d %v", resp.StatusCode, resp.Header)
	}
	if resp := in.do("GET", "/ui/static/no-such.js", "", "", nil); resp.StatusCode != 404 {
		t.Errorf("GET an unknown static file = %d, want 404", resp.StatusCode)
	}
	// A browser script that is not logged in gets no Basic challenge (which
	// would pop up a password dialog over the UI).
	anon := &webSession{in: in}
	st, h, _ := anon.req("GET", "/api/v1/spaces", nil, "Sec-Fetch-Mode: cors")
	if st != 401 || h.Get("WWW-Authenticate") != "" {
		t.Errorf("anonymous fetch of /api/v1/spaces = %d WWW-Authenticate %q, want 401 without", st, h.Get("WWW-Authenticate"))
	}
	if st, _, _ := anon.req("GET", "/api/v1/session", nil); st != 401 {
		t.Errorf("GET /api/v1/session without cookie = %d, want 401", st)
	}

	admin, setCookie := webLogin(t, in, nil, "", "admin", webPW)
	for _, attr := range []string{"Path=/", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(setCookie, attr) {
			t.Errorf("Set-Cookie %q lacks %s", setCookie, attr)
		}
	}
	if strings.Contains(setCookie, "Secure") {
		t.Errorf("Set-Cookie %q is Secure over plain HTTP", setCookie)
	}
	if st, _, body := admin.req("GET", "/api/v1/session", nil); st != 200 || !strings.Contains(body, `"csrf":"`+admin.csrf+`"`) {
		t.Errorf("GET /api/v1/session = %d %s", st, body)
	}
	if st, _, body := admin.req("GET", "/api/v1/me", nil); st != 200 || !strings.Contains(body, `"via":"session"`) {
		t.Errorf("GET /api/v1/me with the cookie = %d %s, want via session", st, body)
	}

	st, _, body := admin.req("GET", "/api/v1/spaces", nil)
	if st != 200 || !strings.Contains(body, `"id":"files"`) || !strings.Contains(body, `"role":"manager"`) {
		t.Fatalf("spaces = %d %s", st, body)
	}

	// CSRF: the same request without the token is refused.
	noCSRF := &webSession{in: in, cookie: admin.cookie}
	st, _, body = noCSRF.req("POST", "/api/v1/spaces/files/mkdir", []byte(`{"path":"photos"}`))
	if st != 403 || !strings.Contains(body, "missing or wrong CSRF token") {
		t.Errorf("mkdir by cookie without X-CSRF-Token = %d %s, want 403", st, body)
	}
	st, _, _ = noCSRF.req("PUT", "/dav/spaces/files/x.txt", []byte("x"))
	if st != 403 {
		t.Errorf("WebDAV PUT by cookie without X-CSRF-Token = %d, want 403", st)
	}
	if st, _, body := admin.req("POST", "/api/v1/spaces/files/mkdir", []byte(`{"path":"photos/2025","parents":true}`)); st != 201 {
		t.Fatalf("mkdir = %d %s", st, body)
	}

	// Upload over tus with the cookie, as the UI does.
	data := []byte("the bytes of a web upload\n")
	meta := "space " + base64.StdEncoding.EncodeToString([]byte("files")) + ",path " + base64.StdEncoding.EncodeToString([]byte("photos/2025/notes.txt"))
	st, _, body = noCSRF.req("POST", "/tus/", nil, "Tus-Resumable: 1.0.0", "Upload-Length: "+strconv.Itoa(len(data)), "Upload-Metadata: "+meta)
	if st != 403 {
		t.Errorf("tus create by cookie without X-CSRF-Token = %d %s, want 403", st, body)
	}
	st, h, body = admin.req("POST", "/tus/", nil, "Tus-Resumable: 1.0.0", "Upload-Length: "+strconv.Itoa(len(data)), "Upload-Metadata: "+meta)
	if st != 201 {
		t.Fatalf("tus create = %d %s", st, body)
	}
	loc := h.Get("Location")
	upload := loc[strings.Index(loc, "/tus/"):]
	st, _, body = admin.req("PATCH", upload, data, "Tus-Resumable: 1.0.0", "Upload-Offset: 0", "Content-Type: application/offset+octet-stream")
	if st != 204 {
		t.Fatalf("tus PATCH = %d %s", st, body)
	}
	st, _, body = admin.req("GET", "/api/v1/spaces/files/nodes/photos/2025", nil)
	if st != 200 || !strings.Contains(body, `"path":"photos/2025/notes.txt"`) || !strings.Contains(body, `"size":`+strconv.Itoa(len(data))) {
		t.Fatalf("listing after upload = %d %s", st, body)
	}
	st, h, body = admin.req("GET", "/api/v1/spaces/files/download/photos/2025/notes.txt", nil)
	if st != 200 || body != string(data) || h.Get("Content-Disposition") != "attachment; filename*=UTF-8''notes.txt" {
		t.Errorf("download = %d %q %q", st, body, h.Get("Content-Disposition"))
	}

	// Move (rename) and delete.
	st, _, body = admin.req("POST", "/api/v1/spaces/files/move", []byte(`{"from":"photos/2025/notes.txt","to":"photos/readme.txt"}`))
	if st != 200 || !strings.Contains(body, `"path":"photos/readme.txt"`) {
		t.Fatalf("move = %d %s", st, body)
	}
	if resp := in.do("GET", "/dav/spaces/files/photos/readme.txt", "admin", webPW, nil); resp.StatusCode != 200 || readAll(t, resp.Body) != string(data) {
		t.Errorf("WebDAV GET of the moved file = %d", resp.StatusCode)
	}
	if st, _, body := admin.req("DELETE", "/api/v1/spaces/files/nodes/photos", nil); st != 204 {
		t.Fatalf("delete = %d %s", st, body)
	}
	if st, _, _ := admin.req("GET", "/api/v1/spaces/files/nodes/photos", nil); st != 404 {
		t.Errorf("listing a deleted folder = %d, want 404", st)
	}

	// A viewer, and a space hidden from them.
	st, _, body = admin.req("POST", "/api/v1/admin/users", []byte(`{"name":"vera","password":"`+webPW+`"}`))
	if st != 201 {
		t.Fatalf("add user = %d %s", st, body)
	}
	if st, _, body := admin.req("PUT", "/api/v1/spaces/files/members/vera", []byte(`{"role":"viewer"}`)); st != 204 {
		t.Fatalf("grant viewer = %d %s", st, body)
	}
	if st, _, body := admin.req("POST", "/api/v1/admin/spaces", []byte(`{"name":"hidden"}`)); st != 201 {
		t.Fatalf("create space = %d %s", st, body)
	}
	vera, _ := webLogin(t, in, nil, "", "vera", webPW)
	if st, _, body := vera.req("GET", "/api/v1/spaces", nil); st != 200 || strings.Contains(body, "hidden") || !strings.Contains(body, `"role":"viewer"`) {
		t.Errorf("vera's spaces = %d %s", st, body)
	}
	if st, _, _ := vera.req("POST", "/api/v1/spaces/files/mkdir", []byte(`{"path":"mine"}`)); st != 403 {
		t.Errorf("viewer mkdir = %d, want 403", st)
	}
	if st, _, _ := vera.req("GET", "/api/v1/spaces/hidden/nodes/", nil); st != 404 {
		t.Errorf("hidden space = %d, want 404", st)
	}
	for _, p := range []string{"/api/v1/admin/users", "/api/v1/admin/spaces"} {
		method := "GET"
		if strings.HasSuffix(p, "spaces") {
			method = "POST"
		}
		if st, _, _ := vera.req(method, p, []byte(`{"name":"x"}`)); st != 403 {
			t.Errorf("vera %s %s = %d, want 403", method, p, st)
		}
	}

	// Logout revokes the session: the old cookie no longer works.
	st, h, _ = vera.req("DELETE", "/api/v1/session", nil)
	if st != 204 || !strings.Contains(h.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout = %d, Set-Cookie %q", st, h.Get("Set-Cookie"))
	}
	if st, _, _ := vera.req("GET", "/api/v1/spaces", nil); st != 401 {
		t.Errorf("cookie of a revoked session = %d, want 401", st)
	}
	if st, _, _ := vera.req("GET", "/api/v1/session", nil); st != 401 {
		t.Errorf("GET /api/v1/session after logout = %d, want 401", st)
	}
}

// TestWebAPISecureCookie: over HTTPS the session cookie is Secure.
func TestWebAPISecureCookie(t *testing.T) {
	data := t.TempDir()
	in := start(t, data, "WHARF_TLS=internal", "WHARF_HTTP_LISTEN=off", "WHARF_ADMIN_PASSWORD="+webPW)
	roots, _ := caExport(t, data)
	base := "https://" + strings.TrimPrefix(in.URL, "http://")
	s, setCookie := webLogin(t, in, httpsClient(roots), base, "admin", webPW)
	if !strings.Contains(setCookie, "Secure") || !strings.Contains(setCookie, "HttpOnly") {
		t.Errorf("Set-Cookie over HTTPS = %q, want Secure and HttpOnly", setCookie)
	}
	if st, _, body := s.req("GET", "/api/v1/spaces", nil); st != 200 {
		t.Errorf("spaces over HTTPS by cookie = %d %s", st, body)
	}
}
