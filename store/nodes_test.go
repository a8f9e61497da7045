package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// openNodesDB opens a fresh database file with one space "s" (and its root
// node) and one space "t".
func openNodesDB(t *testing.T) (*DB, Node) {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, testLocation(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var root Node
	err = db.Update(ctx, func(tx *Tx) error {
		now := time.Unix(1700000000, 0)
		for _, id := range []string{"s", "t"} {
			if err := tx.CreateSpace(ctx, Space{ID: id, Name: "Space " + id, CreatedAt: now}); err != nil {
				return err
			}
			r, err := tx.InsertNode(ctx, Node{SpaceID: id, IsDir: true, MTime: now, CTime: now, ETag: `"r"`})
			if err != nil {
				return err
			}
			if id == "s" {
				root = r
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return db, root
}

// mkTree inserts paths under space s; a trailing "/" makes a directory, a
// file's size is its path length.
func mkTree(t *testing.T, db *DB, space string, paths ...string) map[string]Node {
	t.Helper()
	ctx := context.Background()
	got := map[string]Node{}
	err := db.Update(ctx, func(tx *Tx) error {
		for _, p := range paths {
			dir := p[len(p)-1] == '/'
			if dir {
				p = p[:len(p)-1]
			}
			parent, name := "", p
			if i := lastSlash(p); i >= 0 {
				parent, name = p[:i], p[i+1:]
			}
			pn, err := tx.Node(ctx, space, parent)
			if err != nil {
				return err
			}
			n := Node{SpaceID: space, ParentID: pn.ID, Path: p, Name: name, IsDir: dir,
				MTime: time.Unix(1, 0), CTime: time.Unix(2, 0), ETag: fmt.Sprintf("%q", p)}
			if !dir {
				n.Size, n.SHA256, n.MIME = int64(len(p)), "abc", "text/plain"
			}
			if got[p], err = tx.InsertNode(ctx, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

func paths(ns []Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Path)
	}
	return out
}

func TestSpaceRows(t *testing.T) {
	ctx := context.Background()
	db, _ := openNodesDB(t)
	err := db.Update(ctx, func(tx *Tx) error {
		if err := tx.CreateSpace(ctx, Space{ID: "s", Name: "again"}); !errors.Is(err, ErrExists) {
			t.Errorf("CreateSpace(taken id) = %v, want ErrExists", err)
		}
		if err := tx.SetQuota(ctx, "s", 1000); err != nil {
			return err
		}
		if err := tx.AddUsed(ctx, "s", 300); err != nil {
			return err
		}
		if err := tx.AddUsed(ctx, "s", -100); err != nil {
			return err
		}
		if err := tx.AddUsed(ctx, "nope", 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("AddUsed(unknown) = %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := db.Space(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "Space s" || s.QuotaBytes != 1000 || s.UsedBytes != 200 || !s.CreatedAt.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("Space(s) = %+v", s)
	}
	all, err := db.Spaces(ctx)
	if err != nil || len(all) != 2 || all[0].ID != "s" || all[1].ID != "t" {
		t.Errorf("Spaces() = %v, %v", all, err)
	}
	mkTree(t, db, "s", "a/", "a/b", "c")
	if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteSpace(ctx, "s") }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Space(ctx, "s"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Space after delete: %v, want ErrNotFound", err)
	}
	if ns, err := db.Descendants(ctx, "s", ""); err != nil || len(ns) != 0 {
		t.Errorf("nodes left after DeleteSpace: %v, %v", paths(ns), err)
	}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteSpace(ctx, "s") }); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteSpace = %v, want ErrNotFound", err)
	}
}

func TestNodeQueries(t *testing.T) {
	ctx := context.Background()
	db, root := openNodesDB(t)
	// "a-b" and "a0" sort around "a/": they must stay out of a's subtree.
	ns := mkTree(t, db, "s", "a/", "a/z", "a/b/", "a/b/c", "a/b/d", "a-b", "a0", "a/é", "é/", "é/ü/", "é/ü/f", "é/g")

	n, err := db.Node(ctx, "s", "a/b/c")
	if err != nil || n.ID != ns["a/b/c"].ID || n.ParentID != ns["a/b"].ID || n.Size != 5 || n.IsDir ||
		n.ETag != `"a/b/c"` || !n.MTime.Equal(time.Unix(1, 0)) || !n.CTime.Equal(time.Unix(2, 0)) {
		t.Errorf("Node(a/b/c) = %+v, %v", n, err)
	}
	if _, err := db.Node(ctx, "t", "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Node in other space = %v, want ErrNotFound", err)
	}
	if byID, err := db.NodeByID(ctx, n.ID); err != nil || byID != n {
		t.Errorf("NodeByID = %+v, %v", byID, err)
	}
	kids, err := db.Children(ctx, ns["a"].ID)
	if want := []string{"a/b", "a/z", "a/é"}; err != nil || !slices.Equal(paths(kids), want) {
		t.Errorf("Children(a) = %v, %v; want %v", paths(kids), err, want)
	}
	kids, _ = db.Children(ctx, root.ID)
	if want := []string{"a", "a-b", "a0", "é"}; !slices.Equal(paths(kids), want) {
		t.Errorf("Children(root) = %v, want %v", paths(kids), want)
	}
	desc, _ := db.Descendants(ctx, "s", "a")
	if want := []string{"a/b", "a/b/c", "a/b/d", "a/z", "a/é"}; !slices.Equal(paths(desc), want) {
		t.Errorf("Descendants(a) = %v, want %v", paths(desc), want)
	}
	if b, err := db.SubtreeBytes(ctx, "s", "a"); err != nil || b != 5+5+3+4 {
		t.Errorf("SubtreeBytes(a) = %d, %v", b, err)
	}
	for _, tt := range []struct {
		path string
		want map[string]int64
	}{
		{"", map[string]int64{"a": 5 + 5 + 3 + 4, "é": 7 + 4}},
		{"a", map[string]int64{"b": 5 + 5}},
		{"a/b", nil},
		{"é", map[string]int64{"ü": 7}}, // positions count characters
	} {
		got, err := db.ChildDirBytes(ctx, "s", tt.path)
		if err != nil || len(got) != len(tt.want) {
			t.Errorf("ChildDirBytes(%q) = %v, %v; want %v", tt.path, got, err, tt.want)
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("ChildDirBytes(%q)[%q] = %d, want %d", tt.path, k, got[k], v)
			}
		}
	}
	if b, _ := db.SubtreeBytes(ctx, "s", "a-b"); b != 3 {
		t.Errorf("SubtreeBytes(file a-b) = %d, want 3", b)
	}
	if b, _ := db.FileBytes(ctx, "s"); b != 17+3+2+11 {
		t.Errorf("FileBytes = %d, want 33", b)
	}

	err = db.Update(ctx, func(tx *Tx) error {
		n.Size, n.ETag, n.SHA256, n.MIME, n.MTime = 99, `"x"`, "def", "image/png", time.Unix(5, 0).UTC()
		if err := tx.UpdateNode(ctx, n); err != nil {
			return err
		}
		if _, err := tx.InsertNode(ctx, Node{SpaceID: "s", ParentID: root.ID, Path: "a", Name: "a", ETag: `""`}); !errors.Is(err, ErrExists) {
			t.Errorf("InsertNode(taken path) = %v, want ErrExists", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Node(ctx, "s", "a/b/c"); got != n {
		t.Errorf("after UpdateNode: %+v, want %+v", got, n)
	}
}

func TestDeleteSubtree(t *testing.T) {
	ctx := context.Background()
	db, _ := openNodesDB(t)
	mkTree(t, db, "s", "a/", "a/b/", "a/b/c", "a/d", "a-b", "a0")
	var removed int64
	err := db.Update(ctx, func(tx *Tx) (err error) {
		removed, err = tx.DeleteSubtree(ctx, "s", "a")
		return err
	})
	if err != nil || removed != 5+3 {
		t.Fatalf("DeleteSubtree(a) = %d, %v; want 8", removed, err)
	}
	all, _ := db.Descendants(ctx, "s", "")
	if want := []string{"a-b", "a0"}; !slices.Equal(paths(all), want) {
		t.Errorf("left: %v, want %v", paths(all), want)
	}
	err = db.Update(ctx, func(tx *Tx) error { _, err := tx.DeleteSubtree(ctx, "s", "a"); return err })
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteSubtree(gone) = %v, want ErrNotFound", err)
	}
}

func TestDeleteDeepSubtree(t *testing.T) {
	ctx := context.Background()
	db, _ := openNodesDB(t)
	var ps []string
	p := ""
	for range 1050 { // deeper than SQLite's cascade limit
		p += "d/"
		ps = append(ps, p)
	}
	mkTree(t, db, "s", ps...)
	err := db.Update(ctx, func(tx *Tx) error { _, err := tx.DeleteSubtree(ctx, "s", "d"); return err })
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteSpace(ctx, "t") }); err != nil {
		t.Fatal(err)
	}
}

func TestMoveSubtree(t *testing.T) {
	ctx := context.Background()
	db, root := openNodesDB(t)
	ns := mkTree(t, db, "s", "a/", "a/b/", "a/b/c", "x/", "a-b")
	tests := []struct {
		name                        string
		src, dstSpace, dst, newName string
		parent                      int64
		want                        []string // all of s's paths after
		wantT                       []string // all of t's paths after
	}{
		{"rename within a space", "a", "s", "x/y", "y", ns["x"].ID,
			[]string{"a-b", "x", "x/y", "x/y/b", "x/y/b/c"}, nil},
		{"to another space", "x/y/b", "t", "q", "q", 0,
			[]string{"a-b", "x", "x/y"}, []string{"q", "q/c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := tc.parent
			if parent == 0 {
				r, _ := db.Node(ctx, tc.dstSpace, "")
				parent = r.ID
			}
			before, _ := db.Node(ctx, "s", tc.src)
			err := db.Update(ctx, func(tx *Tx) error {
				return tx.MoveSubtree(ctx, "s", tc.src, tc.dstSpace, tc.dst, parent, tc.newName)
			})
			if err != nil {
				t.Fatal(err)
			}
			after, err := db.Node(ctx, tc.dstSpace, tc.dst)
			if err != nil || after.ID != before.ID || after.ParentID != parent || after.Name != tc.newName {
				t.Errorf("moved node = %+v, %v (was id %d)", after, err, before.ID)
			}
			all, _ := db.Descendants(ctx, "s", "")
			if !slices.Equal(paths(all), tc.want) {
				t.Errorf("s = %v, want %v", paths(all), tc.want)
			}
			all, _ = db.Descendants(ctx, "t", "")
			if !slices.Equal(paths(all), tc.wantT) {
				t.Errorf("t = %v, want %v", paths(all), tc.wantT)
			}
		})
	}
	c, _ := db.Node(ctx, "t", "q/c")
	if c.ID != ns["a/b/c"].ID || c.ParentID != ns["a/b"].ID || c.SpaceID != "t" {
		t.Errorf("deep node after moves = %+v", c)
	}
	err := db.Update(ctx, func(tx *Tx) error {
		return tx.MoveSubtree(ctx, "s", "a-b", "s", "x", root.ID, "x")
	})
	if !errors.Is(err, ErrExists) {
		t.Errorf("move onto a taken path = %v, want ErrExists", err)
	}
}

func TestCopySubtree(t *testing.T) {
	ctx := context.Background()
	db, _ := openNodesDB(t)
	ns := mkTree(t, db, "s", "a/", "a/b/", "a/b/c", "a/d", "a-b")
	troot, _ := db.Node(ctx, "t", "")
	now := time.Unix(1800000000, 0)
	for _, tc := range []struct {
		name  string
		deep  bool
		dst   string
		wantT []string
	}{
		{"shallow", false, "one", []string{"one"}},
		{"deep", true, "two", []string{"one", "two", "two/b", "two/b/c", "two/d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var top Node
			err := db.Update(ctx, func(tx *Tx) (err error) {
				top, err = tx.CopySubtree(ctx, "s", "a", "t", tc.dst, troot.ID, tc.dst, tc.deep, now)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if top.ID == ns["a"].ID || top.Path != tc.dst || top.ParentID != troot.ID || !top.IsDir || !top.CTime.Equal(now) {
				t.Errorf("top = %+v", top)
			}
			all, _ := db.Descendants(ctx, "t", "")
			if !slices.Equal(paths(all), tc.wantT) {
				t.Errorf("t = %v, want %v", paths(all), tc.wantT)
			}
		})
	}
	c, _ := db.Node(ctx, "t", "two/b/c")
	b, _ := db.Node(ctx, "t", "two/b")
	two, _ := db.Node(ctx, "t", "two")
	if c.ID == ns["a/b/c"].ID || c.ParentID != b.ID || b.ParentID != two.ID || c.Size != 5 || c.ETag != `"a/b/c"` || c.SHA256 != "abc" {
		t.Errorf("copied c = %+v (b %d, two %d)", c, b.ID, two.ID)
	}
	if src, _ := db.Descendants(ctx, "s", ""); len(src) != 5 {
		t.Errorf("source changed: %v", paths(src))
	}
	err := db.Update(ctx, func(tx *Tx) error {
		_, err := tx.CopySubtree(ctx, "s", "nope", "t", "z", troot.ID, "z", true, now)
		return err
	})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("copy of a missing node = %v, want ErrNotFound", err)
	}
}

func TestChildrenBatches(t *testing.T) {
	ctx := context.Background()
	db, root := openNodesDB(t)
	mkTree(t, db, "s", "e", "d/", "c", "b", "a", "d/x")
	var got [][]string
	err := db.ChildrenBatches(ctx, root.ID, 2, func(b []Node) error {
		got = append(got, paths(b))
		return nil
	})
	if want := [][]string{{"a", "b"}, {"c", "d"}, {"e"}}; err != nil || !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("ChildrenBatches = %v, %v; want %v", got, err, want)
	}
	stop := errors.New("stop")
	calls := 0
	err = db.ChildrenBatches(ctx, root.ID, 2, func([]Node) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("ChildrenBatches after fn's error: %v after %d calls, want stop after 1", err, calls)
	}
}

func TestSpacePolicy(t *testing.T) {
	ctx := context.Background()
	db, _ := openNodesDB(t)
	if p, err := db.SpacePolicy(ctx, "s"); err != nil || p != "" {
		t.Errorf("SpacePolicy(new space) = %q, %v; want none", p, err)
	}
	err := db.Update(ctx, func(tx *Tx) error {
		if err := tx.SetSpacePolicy(ctx, "nope", "{}"); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetSpacePolicy(unknown) = %v, want ErrNotFound", err)
		}
		return tx.SetSpacePolicy(ctx, "s", `{"maxSize":5}`)
	})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := db.SpacePolicy(ctx, "s"); err != nil || p != `{"maxSize":5}` {
		t.Errorf("SpacePolicy = %q, %v", p, err)
	}
	if _, err := db.SpacePolicy(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SpacePolicy(unknown) = %v, want ErrNotFound", err)
	}
}

// TestSpaceGeneration: every kind of node change moves the generation of
// the spaces it touches, and reads do not.
func TestSpaceGeneration(t *testing.T) {
	ctx := context.Background()
	db, _ := openNodesDB(t)
	ns := mkTree(t, db, "s", "a/", "a/f", "b/")
	gen := func() int64 {
		t.Helper()
		g, err := db.SpaceGeneration(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	changes := []struct {
		name string
		fn   func(tx *Tx) error
	}{
		{"update", func(tx *Tx) error { n := ns["a/f"]; n.Size = 99; return tx.UpdateNode(ctx, n) }},
		{"move", func(tx *Tx) error { return tx.MoveSubtree(ctx, "s", "a/f", "s", "b/f", ns["b"].ID, "f") }},
		{"copy", func(tx *Tx) error {
			_, err := tx.CopySubtree(ctx, "s", "b/f", "s", "a/g", ns["a"].ID, "g", false, time.Unix(3, 0))
			return err
		}},
		{"delete", func(tx *Tx) error { _, err := tx.DeleteSubtree(ctx, "s", "a"); return err }},
	}
	for _, c := range changes {
		before := gen()
		if err := db.Update(ctx, c.fn); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if gen() <= before {
			t.Errorf("%s did not move the generation (%d)", c.name, before)
		}
	}
	before := gen()
	db.Children(ctx, ns["b"].ID)
	if gen() != before {
		t.Error("a read moved the generation")
	}
	if _, err := db.SpaceGeneration(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SpaceGeneration(unknown) = %v, want ErrNotFound", err)
	}
}
