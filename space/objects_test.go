package space

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/internal/teststores"
	"github.com/wharfhq/wharf/store"
)

// newObjectFixture is newFixture in object-store mode, on bs.
func newObjectFixture(t *testing.T, bs blob.Store) *fixture {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), filepath.Join(dir, "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tree, err := New(Config{DB: db, Dir: dir, Blobs: bs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tree.Close() })
	return &fixture{tree: tree, db: db, dir: dir}
}

// checkObjects fails unless the store holds exactly the objects the rows
// name, and no orphan is left recorded.
func checkObjects(t *testing.T, f *fixture, bs blob.Store) {
	t.Helper()
	ctx := context.Background()
	var stored []string
	if err := bs.List(ctx, "c/", func(i blob.Info) error { stored = append(stored, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	var named []string
	spaces, err := f.db.Spaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range spaces {
		keys, err := f.db.SpaceBlobs(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		named = append(named, keys...)
		items, err := f.db.TrashItems(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			full, err := f.db.TrashItem(ctx, s.ID, it.ID)
			if err != nil {
				t.Fatal(err)
			}
			var man []manifestNode
			if err := json.Unmarshal([]byte(full.Nodes), &man); err != nil {
				t.Fatal(err)
			}
			for _, m := range man {
				if m.Blob != "" {
					named = append(named, m.Blob)
				}
			}
		}
	}
	slices.Sort(stored)
	slices.Sort(named)
	if !slices.Equal(stored, named) {
		t.Fatalf("objects stored %v\nobjects named  %v", stored, named)
	}
	if orphans, err := f.db.BlobOrphans(ctx, time.Now().Add(time.Hour), "", 100); err != nil || len(orphans) != 0 {
		t.Fatalf("orphans left recorded: %v %v", orphans, err)
	}
}

func TestObjectMode(t *testing.T) {
	for name, open := range teststores.Stores() {
		t.Run(name, func(t *testing.T) {
			bs := open(t)
			f := newObjectFixture(t, bs)
			ctx := context.Background()
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			want := func(space, p, content string) {
				t.Helper()
				got, err := f.read(space, p)
				if err != nil || got != content {
					t.Fatalf("%s/%s: %q, %v; want %q", space, p, got, err, content)
				}
			}
			f.space(t, "a", 0)
			f.space(t, "b", 0)

			// Writes: the content is an object; nothing at its path.
			n1 := f.put(t, "a", "x.txt", "one")
			if n1.Blob == "" || !strings.HasPrefix(n1.Blob, "c/a/") {
				t.Fatalf("blob key %q", n1.Blob)
			}
			if _, err := os.Stat(filepath.Join(f.dir, "spaces", "a", "x.txt")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a file at the path in object-store mode: %v", err)
			}
			want("a", "x.txt", "one")
			if es, _ := os.ReadDir(filepath.Join(f.dir, "uploads")); len(es) != 0 {
				t.Fatalf("staging left: %v", es)
			}
			checkObjects(t, f, bs)

			// Overwrite: the old object is the version's.
			n2 := f.put(t, "a", "x.txt", "two")
			if n2.Blob == n1.Blob {
				t.Fatal("an overwrite reused the key")
			}
			want("a", "x.txt", "two")
			vs, err := f.tree.Versions(ctx, "a", "x.txt")
			if err != nil || len(vs) != 1 || vs[0].Blob != n1.Blob {
				t.Fatalf("versions %+v, %v", vs, err)
			}
			vf, _, err := f.tree.OpenVersion(ctx, "a", "x.txt", vs[0].ID)
			must(err)
			b, _ := io.ReadAll(vf)
			vf.Close()
			if string(b) != "one" {
				t.Fatalf("version reads %q", b)
			}
			// Ranges: a seek and a read in the middle.
			rf, _, err := f.tree.Open(ctx, "a", "x.txt")
			must(err)
			if _, err := rf.Seek(1, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			b, _ = io.ReadAll(rf)
			rf.Close()
			if string(b) != "wo" {
				t.Fatalf("ranged read %q", b)
			}
			_, err = f.tree.RestoreVersion(ctx, "a", "x.txt", vs[0].ID)
			must(err)
			want("a", "x.txt", "one")
			checkObjects(t, f, bs)

			// The same bytes again make no version; the replaced object goes.
			f.put(t, "a", "x.txt", "one")
			if vs2, _ := f.tree.Versions(ctx, "a", "x.txt"); len(vs2) != 1 {
				t.Fatalf("versions after the same bytes: %d", len(vs2))
			}
			checkObjects(t, f, bs)

			// Moves change rows only, across spaces too.
			f.mkdir(t, "a", "d")
			ny := f.put(t, "a", "d/y.txt", "yy")
			_, err = f.tree.Move(ctx, "a", "d", "b", "e", false)
			must(err)
			want("b", "e/y.txt", "yy")
			if n, _ := f.tree.Stat(ctx, "b", "e/y.txt"); n.Blob != ny.Blob {
				t.Fatalf("a move changed the key: %q, %q", n.Blob, ny.Blob)
			}
			checkObjects(t, f, bs)

			// Copies get objects of their own.
			_, err = f.tree.Copy(ctx, "b", "e", "a", "c", false, -1)
			must(err)
			want("a", "c/y.txt", "yy")
			if n, _ := f.tree.Stat(ctx, "a", "c/y.txt"); n.Blob == ny.Blob || n.Blob == "" {
				t.Fatalf("a copy shares or lacks its key: %q", n.Blob)
			}
			_, err = f.tree.Copy(ctx, "a", "x.txt", "a", "c/y.txt", true, 0)
			must(err)
			want("a", "c/y.txt", "one")
			checkObjects(t, f, bs)
			_, err = f.tree.Move(ctx, "a", "x.txt", "a", "c/y.txt", true)
			must(err)
			want("a", "c/y.txt", "one")
			checkObjects(t, f, bs)

			// Trash: delete, restore, delete, purge.
			must(f.tree.Delete(ctx, "a", "c"))
			if _, err := f.read("a", "c/y.txt"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("read after delete: %v", err)
			}
			items, err := f.tree.Trash(ctx, "a")
			if err != nil || len(items) != 1 {
				t.Fatalf("trash %+v, %v", items, err)
			}
			checkObjects(t, f, bs)
			_, err = f.tree.Restore(ctx, "a", items[0].ID, "")
			must(err)
			want("a", "c/y.txt", "one")
			must(f.tree.Delete(ctx, "a", "c"))
			items, _ = f.tree.Trash(ctx, "a")
			_, err = f.tree.Purge(ctx, "a", items[0].ID)
			must(err)
			checkObjects(t, f, bs)

			// Without a trash a delete is final.
			r, err := f.tree.Retention(ctx, "b")
			must(err)
			r.TrashDays = 0
			must(f.tree.SetRetention(ctx, "b", r))
			must(f.tree.Delete(ctx, "b", "e/y.txt"))
			checkObjects(t, f, bs)

			// Times are rows.
			f.put(t, "b", "t.txt", "time")
			when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
			n, err := f.tree.SetMTime(ctx, "b", "t.txt", when)
			if err != nil || !n.MTime.Equal(when) {
				t.Fatalf("set mtime: %v, %v", n.MTime, err)
			}

			// Verify: clean, then a missing object found.
			probs, err := f.tree.Verify(ctx, "b", true)
			if err != nil || len(probs) != 0 {
				t.Fatalf("verify: %v, %v", probs, err)
			}
			must(bs.Delete(ctx, n.Blob))
			probs, err = f.tree.Verify(ctx, "b", false)
			if err != nil || len(probs) != 1 || probs[0].Kind != MissingOnDisk {
				t.Fatalf("verify after losing an object: %v, %v", probs, err)
			}
			if _, err := f.read("b", "t.txt"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("read of a lost object: %v", err)
			}
			must(f.tree.Delete(ctx, "b", "t.txt"))
			if err := f.tree.Reindex(ctx, "b"); err == nil {
				t.Fatal("reindex in object-store mode")
			}

			// A crash between a write's store and its install: the
			// collector deletes the object, once past the grace.
			sf, err := f.tree.Stage(ctx, "a", "z.txt", strings.NewReader("lost"), PutOptions{ExpectedSize: -1})
			must(err)
			key, err := f.tree.storeObject(ctx, "a", sf.Name)
			must(err)
			os.Remove(sf.Name)
			if got, err := f.tree.CollectObjects(ctx, time.Hour); err != nil || got != 0 {
				t.Fatalf("collected within the grace: %d, %v", got, err)
			}
			if got, err := f.tree.CollectObjects(ctx, 0); err != nil || got != 1 {
				t.Fatalf("collected %d, %v", got, err)
			}
			if _, err := bs.Stat(ctx, key); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("orphan still stored: %v", err)
			}
			checkObjects(t, f, bs)

			// A space's deletion takes its objects, trash and versions too.
			f.put(t, "a", "v.txt", "1")
			f.put(t, "a", "v.txt", "2")
			f.put(t, "a", "w.txt", "w")
			must(f.tree.Delete(ctx, "a", "w.txt"))
			must(f.tree.DeleteSpace(ctx, "a"))
			checkObjects(t, f, bs)
			left := 0
			must(bs.List(ctx, "c/a/", func(blob.Info) error { left++; return nil }))
			if left != 0 {
				t.Fatalf("%d objects of a deleted space left", left)
			}
		})
	}
}
