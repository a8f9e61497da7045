package e2e

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// TestFirstStart: an empty data directory becomes a usable instance with no
// setup, and a restart keeps everything. The server's output is no
// terminal (under systemd it is the journal): the generated admin password
// is not in it but in <data>/initial-admin-password, mode 0600, which the
// log names.
func TestFirstStart(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	in := start(t, data)
	pwFile := filepath.Join(data, "initial-admin-password")
	b, err := os.ReadFile(pwFile)
	if err != nil {
		t.Fatalf("first start wrote no password file: %v\n%s", err, in.output())
	}
	pw := strings.TrimSpace(string(b))
	if fi, err := os.Stat(pwFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v, %v; want mode 0600", pwFile, fi.Mode(), err)
	}
	if len(pw) < 16 || strings.Contains(in.output(), pw) {
		t.Fatalf("password %q; it must not be in the output:\n%s", pw, in.output())
	}
	if !strings.Contains(in.output(), pwFile) {
		t.Errorf("the output does not say where the password is:\n%s", in.output())
	}

	for _, p := range []string{"/healthz", "/readyz"} {
		if resp := in.do("GET", p, "", "", nil); resp.StatusCode != 200 {
			t.Errorf("GET %s = %d, want 200", p, resp.StatusCode)
		}
	}
	for _, p := range []string{"/", "/dav/", "/dav/spaces/files/"} {
		resp := in.do("OPTIONS", p, "", "", nil)
		if resp.StatusCode != 200 || resp.Header.Get("DAV") == "" || !strings.Contains(resp.Header.Get("Allow"), "PROPPATCH") {
			t.Errorf("anonymous OPTIONS %s = %d DAV=%q Allow=%q; want 200 with DAV and an Allow listing PROPPATCH",
				p, resp.StatusCode, resp.Header.Get("DAV"), resp.Header.Get("Allow"))
		}
	}

	resp := in.do("GET", "/api/v1/me", "admin", pw, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/me as admin = %d", resp.StatusCode)
	}
	var me struct {
		User   string
		Admin  bool
		Spaces []struct{ ID, Role string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&me); err != nil {
		t.Fatal(err)
	}
	if me.User != "admin" || !me.Admin || len(me.Spaces) != 1 || me.Spaces[0].ID != "files" || me.Spaces[0].Role != "manager" {
		t.Fatalf("me = %+v; want admin managing space files", me)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id on the response")
	}

	for _, c := range []struct{ name, user, pass string }{
		{"no credentials", "", ""},
		{"wrong password", "admin", pw + "x"},
		{"unknown user", "nobody", pw},
	} {
		resp := in.do("GET", "/api/v1/me", c.user, c.pass, nil)
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%s: %d WWW-Authenticate=%q; want 401 with a Basic challenge", c.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}

	if code := in.stop(); code != 0 {
		t.Fatalf("after SIGTERM wharf exited %d, want 0:\n%s", code, in.output())
	}
	again := start(t, data)
	if strings.Contains(again.output(), "password") {
		t.Errorf("second start mentions a password again:\n%s", again.output())
	}
	if resp := again.do("GET", "/api/v1/me", "admin", pw, nil); resp.StatusCode != 200 {
		t.Errorf("admin after restart: %d, want 200", resp.StatusCode)
	}
}

// TestAdminPasswordFromEnvironment: WHARF_ADMIN_PASSWORD sets the first
// admin's password, which is then not printed.
func TestAdminPasswordFromEnvironment(t *testing.T) {
	data := t.TempDir()
	const pw = "correct horse battery staple"
	in := start(t, data, "WHARF_ADMIN_PASSWORD="+pw)
	if strings.Contains(in.output(), pw) {
		t.Errorf("the password from the environment was printed")
	}
	if resp := in.do("GET", "/api/v1/me", "admin", pw, nil); resp.StatusCode != 200 {
		t.Errorf("admin with WHARF_ADMIN_PASSWORD: %d, want 200", resp.StatusCode)
	}
}

// TestCommandsWhileServing: the store commands work on the data directory
// of a running server, and what they do takes effect at once.
func TestCommandsWhileServing(t *testing.T) {
	data := t.TempDir()
	in := start(t, data, "WHARF_ADMIN_PASSWORD=first admin password")

	mustWharf(t, data, "a good long password\n", "user", "add", "bob", "--password-stdin")
	id := mustWharf(t, data, "", "space", "create", "Team Photos", "--quota", "1G")
	if id != "team-photos" {
		t.Fatalf("space create printed %q, want the id alone: team-photos", id)
	}
	// The same name again is refused, naming the first; --id makes a
	// second space of that name on purpose.
	if res := wharf(t, data, "", "space", "create", "Team Photos"); res.code == 0 || !strings.Contains(res.stderr, `exists already (id team-photos)`) {
		t.Fatalf("second space with the same name: exit %d, stdout %q, stderr %q; want it refused", res.code, res.stdout, res.stderr)
	}
	if id2 := mustWharf(t, data, "", "space", "create", "Team Photos", "--id", "team-photos-2"); id2 != "team-photos-2" {
		t.Fatalf("second space with the same name and --id got id %q", id2)
	}
	mustWharf(t, data, "", "space", "grant", id, "bob", "editor")

	if resp := in.do("GET", "/api/v1/me", "bob", "a good long password", nil); resp.StatusCode != 200 {
		t.Fatalf("bob with his password: %d", resp.StatusCode)
	}
	secret := mustWharf(t, data, "", "apppass", "create", "bob", "--label", "laptop")
	if secret == "" || strings.ContainsAny(secret, " \n") {
		t.Fatalf("apppass create printed %q, want the password alone", secret)
	}
	resp := in.do("GET", "/api/v1/me", "bob", secret, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("bob with app password: %d", resp.StatusCode)
	}
	body := readAll(t, resp.Body)
	if !strings.Contains(body, `"id":"team-photos","role":"editor"`) || strings.Contains(body, `"files"`) {
		t.Errorf("bob's spaces: %s; want team-photos as editor and not files", body)
	}
	if list := mustWharf(t, data, "", "apppass", "list", "bob"); !strings.Contains(list, "laptop") {
		t.Errorf("apppass list: %q lacks the laptop password", list)
	}
	mustWharf(t, data, "", "apppass", "revoke", "bob", "laptop")
	if resp := in.do("GET", "/api/v1/me", "bob", secret, nil); resp.StatusCode != 401 {
		t.Errorf("revoked app password: %d, want 401", resp.StatusCode)
	}

	tok := mustWharf(t, data, "", "token", "create", "bob", "--label", "ci")
	req, _ := http.NewRequestWithContext(t.Context(), "GET", in.URL+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 200 {
		t.Errorf("bearer token: %d, want 200", r2.StatusCode)
	}

	mustWharf(t, data, "", "space", "revoke", id, "bob")
	mustWharf(t, data, "", "user", "remove", "bob")
	if resp := in.do("GET", "/api/v1/me", "bob", "a good long password", nil); resp.StatusCode != 401 {
		t.Errorf("removed user: %d, want 401", resp.StatusCode)
	}
	if users := mustWharf(t, data, "", "user", "list"); strings.Contains(users, "bob") {
		t.Errorf("user list still shows bob:\n%s", users)
	}
}

// TestBadInput: every mistake gets one clear line on stderr, a non-zero exit
// and changes nothing.
func TestBadInput(t *testing.T) {
	data := t.TempDir()
	in := start(t, data, "WHARF_ADMIN_PASSWORD=first admin password")
	in.stop()
	mustWharf(t, data, "a good long password\n", "user", "add", "carol", "--password-stdin")
	mustWharf(t, data, "", "space", "create", "Archive")

	snapshot := func() string {
		return mustWharf(t, data, "", "user", "list") + mustWharf(t, data, "", "space", "list") +
			mustWharf(t, data, "", "apppass", "list", "carol")
	}
	before := snapshot()

	// A data directory that cannot be created: its parent is a file (root
	// ignores permission bits, so a read-only directory proves nothing there).
	notDir := filepath.Join(t.TempDir(), "plain-file")
	os.WriteFile(notDir, []byte("x"), 0o600)
	newer := t.TempDir()
	makeNewer(t, newer)

	cases := []struct {
		name  string
		data  string
		stdin string
		args  []string
		want  string // in the one stderr line
	}{
		{"unknown user", data, "", []string{"apppass", "create", "nobody"}, "nobody"},
		{"remove unknown user", data, "", []string{"user", "remove", "nobody"}, "nobody"},
		{"remove the last admin", data, "", []string{"user", "remove", "admin"}, "last administrator"},
		{"duplicate user", data, "another good password\n", []string{"user", "add", "carol", "--password-stdin"}, "exists"},
		{"duplicate user other case", data, "another good password\n", []string{"user", "add", "CAROL", "--password-stdin"}, "exists"},
		{"weak password", data, "123\n", []string{"user", "add", "dave", "--password-stdin"}, "password"},
		{"empty password", data, "\n", []string{"user", "add", "dave", "--password-stdin"}, "password"},
		{"no password on stdin", data, "", []string{"user", "add", "dave", "--password-stdin"}, "password"},
		{"bad user name", data, "a good long password\n", []string{"user", "add", "da:ve", "--password-stdin"}, "name"},
		{"bad role", data, "", []string{"space", "grant", "archive", "carol", "owner"}, "role"},
		{"grant on unknown space", data, "", []string{"space", "grant", "nope", "carol", "viewer"}, "nope"},
		{"grant to unknown user", data, "", []string{"space", "grant", "archive", "nobody", "viewer"}, "nobody"},
		{"bad quota", data, "", []string{"space", "create", "Other", "--quota", "lots"}, "quota"},
		{"empty space name", data, "", []string{"space", "create", ""}, "name"},
		{"missing argument", data, "", []string{"space", "grant", "archive", "carol"}, "usage"},
		{"revoke unknown app password", data, "", []string{"apppass", "revoke", "carol", "nope"}, "nope"},
		{"revoke unknown token", data, "", []string{"token", "revoke", "nope"}, "nope"},
		{"unusable data dir", filepath.Join(notDir, "sub"), "", []string{"serve", "--listen", "127.0.0.1:0"}, "plain-file/sub"},
		{"no data dir", filepath.Join(t.TempDir(), "missing"), "", []string{"user", "list"}, "no Wharf data"},
		{"data dir from a newer version", newer, "", []string{"user", "list"}, "newer"},
		{"bad listen address", data, "", []string{"serve", "--listen", "nonsense"}, "listen"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.data == newer && os.Getenv("WHARF_E2E_POSTGRES") != "" {
				t.Skip("the newer schema is written into the SQLite file; e2eDB gives the directory a PostgreSQL database")
			}
			res := wharf(t, c.data, c.stdin, c.args...)
			lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
			switch {
			case res.code == 0:
				t.Fatalf("exit 0; stdout %q stderr %q", res.stdout, res.stderr)
			case len(lines) != 1 || !strings.HasPrefix(lines[0], "wharf: "):
				t.Fatalf("stderr is not one \"wharf: …\" line:\n%s", res.stderr)
			case !strings.Contains(strings.ToLower(lines[0]), strings.ToLower(c.want)):
				t.Fatalf("stderr %q does not mention %q", lines[0], c.want)
			}
		})
	}
	if after := snapshot(); after != before {
		t.Errorf("bad commands changed the data:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if os.Geteuid() != 0 {
		readOnly := filepath.Join(t.TempDir(), "ro")
		os.Mkdir(readOnly, 0o500)
		res := wharf(t, filepath.Join(readOnly, "sub"), "", "serve", "--listen", "127.0.0.1:0") // the port is checked first
		if res.code == 0 || !strings.Contains(res.stderr, "ro/sub") {
			t.Errorf("serve in a read-only directory: exit %d, stderr %q", res.code, res.stderr)
		}
	}
}

// makeNewer writes a database in dir whose schema version is beyond what
// this binary knows, as a newer Wharf would leave it.
func makeNewer(t *testing.T, dir string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("PRAGMA user_version = 9999"); err != nil {
		t.Fatal(err)
	}
}
