//go:build unix

package store

import (
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// withUmask sets the process umask for the test. The umask is process
// wide: tests that call it must not be parallel.
func withUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

func wantMode(t *testing.T, name string) {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	if got := fi.Mode().Perm(); got != FileMode {
		t.Errorf("%s has mode %v, want %v", filepath.Base(name), got, FileMode)
	}
}

// TestDatabaseFilesOwnerOnly: in a data directory that is 0755, under a
// umask of 022, the database, its -wal and -shm and the copies Open and
// Snapshot write are 0600.
func TestDatabaseFilesOwnerOnly(t *testing.T) {
	sqliteOnly(t)
	withUmask(t, 0o022)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "wharf.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(t.Context(), func(tx *Tx) error { return tx.PutSetting(t.Context(), "k", []byte("v")) })
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		wantMode(t, name)
	}
	snap := filepath.Join(dir, "copy.db")
	if err := db.Snapshot(t.Context(), snap); err != nil {
		t.Fatal(err)
	}
	wantMode(t, snap)
	if err := db.Snapshot(t.Context(), snap); !errors.Is(err, fs.ErrExist) {
		t.Errorf("a second snapshot to the same file: %v, want ErrExist", err)
	}
	wantMode(t, snap) // and still there
}

// TestOpenNarrowsLooseFiles: the files an older Wharf left 0644 (the
// database, its -wal and -shm, a pre-upgrade copy) are 0600 once Open has
// run, and the copy of this upgrade is 0600 too.
func TestOpenNarrowsLooseFiles(t *testing.T) {
	sqliteOnly(t)
	withUmask(t, 0o022)
	ms, err := migrationFiles(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "wharf.db")
	oldDatabase(t, path, len(ms)-1)
	older := filepath.Join(dir, BackupDir, "wharf.db.schema-1.20200101T000000.000000000Z.bak")
	if err := os.MkdirAll(filepath.Dir(older), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(older, []byte("old copy"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Another connection holds the database open, so its -wal and -shm
	// (0644, as SQLite makes them under umask 022) exist when Open runs.
	raw, err := sql.Open("sqlite", dsn(path, false, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec("INSERT INTO settings (key, value) VALUES ('other', x'00')"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(name); err != nil || fi.Mode().Perm() != 0o644 {
			t.Fatalf("before Open: %s: %v, %v; want 0644 (the test's premise)", name, fi.Mode(), err)
		}
	}
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	up := db.Upgraded()
	if up.Backup == "" {
		t.Fatalf("Upgraded() = %+v, want a pre-upgrade copy", up)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm", older, up.Backup} {
		wantMode(t, name)
	}
}
