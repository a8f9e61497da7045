package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRetained: trash items and versions, their sums, the oldest-first
// order that quota pressure purges in, versions following their trash
// item, and the retention defaults.
func TestRetained(t *testing.T) {
	db, root := openNodesDB(t)
	ctx := context.Background()
	t0 := time.Unix(1700000000, 0).UTC()
	if r, err := db.SpaceRetention(ctx, "s"); err != nil || r != DefaultRetention {
		t.Fatalf("a new space's retention = %+v, %v; want %+v", r, err, DefaultRetention)
	}
	var f Node
	err := db.Update(ctx, func(tx *Tx) error {
		var err error
		f, err = tx.InsertNode(ctx, Node{SpaceID: "s", ParentID: root.ID, Path: "f", Name: "f", Size: 5, MTime: t0, CTime: t0, ETag: `"f"`, SHA256: "aa"})
		if err != nil {
			return err
		}
		for i, id := range []string{"1-a", "1-b"} {
			if err := tx.InsertVersion(ctx, Version{ID: id, SpaceID: "s", NodeID: f.ID, Size: 3, MTime: t0, SHA256: "bb",
				CreatedAt: t0.Add(time.Duration(i+1) * time.Hour)}); err != nil {
				return err
			}
		}
		if err := tx.InsertTrash(ctx, TrashItem{ID: "9-x", SpaceID: "s", NodeID: 9, Path: "gone", Size: 7, Files: 1,
			DeletedBy: "alice", DeletedAt: t0.Add(90 * time.Minute), Nodes: "[]"}); err != nil {
			return err
		}
		return tx.SetSpaceRetention(ctx, "s", Retention{TrashDays: 1, KeepVersions: 2, VersionDays: 0})
	})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := db.SpaceRetention(ctx, "s"); r != (Retention{TrashDays: 1, KeepVersions: 2}) {
		t.Errorf("retention = %+v", r)
	}
	if r, err := db.SpaceRetained(ctx, "s"); err != nil || r != (Retained{TrashBytes: 7, VersionBytes: 6, TrashItems: 1, Versions: 2}) {
		t.Errorf("retained = %+v, %v", r, err)
	}
	es, err := db.OldestRetained(ctx, "s", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range es {
		order = append(order, e.ID)
	}
	if len(order) != 3 || order[0] != "1-a" || order[1] != "9-x" || order[2] != "1-b" {
		t.Errorf("oldest first = %v, want [1-a 9-x 1-b]", order)
	}
	if vs, _ := db.Versions(ctx, f.ID); len(vs) != 2 || vs[0].ID != "1-b" {
		t.Errorf("versions newest first = %+v", vs)
	}

	// The file goes to the trash: its versions go with it, and with the
	// item when it is purged.
	err = db.Update(ctx, func(tx *Tx) error {
		if err := tx.InsertTrash(ctx, TrashItem{ID: "f-t", SpaceID: "s", NodeID: f.ID, Path: "f", Size: 5, DeletedAt: t0, Nodes: "[]"}); err != nil {
			return err
		}
		if err := tx.TrashVersions(ctx, "s", "f", "f-t"); err != nil {
			return err
		}
		_, err := tx.DeleteSubtree(ctx, "s", "f")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if ids, _ := db.StrayVersions(ctx, "s"); len(ids) != 0 {
		t.Errorf("versions of a trashed file are stray: %v", ids)
	}
	es, _ = db.OldestRetained(ctx, "s", time.Time{}, time.Time{})
	if len(es) != 2 || es[0].ID != "f-t" || es[0].Size != 11 {
		t.Errorf("after trashing f: %+v, want f-t first with its versions' 6 bytes", es)
	}
	var gone []string
	err = db.Update(ctx, func(tx *Tx) error {
		var err error
		gone, err = tx.DeleteTrash(ctx, "s", "f-t")
		return err
	})
	if err != nil || len(gone) != 2 {
		t.Fatalf("purging f-t: %v, %v; want its two versions", gone, err)
	}
	if _, err := db.TrashItem(ctx, "s", "f-t"); !errors.Is(err, ErrNotFound) {
		t.Errorf("purged item: %v", err)
	}
	err = db.Update(ctx, func(tx *Tx) error { return tx.SetTrashRestoring(ctx, "s", "nope", "x") })
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("marking an unknown item: %v", err)
	}
}
