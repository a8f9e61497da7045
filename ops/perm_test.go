//go:build unix

package ops

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wharfhq/wharf/internal/testenv"
	"github.com/wharfhq/wharf/store"
)

// TestBackupDatabaseOwnerOnly: under a umask of 022, into directories
// that are 0755, the database copies a backup and a restore write are
// 0600 (they hold the URL signing key and the targets' keys). The umask
// is process wide: this test must not be parallel.
func TestBackupDatabaseOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	e := testenv.New(t, testenv.Options{})
	if e.DB.Postgres() {
		// Nothing to copy with VACUUM INTO: Backup says what to do instead,
		// and writes nothing.
		dst := filepath.Join(t.TempDir(), "b")
		_, err := Backup(t.Context(), Config{Dir: e.Dir, DB: e.DB, Tree: e.Tree}, dst, BackupOptions{})
		if err == nil || !strings.Contains(err.Error(), "pg_dump") {
			t.Fatalf("Backup with the metadata in PostgreSQL: %v, want an error naming pg_dump", err)
		}
		if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Backup made %s: %v", dst, err)
		}
		return
	}
	if err := os.Chmod(e.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := os.Chmod(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Backup(t.Context(), Config{Dir: e.Dir, DB: e.DB, Tree: e.Tree}, dst, BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if _, err := Restore(t.Context(), dst, restored, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{filepath.Join(e.Dir, "wharf.db"), filepath.Join(dst, "wharf.db"), filepath.Join(restored, "wharf.db")} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != store.FileMode {
			t.Errorf("%s has mode %v, want %v", name, fi.Mode().Perm(), store.FileMode)
		}
	}
}
