package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestIntegrityCheckAfterWrites: the integrity check of a database whose
// search index was read, then written through the writer, finds nothing
// wrong (FTS5 would compare against a stale index structure otherwise).
func TestIntegrityCheckAfterWrites(t *testing.T) {
	db := searchFixture(t)
	ctx := context.Background()
	if onPostgres() {
		// PostgreSQL checks its own pages; Wharf says so rather than
		// pretending to have checked.
		if _, err := db.IntegrityCheck(ctx); !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "pg_amcheck") {
			t.Fatalf("IntegrityCheck on PostgreSQL: %v, want ErrUnsupported naming pg_amcheck", err)
		}
		if err := db.Snapshot(ctx, filepath.Join(t.TempDir(), "copy.db")); !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "pg_dump") {
			t.Fatalf("Snapshot on PostgreSQL: %v, want ErrUnsupported naming pg_dump", err)
		}
		return
	}
	for i, write := range []func(tx *Tx) error{
		func(tx *Tx) error { _, err := tx.DeleteSubtree(ctx, "a", "Docs/notes.txt"); return err },
		func(tx *Tx) error { _, err := tx.DeleteSubtree(ctx, "b", "Docs"); return err },
	} {
		if _, err := db.Search(ctx, SearchQuery{Text: "notes", Spaces: []string{"a", "b"}, MinSize: -1, MaxSize: -1}); err != nil {
			t.Fatal(err)
		}
		if bad, err := db.IntegrityCheck(ctx); err != nil || len(bad) != 0 {
			t.Fatalf("before write %d: %q, %v", i, bad, err)
		}
		if err := db.Update(ctx, write); err != nil {
			t.Fatal(err)
		}
		if bad, err := db.IntegrityCheck(ctx); err != nil || len(bad) != 0 {
			t.Errorf("after write %d: %q, %v", i, bad, err)
		}
	}
}
