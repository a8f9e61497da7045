package phraseanet

import (
	"bytes"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/testenv"
)

// TestClientSecretAfterMigration: a pull target made when Wharf kept its
// client secret in clear (schema 8) still gets tokens with that secret
// once the database is upgraded, a wrong secret still does not, and the
// database no longer holds the secret.
func TestClientSecretAfterMigration(t *testing.T) {
	testenv.SQLiteOnly(t) // it writes an old schema into the SQLite file
	const plain = "0123456789abcdef0123456789abcdef0123456789abcdef"
	dir := t.TempDir()
	path := filepath.Join(dir, "wharf.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	// The schema as Wharf 8 left it, from the store's migrations.
	names, err := filepath.Glob("../store/migrations/000[1-8]_*.sql")
	if err != nil || len(names) != 8 {
		t.Fatalf("migrations 1 to 8: %q, %v", names, err)
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(string(b)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	now := strconv.FormatInt(time.Now().UnixNano(), 10)
	for _, q := range []string{
		"PRAGMA user_version = 8",
		"INSERT INTO spaces (id, name, created_at) VALUES ('s', 'S', " + now + ")",
		`INSERT INTO phraseanet_targets (id, name, space_id, mode, max_files, max_bytes, retention, client_id, client_secret, created_at)
		 VALUES ('t1', 'dam', 's', 'pull', 500, 1000000, 0, 'cid', '` + plain + `', ` + now + ")",
		// Other rows after it in the page: the old bytes of the first
		// one are not simply overwritten by the page's rewrite.
		`INSERT INTO phraseanet_targets (id, name, space_id, mode, max_files, max_bytes, retention, client_id, client_secret, created_at)
		 VALUES ('t2', 'dam2', 's', 'pull', 500, 1000000, 0, 'cid2', 'other-secret-2', ` + now + ")",
		`INSERT INTO phraseanet_targets (id, name, space_id, mode, max_files, max_bytes, retention, client_id, client_secret, created_at)
		 VALUES ('t3', 'dam3', 's', 'pull', 500, 1000000, 0, 'cid3', 'other-secret-3', ` + now + ")",
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	env := testenv.New(t, testenv.Options{Dir: dir}) // migrates
	svc, err := New(Config{DB: env.DB, Tree: env.Tree, Auth: env.Auth})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.rootHandler())
	defer srv.Close()
	token := func(secret string) int {
		t.Helper()
		resp, err := http.PostForm(srv.URL+TokenPath, url.Values{"grant_type": {"client_credentials"},
			"client_id": {"cid"}, "client_secret": {secret}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := token(plain); got != http.StatusOK {
		t.Errorf("the secret of before the upgrade: %d, want 200", got)
	}
	for _, wrong := range []string{"", "nope", plain[:len(plain)-1], clientSecretHash(plain)} {
		if got := token(wrong); got != http.StatusUnauthorized {
			t.Errorf("secret %q: %d, want 401", wrong, got)
		}
	}
	tg, err := env.DB.Target(t.Context(), "t1")
	if err != nil || tg.ClientSecretHash != clientSecretHash(plain) {
		t.Errorf("stored %q, %v; want %q", tg.ClientSecretHash, err, clientSecretHash(plain))
	}
	if err := env.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(plain)) || bytes.Contains(b, []byte(plain[:24])) || bytes.Contains(b, []byte("other-secret-")) {
		t.Errorf("%s still holds the client secret in clear", path)
	}
	if !strings.Contains(string(b), "sha256:") {
		t.Errorf("%s holds no hashed secret", path)
	}
}

// TestResetClientSecret: a new secret gets tokens, the old one and the
// tokens it got no longer work; a push-only target has none to reset.
func TestResetClientSecret(t *testing.T) {
	f := newFixture(t, nil)
	tg := f.target(t, TargetSpec{Name: "dam", Mode: ModePull})
	push := f.target(t, TargetSpec{Name: "push", Mode: ModePush, URL: "https://dam/enqueue/", Key: "k"})
	token := func(secret string) (int, string) {
		t.Helper()
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {tg.ClientID}, "client_secret": {secret}}
		status, body, _ := f.do(t, "POST", TokenPath, "", "application/x-www-form-urlencoded", form.Encode())
		if status != http.StatusOK {
			return status, ""
		}
		return status, decode(t, body)["access_token"].(string)
	}
	old := f.secrets[tg.ID]
	_, bearer := token(old)
	got, secret, err := f.svc.ResetClientSecret(f.ctx, "dam")
	if err != nil || got.ID != tg.ID || secret == "" || secret == old {
		t.Fatalf("ResetClientSecret: %+v, %q, %v", got, secret, err)
	}
	if status, _ := token(old); status != http.StatusUnauthorized {
		t.Errorf("old secret: %d, want 401", status)
	}
	if status, _ := token(secret); status != http.StatusOK {
		t.Errorf("new secret: %d, want 200", status)
	}
	if status, _, _ := f.do(t, "GET", CommitsPath+"?target="+tg.ID, "Bearer "+bearer, "", ""); status != http.StatusUnauthorized {
		t.Errorf("a token of the old secret: %d, want 401", status)
	}
	if _, _, err := f.svc.ResetClientSecret(f.ctx, push.Name); err == nil {
		t.Error("reset the secret of a push-only target: no error")
	}
}
