package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRevocationByCommandLine: the server keeps credentials, roles and
// index rows in memory between requests (auth/fresh.go,
// space/nodecache.go); a change made by the command line, another process
// writing the same database, must still take effect on the very next
// request. Each credential first serves many GETs of the same file, so
// every cache on the way is warm when the command runs.
func TestRevocationByCommandLine(t *testing.T) {
	data := t.TempDir()
	const adminPW = "first admin password"
	in := start(t, data, "WHARF_ADMIN_PASSWORD="+adminPW)
	mustWharf(t, data, "a good long password\n", "user", "add", "bob", "--password-stdin")
	sp := mustWharf(t, data, "", "space", "create", "Shared")
	mustWharf(t, data, "", "space", "grant", sp, "bob", "editor")
	file := "/dav/spaces/" + sp + "/f.txt"
	if resp := in.do("PUT", file, "admin", adminPW, strings.NewReader("hello")); resp.StatusCode != 201 {
		t.Fatalf("PUT as admin: %d", resp.StatusCode)
	}

	get := func(set func(*http.Request)) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), "GET", in.URL+file, nil)
		if err != nil {
			t.Fatal(err)
		}
		set(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	warm := func(what string, set func(*http.Request)) {
		t.Helper()
		for i := range 30 {
			if code := get(set); code != 200 {
				t.Fatalf("%s, GET %d before the change: %d, want 200", what, i, code)
			}
		}
	}

	app := mustWharf(t, data, "", "apppass", "create", "bob", "--label", "laptop")
	viaApp := func(r *http.Request) { r.SetBasicAuth("bob", app) }
	tok := mustWharf(t, data, "", "token", "create", "bob", "--label", "ci")
	viaTok := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }

	warm("app password", viaApp)
	mustWharf(t, data, "", "apppass", "revoke", "bob", "laptop")
	if code := get(viaApp); code != 401 {
		t.Errorf("app password revoked by the command line: GET %d, want 401", code)
	}

	// The token's id, from the listing: the line with its label.
	var tokID string
	for _, line := range strings.Split(mustWharf(t, data, "", "token", "list", "bob"), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == "ci" {
			tokID = f[0]
		}
	}
	if tokID == "" {
		t.Fatal("token list does not show the ci token")
	}
	warm("token", viaTok)
	mustWharf(t, data, "", "token", "revoke", tokID)
	if code := get(viaTok); code != 401 {
		t.Errorf("token revoked by the command line: GET %d, want 401", code)
	}

	tok2 := mustWharf(t, data, "", "token", "create", "bob", "--label", "ci2")
	viaTok2 := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok2) }
	warm("second token", viaTok2)
	mustWharf(t, data, "", "space", "revoke", sp, "bob")
	if code := get(viaTok2); code != 404 {
		t.Errorf("membership removed by the command line: GET %d, want 404 (no such space)", code)
	}
	mustWharf(t, data, "", "space", "grant", sp, "bob", "viewer")
	warm("second token, viewer again", viaTok2)
	mustWharf(t, data, "", "user", "remove", "bob")
	if code := get(viaTok2); code != 401 {
		t.Errorf("user removed by the command line: GET with a token %d, want 401", code)
	}
}
