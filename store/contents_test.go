package store

import (
	"context"
	"testing"
	"time"
)

// TestContents: what is known of content goes with the nodes holding it:
// recorded only for content some node holds, kept while one does, gone
// with the last (overwritten or deleted); FilesWithoutMeta finds the files
// of the given types whose content has no metadata, once per content.
func TestContents(t *testing.T) {
	ctx := context.Background()
	db, _ := openNodesDB(t)
	ns := mkTree(t, db, "s", "a.jpg", "b.jpg", "c.txt") // all with SHA-256 "abc"
	at := time.Unix(1700000000, 0).UTC()
	update := func(fn func(tx *Tx) error) {
		t.Helper()
		if err := db.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	update(func(tx *Tx) error {
		for _, n := range []Node{ns["a.jpg"], ns["b.jpg"]} {
			n.MIME = "image/jpeg"
			if err := tx.UpdateNode(ctx, n); err != nil {
				return err
			}
		}
		return nil
	})
	got, err := db.FilesWithoutMeta(ctx, []string{"image/jpeg"}, 10)
	if err != nil || len(got) != 1 || got[0].ID != ns["a.jpg"].ID {
		t.Errorf("FilesWithoutMeta = %v, %v; want a.jpg alone (one per content)", paths(got), err)
	}
	update(func(tx *Tx) error {
		if err := tx.MarkScanned(ctx, "abc", at); err != nil {
			return err
		}
		if err := tx.PutMeta(ctx, "abc", `{"width":1}`); err != nil {
			return err
		}
		// Content no node holds is not recorded.
		return tx.MarkScanned(ctx, "nobody", at)
	})
	c, err := db.Content(ctx, "abc")
	if err != nil || !c.Scanned() || !c.ScannedAt.Equal(at) || c.Meta != `{"width":1}` {
		t.Errorf("Content(abc) = %+v, %v", c, err)
	}
	if c, _ := db.Content(ctx, "nobody"); c.Scanned() || c.SHA256 != "nobody" {
		t.Errorf("Content(nobody) = %+v, want nothing known", c)
	}
	if got, _ := db.FilesWithoutMeta(ctx, []string{"image/jpeg"}, 10); len(got) != 0 {
		t.Errorf("FilesWithoutMeta after PutMeta = %v", paths(got))
	}

	// Overwrite one holder, delete another: still held by the third.
	update(func(tx *Tx) error {
		n := ns["a.jpg"]
		n.SHA256 = "def"
		if err := tx.UpdateNode(ctx, n); err != nil {
			return err
		}
		_, err := tx.DeleteSubtree(ctx, "s", "b.jpg")
		return err
	})
	if c, _ := db.Content(ctx, "abc"); !c.Scanned() {
		t.Errorf("content still held by c.txt forgotten: %+v", c)
	}
	update(func(tx *Tx) error {
		_, err := tx.DeleteSubtree(ctx, "s", "c.txt")
		return err
	})
	if m, err := db.Contents(ctx, []string{"abc", "def", ""}); err != nil || len(m) != 0 {
		t.Errorf("Contents after the last holder went = %v, %v; want none", m, err)
	}
}
