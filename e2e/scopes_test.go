package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestTokenScopes: a token made with wharf token create --scope does what
// its scopes name and nothing else (403 with the reason); a token without
// scopes does whatever its user may. The scopes are read, write (which
// includes read), account and admin; see docs/api.md.
func TestTokenScopes(t *testing.T) {
	data := t.TempDir()
	in := start(t, data, "WHARF_ADMIN_PASSWORD="+davPW)
	if st, _, body := in.pubReq("PUT", "/dav/spaces/files/a.txt", adminBasic(), []byte("hello")); st != http.StatusCreated {
		t.Fatalf("PUT a.txt: %d %s", st, body)
	}
	token := func(scopes ...string) string {
		args := []string{"token", "create", "admin"}
		for _, s := range scopes {
			args = append(args, "--scope", s)
		}
		return "Bearer " + strings.TrimSpace(mustWharf(t, data, "", args...))
	}
	tokens := map[string]string{
		"none": token(), "read": token("read"), "write": token("write"),
		"account": token("account"), "admin": token("admin"), "read+account": token("read", "account"),
	}
	type call struct {
		name, method, path, body string
		hdr                      []string
	}
	calls := []call{
		{"GET a file", "GET", "/dav/spaces/files/a.txt", "", nil},
		{"PROPFIND", "PROPFIND", "/dav/spaces/files/", "", []string{"Depth: 1"}},
		{"PUT a file", "PUT", "/dav/spaces/files/b.txt", "b", nil},
		{"MKCOL", "MKCOL", "/dav/spaces/files/d", "", nil},
		{"list app passwords", "GET", "/api/v1/app-passwords", "", nil},
		// with the account password, which an app password needs
		{"create an app password", "POST", "/api/v1/app-passwords", `{"label":"x","password":"` + davPW + `"}`, []string{"Content-Type: application/json"}},
		{"list users", "GET", "/api/v1/admin/users", "", nil},
		{"metrics", "GET", "/metrics", "", nil},
		{"grant a member", "PUT", "/api/v1/spaces/files/members/admin", `{"role":"manager"}`, []string{"Content-Type: application/json"}},
		{"list members", "GET", "/api/v1/spaces/files/members", "", nil},
	}
	allowed := map[string]map[string]bool{
		"none":         {"GET a file": true, "PROPFIND": true, "PUT a file": true, "MKCOL": true, "list app passwords": true, "create an app password": true, "list users": true, "metrics": true, "grant a member": true, "list members": true},
		"read":         {"GET a file": true, "PROPFIND": true, "list members": true},
		"write":        {"GET a file": true, "PROPFIND": true, "PUT a file": true, "MKCOL": true, "list members": true},
		"account":      {"list app passwords": true, "create an app password": true},
		"admin":        {"list users": true, "metrics": true, "grant a member": true},
		"read+account": {"GET a file": true, "PROPFIND": true, "list members": true, "list app passwords": true, "create an app password": true},
	}
	for _, kind := range []string{"read", "write", "account", "admin", "read+account", "none"} {
		for _, c := range calls {
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
			}
			st, _, got := in.pubReq(c.method, c.path, tokens[kind], body, c.hdr...)
			if allowed[kind][c.name] {
				if st == http.StatusForbidden || st == http.StatusUnauthorized || st >= 500 {
					t.Errorf("token %s: %s = %d %.200s, want it allowed", kind, c.name, st, got)
				}
			} else if st != http.StatusForbidden || !strings.Contains(got, "scopes") {
				t.Errorf("token %s: %s = %d %.200s, want 403 naming the scopes", kind, c.name, st, got)
			}
			if c.method == "MKCOL" && st == http.StatusCreated {
				in.pubReq("DELETE", "/dav/spaces/files/d", adminBasic(), nil)
			}
		}
	}
	if res := wharf(t, data, "", "token", "create", "admin", "--scope", "files:read"); res.code == 0 || !strings.Contains(res.stderr, "unknown token scope") {
		t.Errorf("token create --scope files:read: exit %d, %s; want a refusal naming the scopes", res.code, res.stderr)
	}
}
