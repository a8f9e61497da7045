package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// oldDatabase writes, at path, a database migrated only up to version upto
// and holding one setting, as an older Wharf would have left it.
func oldDatabase(t *testing.T, path string, upto int) {
	t.Helper()
	raw, err := sql.Open("sqlite", dsn(path, false, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ms, err := migrationFiles(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:upto] {
		body, err := migrations.ReadFile("migrations/" + m.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
	}
	if _, err := raw.Exec("PRAGMA user_version = " + strconv.Itoa(upto)); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("INSERT INTO settings (key, value) VALUES ('marker', CAST('old' AS BLOB))"); err != nil {
		t.Fatal(err)
	}
}

func schemaOf(t *testing.T, path string) int {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var v int
	if err := raw.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestUpgradeBacksUpFirst(t *testing.T) {
	sqliteOnly(t)
	ms, err := migrationFiles(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	known := len(ms)
	dir := t.TempDir()
	path := filepath.Join(dir, "wharf.db")
	from := known - 2
	oldDatabase(t, path, from)

	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	up := db.Upgraded()
	db.Close()
	if up.From != from || up.To != known || up.Backup == "" {
		t.Fatalf("Upgraded() = %+v, want from %d to %d with a backup", up, from, known)
	}
	if filepath.Dir(up.Backup) != filepath.Join(dir, BackupDir) {
		t.Errorf("backup %s not under %s", up.Backup, filepath.Join(dir, BackupDir))
	}
	// The copy is the database as it was: old schema, same rows, and a
	// database SQLite can open on its own.
	if v := schemaOf(t, up.Backup); v != from {
		t.Errorf("backup has schema %d, want %d (the version before the upgrade)", v, from)
	}
	if v := schemaOf(t, path); v != known {
		t.Errorf("upgraded database has schema %d, want %d", v, known)
	}
	raw, err := sql.Open("sqlite", "file:"+up.Backup+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var marker string
	err = raw.QueryRow("SELECT value FROM settings WHERE key = 'marker'").Scan(&marker)
	raw.Close()
	if err != nil || marker != "old" {
		t.Errorf("backup's marker setting = %q, %v; want \"old\"", marker, err)
	}

	// Opening an up-to-date database takes no copy.
	db, err = Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if up := db.Upgraded(); up.Backup != "" || up.From != known {
		t.Errorf("reopen: Upgraded() = %+v, want no backup", up)
	}
	db.Close()
	// A new database needs no copy either.
	db = openTest(t)
	if up := db.Upgraded(); up.Backup != "" || up.From != 0 || up.To != known {
		t.Errorf("new database: Upgraded() = %+v, want from 0 without backup", up)
	}
}

func TestUpgradeKeepsLastBackups(t *testing.T) {
	sqliteOnly(t)
	ms, err := migrationFiles(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "wharf.db")
	var backups []string
	for i := range KeepBackups + 2 {
		os.Remove(path)
		os.Remove(path + "-wal")
		os.Remove(path + "-shm")
		oldDatabase(t, path, len(ms)-1)
		db, err := Open(t.Context(), path)
		if err != nil {
			t.Fatalf("upgrade %d: %v", i, err)
		}
		backups = append(backups, db.Upgraded().Backup)
		db.Close()
		// distinct modification times, whatever the file system's resolution
		old := time.Now().Add(time.Duration(i-10) * time.Minute)
		os.Chtimes(backups[i], old, old)
	}
	entries, err := os.ReadDir(filepath.Join(dir, BackupDir))
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		left = append(left, filepath.Join(dir, BackupDir, e.Name()))
	}
	want := backups[len(backups)-KeepBackups:]
	if strings.Join(left, "\n") != strings.Join(want, "\n") {
		t.Errorf("backups left:\n%s\nwant the last %d:\n%s", strings.Join(left, "\n"), KeepBackups, strings.Join(want, "\n"))
	}
}

func TestTooNewMessage(t *testing.T) {
	sqliteOnly(t)
	path := filepath.Join(t.TempDir(), "wharf.db")
	oldDatabase(t, path, 1)
	raw, err := sql.Open("sqlite", dsn(path, false, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := migrationFiles(migrations, "migrations")
	newer := len(ms) + 1 // one past what this binary knows
	if _, err := raw.Exec("PRAGMA user_version = " + strconv.Itoa(newer)); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	_, err = Open(t.Context(), path)
	var tn *TooNewError
	if !errors.Is(err, ErrTooNew) || !errors.As(err, &tn) {
		t.Fatalf("Open: %v, want a TooNewError", err)
	}
	want := "written by a newer Wharf (schema " + strconv.Itoa(newer) + "); this binary knows up to " + strconv.Itoa(len(ms)) + " — upgrade wharf"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if v := schemaOf(t, path); v != newer {
		t.Errorf("refused database now has schema %d: it must be left alone", v)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), BackupDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refusing a newer database made a backup directory: %v", err)
	}
}

func TestBusyErrorsCounted(t *testing.T) {
	sqliteOnly(t)
	path := filepath.Join(t.TempDir(), "wharf.db")
	db, err := open(t.Context(), path, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Another process (here: another connection) holds the write lock.
	other, err := sql.Open("sqlite", dsn(path, false, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	if n := db.BusyErrors(); n != 0 {
		t.Fatalf("BusyErrors() = %d before any contention", n)
	}
	err = db.Update(t.Context(), func(tx *Tx) error {
		return tx.PutSetting(t.Context(), "k", []byte("v"))
	})
	if err == nil {
		t.Fatal("Update succeeded while another connection held the write lock")
	}
	if n := db.BusyErrors(); n != 1 {
		t.Errorf("BusyErrors() = %d after one busy Update (%v), want 1", n, err)
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(t.Context(), func(tx *Tx) error {
		return tx.PutSetting(t.Context(), "k", []byte("v"))
	}); err != nil {
		t.Fatalf("Update once the lock is free: %v", err)
	}
	if n := db.BusyErrors(); n != 1 {
		t.Errorf("BusyErrors() = %d after a successful Update, want still 1", n)
	}
}

func TestCountRows(t *testing.T) {
	db := openTest(t)
	got, err := db.CountRows(t.Context(), "jobs", "state")
	if err != nil || len(got) != 0 {
		t.Fatalf("CountRows on an empty table = %v, %v", got, err)
	}
	if _, err := db.CountRows(t.Context(), "users", "password"); err == nil {
		t.Error("CountRows accepted a column outside its list")
	}
	if n, err := db.CountLocks(t.Context(), time.Now()); err != nil || n != 0 {
		t.Errorf("CountLocks = %d, %v", n, err)
	}
}

// TestMigrationHashesClientSecrets: migration 9 replaces the pull-mode
// client secrets kept in clear by "sha256:" and their SHA-256, and leaves
// a secret already in that form alone (so it is never hashed twice).
func TestMigrationHashesClientSecrets(t *testing.T) {
	sqliteOnly(t)
	path := filepath.Join(t.TempDir(), "wharf.db")
	oldDatabase(t, path, 8)
	raw, err := sql.Open("sqlite", dsn(path, false, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	hashed := "sha256:" + strings.Repeat("ab", 32)
	for _, q := range []string{
		"INSERT INTO spaces (id, name, created_at) VALUES ('s', 'S', 1)",
		`INSERT INTO phraseanet_targets (id, name, space_id, mode, max_files, max_bytes, retention, client_id, client_secret, created_at)
		 VALUES ('t1', 'a', 's', 'pull', 1, 1, 0, 'c1', 'plain', 1), ('t2', 'b', 's', 'pull', 1, 1, 0, 'c2', '` + hashed + `', 1)`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sum := sha256.Sum256([]byte("plain"))
	for id, want := range map[string]string{"t1": "sha256:" + hex.EncodeToString(sum[:]), "t2": hashed} {
		tg, err := db.Target(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if tg.ClientSecretHash != want {
			t.Errorf("target %s: %q, want %q", id, tg.ClientSecretHash, want)
		}
	}
}
