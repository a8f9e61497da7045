package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfhq/wharf/internal/testservers"
)

// startPostgres starts a PostgreSQL cluster of the test's own and returns
// the URL of a new database owned by a role with a password (the password
// is not checked: the cluster trusts loopback; it is there to be hidden).
func startPostgres(t *testing.T, password string) string {
	t.Helper()
	if _, err := testservers.PostgresBinDir(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "\n!!! SKIPPING %s: %v\n\n", t.Name(), err)
		t.Skip(err)
	}
	c, err := testservers.StartPostgres(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	ctx := t.Context()
	if err := c.Exec(ctx, "postgres", "CREATE ROLE wharf LOGIN PASSWORD '"+password+"'"); err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(ctx, "postgres", "CREATE DATABASE wharf OWNER wharf"); err != nil {
		t.Fatal(err)
	}
	return strings.Replace(c.URL("wharf"), "postgres@", "wharf:"+password+"@", 1)
}

// TestPostgresReplicas: two servers on one data directory with their
// metadata in one PostgreSQL database (--db / WHARF_DB) serve the same
// files, see what the other and the command line write at the very next
// request (a revoked app password stops working on both), never print the
// database's password, and backup and check say what to use instead of
// SQLite's tools.
func TestPostgresReplicas(t *testing.T) {
	const dbPassword = "pg-secret-do-not-print"
	dsn := startPostgres(t, dbPassword)
	data := t.TempDir()
	const adminPW = "first admin password"
	a := start(t, data, "WHARF_DB="+dsn, "WHARF_ADMIN_PASSWORD="+adminPW)
	b := start(t, data, "WHARF_DB="+dsn)

	if _, err := os.Stat(filepath.Join(data, "wharf.db")); err == nil {
		t.Error("a wharf.db was created in the data directory with --db")
	}
	mustWharf(t, data, "a good long password\n", "--db", dsn, "user", "add", "bob", "--password-stdin")
	mustWharf(t, data, "", "--db", dsn, "space", "grant", "files", "bob", "editor")
	file := "/dav/spaces/files/replicated.txt"
	if resp := a.do("PUT", file, "admin", adminPW, strings.NewReader("written through a")); resp.StatusCode != 201 {
		t.Fatalf("PUT through a: %d", resp.StatusCode)
	}
	get := func(in *instance, user, pass string) (int, string) {
		t.Helper()
		resp := in.do("GET", file, user, pass, nil)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	if code, body := get(b, "bob", "a good long password"); code != 200 || body != "written through a" {
		t.Fatalf("GET through b: %d %q", code, body)
	}

	app := mustWharf(t, data, "", "--db", dsn, "apppass", "create", "bob", "--label", "laptop")
	for _, in := range []*instance{a, b, a, b} {
		for range 10 { // warm every cache on the way
			if code, _ := get(in, "bob", app); code != 200 {
				t.Fatalf("GET with the app password: %d", code)
			}
		}
	}
	mustWharf(t, data, "", "--db", dsn, "apppass", "revoke", "bob", "laptop")
	for name, in := range map[string]*instance{"a": a, "b": b} {
		if code, _ := get(in, "bob", app); code != http.StatusUnauthorized {
			t.Errorf("app password revoked by the command line: GET through %s %d, want 401", name, code)
		}
	}

	// A space made through b is listed by a at once.
	req, _ := http.NewRequestWithContext(t.Context(), "MKCOL", b.URL+"/dav/spaces/files/made-on-b", nil)
	req.SetBasicAuth("admin", adminPW)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 201 {
		t.Fatalf("MKCOL through b: %v %v", resp, err)
	}
	req, _ = http.NewRequestWithContext(t.Context(), "PROPFIND", a.URL+"/dav/spaces/files/", nil)
	req.SetBasicAuth("admin", adminPW)
	req.Header.Set("Depth", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	listing, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(listing), "made-on-b") {
		t.Errorf("PROPFIND through a does not list the folder made through b:\n%s", listing)
	}

	check := wharf(t, data, "", "--db", dsn, "check")
	if check.code != 0 || !strings.Contains(check.stderr, "pg_amcheck") {
		t.Errorf("wharf check with --db: exit %d, stderr %q; want 0 and a note naming pg_amcheck", check.code, check.stderr)
	}
	backup := wharf(t, data, "", "--db", dsn, "backup", filepath.Join(t.TempDir(), "b"))
	if backup.code == 0 || !strings.Contains(backup.stderr, "pg_dump") {
		t.Errorf("wharf backup with --db: exit %d, stderr %q; want a failure naming pg_dump", backup.code, backup.stderr)
	}
	for _, out := range []string{a.output(), b.output(), check.stderr, backup.stderr} {
		if strings.Contains(out, dbPassword) {
			t.Errorf("the database password was printed:\n%s", out)
		}
	}
}

// TestPostgresUnreachable: a --db that cannot be reached, or is not a URL
// Wharf takes, stops the start with a clear message and no password.
func TestPostgresUnreachable(t *testing.T) {
	data := t.TempDir()
	for _, c := range []struct{ db, want string }{
		{"postgres://wharf:hidden-pw@127.0.0.1:1/wharf?connect_timeout=5", "cannot connect"},
		{"postgres://wharf:hidden-pw@127.0.0.1:notaport/wharf", "bad PostgreSQL URL"},
		{"mysql://wharf:hidden-pw@127.0.0.1/wharf", "want a postgres:// or postgresql:// URL"},
	} {
		res := wharf(t, data, "", "--db", c.db, "serve", "--listen", "127.0.0.1:0")
		if res.code == 0 || !strings.Contains(res.stderr, c.want) {
			t.Errorf("serve --db %s: exit %d, stderr %q; want a failure saying %q", c.db, res.code, res.stderr, c.want)
		}
		if strings.Contains(res.stderr, "hidden-pw") || strings.Contains(res.stderr, "panic") {
			t.Errorf("serve --db %s printed the password or panicked:\n%s", c.db, res.stderr)
		}
	}
}

// e2eDB returns the environment that puts the metadata of data directory
// data in PostgreSQL when WHARF_E2E_POSTGRES names a server (host:port,
// superuser postgres without a password, as internal/testservers makes): a
// database of its own per data directory. Unset, nothing: SQLite. It lets
// the whole suite run on PostgreSQL by hand:
//
//	WHARF_E2E_POSTGRES=127.0.0.1:5432 go test ./e2e/
func e2eDB(t *testing.T, data string) []string {
	t.Helper()
	addr := os.Getenv("WHARF_E2E_POSTGRES")
	if addr == "" {
		return nil
	}
	c, err := testservers.AttachPostgres(addr)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(data))
	name := "e2e_" + hex.EncodeToString(sum[:12])
	if err := c.CreateDatabase(context.Background(), name, ""); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	return []string{"WHARF_DB=" + c.URL(name)}
}
