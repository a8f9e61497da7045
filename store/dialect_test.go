package store

import (
	"strings"
	"testing"
)

// TestMigrationsTwinned: every SQLite migration has its PostgreSQL twin of
// the same number and name, and no twin is left without its original, so
// a migration added for one engine alone fails here.
func TestMigrationsTwinned(t *testing.T) {
	lite, err := migrationFiles(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := migrationFiles(pgMigrations, "migrations/postgres")
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) != len(pg) {
		t.Errorf("%d SQLite migrations, %d PostgreSQL ones", len(lite), len(pg))
	}
	for i := range min(len(lite), len(pg)) {
		if lite[i] != pg[i] {
			t.Errorf("migration %d: SQLite %s, PostgreSQL %s", i+1, lite[i].name, pg[i].name)
		}
	}
}

func TestRebind(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT a FROM t WHERE a = ? AND b = ?", "SELECT a FROM t WHERE a = $1 AND b = $2"},
		{"SELECT '?', \"?\" FROM t WHERE a = ?", "SELECT '?', \"?\" FROM t WHERE a = $1"},
		{"SELECT 'it''s ?' WHERE x LIKE ? ESCAPE '\\' AND y = ?", "SELECT 'it''s ?' WHERE x LIKE $1 ESCAPE '\\' AND y = $2"},
		{"-- a comment?\nSELECT ?", "-- a comment?\nSELECT $1"},
		{"WHERE s = ?1 AND (?2 IS NULL OR t < ?2)", "WHERE s = $1 AND ($2 IS NULL OR t < $2)"},
	} {
		if got := rebind(c.in); got != c.want {
			t.Errorf("rebind(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/var/lib/wharf/wharf.db", "/var/lib/wharf/wharf.db"},
		{"postgres://wharf:s3cret@db:5432/wharf", "postgres://wharf:xxxxx@db:5432/wharf"},
		{"postgresql://db/wharf?user=wharf&password=s3cret", "postgresql://db/wharf?password=xxxxx&user=wharf"},
	} {
		if got := Redact(c.in); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestOpenPostgresBadURL: a URL that cannot be parsed, or a server that
// cannot be reached, fails Open with a message that names the database
// without its password.
func TestOpenPostgresBadURL(t *testing.T) {
	for _, loc := range []string{
		"postgres://wharf:s3cret@127.0.0.1:1/wharf?connect_timeout=5",
		"postgres://wharf:s3cret@127.0.0.1:notaport/wharf",
		"postgresql://wharf:s3cret@127.0.0.1/wharf?sslmode=bogus",
	} {
		db, err := Open(t.Context(), loc)
		if err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", Redact(loc))
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open's error shows the password: %v", err)
		}
		if !strings.Contains(err.Error(), "store: open postgres") {
			t.Errorf("Open's error does not say what it opened: %v", err)
		}
	}
}
