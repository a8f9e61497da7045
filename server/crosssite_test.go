package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestCrossSite: what another site's page makes a browser send with an
// unsafe method is refused whatever credentials the browser attaches
// (cached Basic credentials as much as the session cookie), the login
// endpoints included; scripts that set a Bearer token on purpose, and
// clients that are not browsers, are not affected; a JSON endpoint never
// reads a body that is not declared JSON.
func TestCrossSite(t *testing.T) {
	ps := startPublish(t)
	const evil = "Origin: https://evil.example"
	newAdmin := func(name string) []byte {
		return mustJSON(t, map[string]any{"name": name, "password": "a long enough password", "admin": true})
	}
	exists := func(name string) bool {
		_, _, body := ps.req(t, "GET", "/api/v1/admin/users", "admin", nil)
		return strings.Contains(body, `"`+name+`"`)
	}

	// The attack of the issue: a text/plain form post from another site
	// with an admin's cached Basic credentials.
	for i, tc := range []struct {
		name string
		hdr  []string
		want int
	}{
		{"foreign Origin, text/plain", []string{evil, "Content-Type: text/plain"}, 403},
		{"foreign Origin, JSON", []string{evil, "Content-Type: application/json"}, 403},
		{"Sec-Fetch-Site cross-site, no Origin", []string{"Sec-Fetch-Site: cross-site", "Content-Type: text/plain"}, 403},
		{"Sec-Fetch-Site same-site", []string{"Sec-Fetch-Site: same-site", "Origin: https://other.wharf.test"}, 403},
		{"Origin null", []string{"Origin: null"}, 403},
		{"own Origin, text/plain", []string{"Origin: " + ps.url, "Content-Type: text/plain"}, 415},
		{"no Origin, form-urlencoded", []string{"Content-Type: application/x-www-form-urlencoded"}, 415},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("mallory%d", i)
			st, _, body := ps.req(t, "POST", "/api/v1/admin/users", "admin", newAdmin(name), tc.hdr...)
			if st != tc.want {
				t.Errorf("POST /api/v1/admin/users: %d %s, want %d", st, body, tc.want)
			}
			if exists(name) {
				t.Errorf("the forged request made user %q", name)
			}
		})
	}

	// The same request from the UI's own page, or from a script without a
	// browser, goes through.
	if st, _, body := ps.req(t, "POST", "/api/v1/admin/users", "admin", newAdmin("carol"), "Origin: "+ps.url,
		"Sec-Fetch-Site: same-origin"); st != http.StatusCreated {
		t.Errorf("same-origin admin request: %d %s", st, body)
	}
	if st, _, body := ps.req(t, "POST", "/api/v1/admin/users", "admin", newAdmin("dave")); st != http.StatusCreated {
		t.Errorf("script's admin request: %d %s", st, body)
	}

	// Login CSRF: another site cannot log a visitor in to its account.
	login := mustJSON(t, map[string]string{"user": "admin", "password": testAdminPW})
	for _, path := range []string{"/api/v1/session", "/api/v1/auth/token"} {
		if st, _, body := ps.req(t, "POST", path, "", login, evil); st != http.StatusForbidden {
			t.Errorf("POST %s from another site: %d %s, want 403", path, st, body)
		}
	}

	// A Bearer token is set by a script on purpose: a page of another
	// origin that holds one (a partner's upload page) may use it.
	st, _, body := ps.req(t, "POST", "/api/v1/auth/token", "", login)
	if st != http.StatusCreated {
		t.Fatalf("session token: %d %s", st, body)
	}
	var tok struct{ Token string }
	json.Unmarshal([]byte(body), &tok)
	if st, _, body := ps.req(t, "POST", "/api/v1/spaces/files/mkdir", "Bearer "+tok.Token, mustJSON(t, map[string]string{"path": "from-partner"}), evil); st != http.StatusCreated {
		t.Errorf("mkdir with a Bearer token from another origin: %d %s, want 201", st, body)
	}

	// WebDAV clients send no Origin: they keep working with Basic. A
	// browser page of another site does not.
	if st, _, body := ps.req(t, "PUT", "/dav/spaces/files/a.txt", "admin", []byte("hello"), "Content-Type: text/plain"); st != http.StatusCreated {
		t.Errorf("WebDAV PUT without Origin: %d %s, want 201", st, body)
	}
	if st, _, body := ps.req(t, "PUT", "/dav/spaces/files/b.txt", "admin", []byte("hello"), "Content-Type: text/plain", evil); st != http.StatusForbidden {
		t.Errorf("WebDAV PUT from another site: %d %s, want 403", st, body)
	}
	// Safe methods are not refused: reading needs the same-origin policy's
	// consent to reach the page anyway.
	if st, _, body := ps.req(t, "GET", "/dav/spaces/files/a.txt", "admin", nil, evil); st != http.StatusOK {
		t.Errorf("GET from another site: %d %s, want 200", st, body)
	}
}
