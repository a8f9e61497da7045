package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

func setProps(t *testing.T, db *DB, id int64, changes ...PropChange) {
	t.Helper()
	err := db.Update(context.Background(), func(tx *Tx) error { return tx.PatchProps(context.Background(), id, changes) })
	if err != nil {
		t.Fatal(err)
	}
}

func set(ns, name, xml string) PropChange {
	return PropChange{Prop: Prop{NS: ns, Name: name, XML: xml}}
}
func remove(ns, name string) PropChange {
	return PropChange{Prop: Prop{NS: ns, Name: name}, Remove: true}
}

// propCount counts every props row, to see what deletes leave behind.
func propCount(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.r.QueryRow("SELECT COUNT(*) FROM props").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPatchProps(t *testing.T) {
	ctx := context.Background()
	db, _ := openNodesDB(t)
	ns := mkTree(t, db, "s", "a")
	id := ns["a"].ID

	setProps(t, db, id,
		set("urn:x", "b", "one"),
		PropChange{Prop: Prop{NS: "", Name: "nonamespace", Lang: "fr", XML: `<v xmlns="urn:y">é &amp; 𐀀</v>`}},
		remove("urn:x", "b"), set("urn:x", "b", "two"), // document order: the last one wins
		remove("urn:x", "absent"),
	)
	got, err := db.Props(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := []Prop{
		{NS: "", Name: "nonamespace", Lang: "fr", XML: `<v xmlns="urn:y">é &amp; 𐀀</v>`},
		{NS: "urn:x", Name: "b", XML: "two"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("props = %+v\nwant %+v", got, want)
	}
	if n, size, err := db.PropUsage(ctx, id); err != nil || n != 2 || size != int64(len(want[0].XML)+len("nonamespace")+len("two")+len("b")+len("urn:x")) {
		t.Errorf("usage = %d, %d, %v", n, size, err)
	}

	// A failing transaction applies nothing.
	boom := errors.New("boom")
	err = db.Update(ctx, func(tx *Tx) error {
		if err := tx.PatchProps(ctx, id, []PropChange{remove("urn:x", "b"), set("urn:x", "c", "3")}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if got, _ := db.Props(ctx, id); !reflect.DeepEqual(got, want) {
		t.Errorf("after a rolled back patch: %+v", got)
	}

	err = db.Update(ctx, func(tx *Tx) error { return tx.PatchProps(ctx, 999999, []PropChange{set("urn:x", "b", "")}) })
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("patch of a missing node = %v, want ErrNotFound", err)
	}
}

func TestListingAndSubtreeProps(t *testing.T) {
	ctx := context.Background()
	db, root := openNodesDB(t)
	ns := mkTree(t, db, "s", "d/", "d/f", "d/g", "d/sub/", "d/sub/deep", "other")
	for _, p := range []string{"d", "d/g", "d/sub", "d/sub/deep", "other"} {
		setProps(t, db, ns[p].ID, set("urn:x", "p", p))
	}
	setProps(t, db, root.ID, set("urn:x", "p", "root"))

	got, err := db.ListingProps(ctx, ns["d"].ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64][]Prop{
		ns["d"].ID:     {{NS: "urn:x", Name: "p", XML: "d"}},
		ns["d/g"].ID:   {{NS: "urn:x", Name: "p", XML: "d/g"}},
		ns["d/sub"].ID: {{NS: "urn:x", Name: "p", XML: "d/sub"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("listing props = %+v\nwant %+v", got, want)
	}

	got, err = db.SubtreeProps(ctx, "s", "d")
	if err != nil {
		t.Fatal(err)
	}
	want[ns["d/sub/deep"].ID] = []Prop{{NS: "urn:x", Name: "p", XML: "d/sub/deep"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("subtree props = %+v\nwant %+v", got, want)
	}
	if got, _ := db.SubtreeProps(ctx, "s", ""); len(got) != 6 {
		t.Errorf("props of the whole space: %d nodes, want 6", len(got))
	}
}

// Dead properties go with their node: kept by a move, copied by a copy,
// removed with the node.
func TestPropsFollowNodes(t *testing.T) {
	ctx := context.Background()
	db, _ := openNodesDB(t)
	ns := mkTree(t, db, "s", "a/", "a/b/", "a/b/c", "a/d")
	troot, _ := db.Node(ctx, "t", "")
	for _, p := range []string{"a", "a/b/c"} {
		setProps(t, db, ns[p].ID, set("urn:x", "p", p), set("", "q", "<i>"+p+"</i>"))
	}
	now := time.Unix(1800000000, 0)

	copyTo := func(dst string, deep bool) Node {
		t.Helper()
		var top Node
		err := db.Update(ctx, func(tx *Tx) (err error) {
			top, err = tx.CopySubtree(ctx, "s", "a", "t", dst, troot.ID, dst, deep, now)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return top
	}
	shallow := copyTo("shallow", false)
	if got, _ := db.Props(ctx, shallow.ID); len(got) != 2 || got[1].XML != "a" {
		t.Errorf("props of a shallow copy: %+v", got)
	}
	deep := copyTo("deep", true)
	c, _ := db.Node(ctx, "t", "deep/b/c")
	if got, _ := db.Props(ctx, c.ID); len(got) != 2 || got[0].XML != "<i>a/b/c</i>" || got[1].XML != "a/b/c" {
		t.Errorf("props of a deep copy's descendant: %+v", got)
	}
	if got, _ := db.Props(ctx, deep.ID); len(got) != 2 {
		t.Errorf("props of a deep copy's top: %+v", got)
	}
	if got, _ := db.Props(ctx, ns["a/b/c"].ID); len(got) != 2 {
		t.Errorf("the source lost its props: %+v", got)
	}
	if n := propCount(t, db); n != 10 {
		t.Errorf("%d props rows after the copies, want 10", n)
	}

	err := db.Update(ctx, func(tx *Tx) error { return tx.MoveSubtree(ctx, "s", "a", "s", "z", ns["a"].ParentID, "z") })
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Props(ctx, ns["a/b/c"].ID); len(got) != 2 {
		t.Errorf("props after a move: %+v", got)
	}

	// DeleteSubtree unlinks parent_id first: the props must still cascade.
	err = db.Update(ctx, func(tx *Tx) error {
		_, err := tx.DeleteSubtree(ctx, "s", "z")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := propCount(t, db); n != 6 {
		t.Errorf("%d props rows after deleting the source, want 6", n)
	}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteSpace(ctx, "t") }); err != nil {
		t.Fatal(err)
	}
	if n := propCount(t, db); n != 0 {
		t.Errorf("%d props rows after deleting the space, want 0", n)
	}
}
