//go:build linux

package space

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func inode(t *testing.T, name string) uint64 {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// An overwrite's replaced inode becomes a later write's staging file: no
// inode is made or freed by a steady stream of overwrites, and every
// write still reads back whole.
func TestSparesReused(t *testing.T) {
	f := newFixture(t)
	f.space(t, "s", 0)
	ctx := context.Background()
	if err := f.tree.SetRetention(ctx, "s", Retention{TrashDays: 30}); err != nil {
		t.Fatal(err)
	}
	f.put(t, "s", "a.txt", "one")
	first := inode(t, filepath.Join(f.dir, "spaces", "s", "a.txt"))
	f.put(t, "s", "a.txt", "two") // "one"'s inode is a spare now
	if got := len(f.tree.spares.names); got != 1 {
		t.Fatalf("%d spares after an overwrite, want 1", got)
	}
	f.put(t, "s", "b.txt", "three") // staged in it
	if got := inode(t, filepath.Join(f.dir, "spaces", "s", "b.txt")); got != first {
		t.Errorf("b.txt's inode %d, want the replaced a.txt's %d", got, first)
	}
	for p, want := range map[string]string{"a.txt": "two", "b.txt": "three"} {
		if got, err := f.read("s", p); got != want || err != nil {
			t.Errorf("%s: %q, %v; want %q", p, got, err, want)
		}
	}
	// A spare longer than the next write: rewritten in place, its old
	// bytes past the new ones cut off.
	f.put(t, "s", "long.txt", strings.Repeat("old bytes ", 500))
	f.put(t, "s", "long.txt", "short")
	if n := f.put(t, "s", "c.txt", "tiny"); n.Size != 4 {
		t.Errorf("c.txt indexed with %d bytes", n.Size)
	}
	if got, err := f.read("s", "c.txt"); got != "tiny" || err != nil {
		t.Errorf("c.txt: %q, %v", got, err)
	}
	if fi, err := os.Stat(filepath.Join(f.dir, "spaces", "s", "c.txt")); err != nil || fi.Size() != 4 {
		t.Errorf("c.txt on disk: %v, %v", fi, err)
	}
	if problems, err := f.tree.Verify(ctx, "s", true); err != nil || len(problems) > 0 {
		t.Errorf("Verify: %v %+v", err, problems)
	}
	if left := f.staging(t); len(left) > 0 {
		t.Errorf("staging files left behind: %v", left)
	}
	f.tree.Close()
	if es, _ := filepath.Glob(filepath.Join(f.dir, "uploads", stagingPfx+"*")); len(es) > 0 {
		t.Errorf("spares left after Close: %v", es)
	}
}

// A reader that opened a file before it was replaced keeps reading its
// old bytes: a replaced file still open anywhere (this process's readers,
// another process's) is never reused.
func TestSparesNotWhileOpen(t *testing.T) {
	for name, open := range map[string]func(f *fixture) (io.ReadCloser, error){
		"Tree.Open": func(f *fixture) (io.ReadCloser, error) {
			r, _, err := f.tree.Open(context.Background(), "s", "a.txt")
			return r, err
		},
		"os.Open": func(f *fixture) (io.ReadCloser, error) {
			return os.Open(filepath.Join(f.dir, "spaces", "s", "a.txt"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			f.space(t, "s", 0)
			ctx := context.Background()
			if err := f.tree.SetRetention(ctx, "s", Retention{TrashDays: 30}); err != nil {
				t.Fatal(err)
			}
			f.put(t, "s", "a.txt", "the old bytes")
			r, err := open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			old := inode(t, filepath.Join(f.dir, "spaces", "s", "a.txt"))
			f.put(t, "s", "a.txt", "new")
			for i := range 5 {
				f.put(t, "s", "b.txt", strings.Repeat("x", 10+i))
				if got := inode(t, filepath.Join(f.dir, "spaces", "s", "b.txt")); got == old {
					t.Fatalf("write %d was staged in the inode a reader holds", i)
				}
			}
			if b, err := io.ReadAll(r); string(b) != "the old bytes" || err != nil {
				t.Errorf("reader: %q, %v", b, err)
			}
		})
	}
}

// A replaced file that has another name (a version, a frozen commit) is
// left alone; a purged version's inode may be reused.
func TestSparesOnlyLastLink(t *testing.T) {
	f := newFixture(t)
	f.space(t, "s", 0)
	ctx := context.Background()
	if err := f.tree.SetRetention(ctx, "s", Retention{TrashDays: 30, KeepVersions: 1, VersionDays: 30}); err != nil {
		t.Fatal(err)
	}
	f.put(t, "s", "a.txt", "v1")
	frozen := filepath.Join(f.dir, "frozen")
	if err := os.Link(filepath.Join(f.dir, "spaces", "s", "a.txt"), frozen); err != nil {
		t.Fatal(err)
	}
	f.put(t, "s", "a.txt", "v2") // v1 is a version and frozen
	f.put(t, "s", "a.txt", "v3") // v1 purged (one version kept), still frozen: not a spare
	f.put(t, "s", "b.txt", "b")
	if b, err := os.ReadFile(frozen); string(b) != "v1" || err != nil {
		t.Fatalf("frozen copy: %q, %v", b, err)
	}
	vs, err := f.tree.Versions(ctx, "s", "a.txt")
	if err != nil || len(vs) != 1 {
		t.Fatalf("versions: %+v, %v", vs, err)
	}
	f.put(t, "s", "a.txt", "v4") // v2 purged, its last link: a spare
	if got := len(f.tree.spares.names); got != 1 {
		t.Errorf("%d spares, want v2's", got)
	}
	f.put(t, "s", "c.txt", "c")
	for p, want := range map[string]string{"a.txt": "v4", "b.txt": "b", "c.txt": "c"} {
		if got, err := f.read("s", p); got != want || err != nil {
			t.Errorf("%s: %q, %v; want %q", p, got, err, want)
		}
	}
	if problems, err := f.tree.Verify(ctx, "s", true); err != nil || len(problems) > 0 {
		t.Errorf("Verify: %v %+v", err, problems)
	}
}

// The pool is bounded, and large files are not kept.
func TestSparesBounded(t *testing.T) {
	f := newFixture(t)
	f.space(t, "s", 0)
	ctx := context.Background()
	if err := f.tree.SetRetention(ctx, "s", Retention{TrashDays: 30}); err != nil {
		t.Fatal(err)
	}
	f.put(t, "s", "big", strings.Repeat("x", spareMaxSize+1))
	f.put(t, "s", "big", "small now")
	if got := len(f.tree.spares.names); got != 0 {
		t.Errorf("%d spares after replacing a large file", got)
	}
	for i := range sparesMax + 10 {
		f.put(t, "s", "f"+strings.Repeat("0", i%3)+string(rune('a'+i%26)), "x")
	}
	for i := range sparesMax + 10 {
		f.put(t, "s", "f"+strings.Repeat("0", i%3)+string(rune('a'+i%26)), "y")
	}
	if got := len(f.tree.spares.names); got > sparesMax {
		t.Errorf("%d spares, at most %d", got, sparesMax)
	}
}
