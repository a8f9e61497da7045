package store

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"path/filepath"
	"testing"
	"time"
)

// TestUploaders: a file's uploader is what its install recorded; a new
// upload replaces it (an unknown one clears it), a move keeps it, a copy
// carries it, and it goes with its file and with its user, so that a user
// who later gets the same id does not inherit it.
func TestUploaders(t *testing.T) {
	ctx := context.Background()
	db, _ := openNodesDB(t)
	us := createUsers(t, db, "root", "ann", "ben")
	ann, ben := us[1].ID, us[2].ID
	nodes := mkTree(t, db, "s", "d/", "d/a", "d/b", "c")
	a, b, c := nodes["d/a"].ID, nodes["d/b"].ID, nodes["c"].ID
	uploaders := func(ids ...int64) map[int64]int64 {
		t.Helper()
		got, err := db.Uploaders(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	set := func(node, user int64) {
		t.Helper()
		mustUpdate(t, db, func(tx *Tx) error { return tx.SetUploader(ctx, node, user) })
	}
	set(a, ann)
	set(b, ben)
	if got, want := uploaders(a, b, c), map[int64]int64{a: ann, b: ben}; !maps.Equal(got, want) {
		t.Fatalf("uploaders %v, want %v (c.jpg has none)", got, want)
	}
	// A new upload over a: its uploader replaces the old one; an upload
	// by nobody known (no user, or a user gone since) leaves none.
	set(a, ben)
	if got := uploaders(a); got[a] != ben {
		t.Errorf("after ben's upload over a: %v", got)
	}
	for _, u := range []int64{0, 9999} {
		set(a, ann)
		set(a, u)
		if got := uploaders(a); len(got) != 0 {
			t.Errorf("after an upload by user %d over a: %v, want no uploader", u, got)
		}
	}
	set(a, ann)
	err := db.Update(ctx, func(tx *Tx) error { return tx.SetUploader(ctx, 123456, ann) })
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("uploader of a missing node: %v, want ErrNotFound", err)
	}

	// A move keeps the ids, and so the uploaders; a copy carries them.
	mustUpdate(t, db, func(tx *Tx) error {
		root, err := tx.Node(ctx, "s", "")
		if err != nil {
			return err
		}
		if err := tx.MoveSubtree(ctx, "s", "d", "s", "e", root.ID, "e"); err != nil {
			return err
		}
		if _, err := tx.CopySubtree(ctx, "s", "e", "s", "f", root.ID, "f", true, time.Unix(3, 0)); err != nil {
			return err
		}
		_, err = tx.CopySubtree(ctx, "s", "e/a", "s", "g", root.ID, "g", false, time.Unix(3, 0))
		return err
	})
	copied := map[string]int64{}
	for _, p := range []string{"f/a", "f/b", "g"} {
		n, err := db.Node(ctx, "s", p)
		if err != nil {
			t.Fatal(err)
		}
		copied[p] = n.ID
	}
	if got, want := uploaders(a, b, copied["f/a"], copied["f/b"], copied["g"]),
		map[int64]int64{a: ann, b: ben, copied["f/a"]: ann, copied["f/b"]: ben, copied["g"]: ann}; !maps.Equal(got, want) {
		t.Errorf("after the move and the copies: %v, want %v", got, want)
	}
	// What a trash item keeps of a subtree, and of one file.
	if got, err := db.SubtreeUploaders(ctx, "s", "e"); err != nil || !maps.Equal(got, map[int64]int64{a: ann, b: ben}) {
		t.Errorf("SubtreeUploaders(e): %v, %v", got, err)
	}
	if got, err := db.SubtreeUploaders(ctx, "s", "e/b"); err != nil || !maps.Equal(got, map[int64]int64{b: ben}) {
		t.Errorf("SubtreeUploaders(e/b): %v, %v", got, err)
	}

	// Ben's account goes, and his files' uploader with it; a user made
	// afterwards (SQLite may give him ben's id) inherits nothing.
	mustUpdate(t, db, func(tx *Tx) error { return tx.DeleteUser(ctx, ben) })
	createUsers(t, db, "cid")
	if got, want := uploaders(a, b, copied["f/b"]), map[int64]int64{a: ann}; !maps.Equal(got, want) {
		t.Errorf("after ben's removal: %v, want %v", got, want)
	}
	// A deleted file's row goes with it.
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.DeleteSubtree(ctx, "s", "e"); return err })
	if got := uploaders(a, b); len(got) != 0 {
		t.Errorf("uploaders of the deleted files: %v", got)
	}
}

// TestMigrationRecordsKnownUploaders: migration 20 gives each file the
// uploader of its latest finished tus upload, as the scheduler found it
// before; uploads of files since deleted are ignored.
func TestMigrationRecordsKnownUploaders(t *testing.T) {
	sqliteOnly(t)
	path := filepath.Join(t.TempDir(), "wharf.db")
	oldDatabase(t, path, 19)
	raw, err := sql.Open("sqlite", dsn(path, false, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"INSERT INTO users (id, name, password_hash, created_at) VALUES (1, 'ann', 'h', 1), (2, 'ben', 'h', 1)",
		"INSERT INTO spaces (id, name, created_at) VALUES ('s', 'S', 1)",
		`INSERT INTO nodes (id, space_id, path, name, is_dir, mtime, ctime, etag) VALUES
		 (10, 's', 'a', 'a', 0, 1, 1, 'e'), (11, 's', 'b', 'b', 0, 1, 1, 'e'), (12, 's', 'c', 'c', 0, 1, 1, 'e')`,
		// a: ann, then ben; b: ben, then a rejected try by ann; c: none;
		// node 13 is gone.
		`INSERT INTO uploads (id, user_id, size, state, node_id, created_at, updated_at, expires_at) VALUES
		 ('u1', 1, 1, 'done', 10, 1, 5, 9), ('u2', 2, 1, 'done', 10, 1, 7, 9),
		 ('u3', 2, 1, 'done', 11, 1, 5, 9), ('u4', 1, 1, 'rejected', 11, 1, 8, 9),
		 ('u5', 1, 1, 'done', 13, 1, 5, 9)`,
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
	got, err := db.Uploaders(t.Context(), []int64{10, 11, 12, 13})
	if want := map[int64]int64{10: 2, 11: 2}; err != nil || !maps.Equal(got, want) {
		t.Errorf("uploaders after the migration: %v, %v; want %v", got, err, want)
	}
}
