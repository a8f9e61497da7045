package space

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfhq/wharf/store"
)

// clock is a settable clock for the retention tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClockFixture(t *testing.T) (*fixture, *clock) {
	t.Helper()
	f := newFixture(t)
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	f.tree.now = c.now
	return f, c
}

func (f *fixture) trash(t *testing.T, spaceID string) []TrashItem {
	t.Helper()
	items, err := f.tree.Trash(context.Background(), spaceID)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func (f *fixture) retained(t *testing.T, spaceID string) Retained {
	t.Helper()
	r, err := f.tree.Retained(context.Background(), spaceID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) entries(t *testing.T, dir, spaceID string) []string {
	t.Helper()
	es, err := readDirIfAny(filepath.Join(f.dir, dir, spaceID))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestTrashDeleteRestore(t *testing.T) {
	f := newFixture(t)
	ctx := WithActor(context.Background(), "alice")
	f.space(t, "s", 0)
	f.mkdir(t, "s", "a")
	b := f.put(t, "s", "a/b.txt", "hello")
	f.put(t, "s", "c.txt", "abc")
	top, _ := f.tree.Stat(ctx, "s", "a")

	if err := f.tree.Delete(ctx, "s", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tree.Stat(ctx, "s", "a/b.txt"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete, Stat a/b.txt: %v, want ErrNotFound", err)
	}
	if got := f.used(t, "s"); got != 3 {
		t.Errorf("used after delete = %d, want 3 (only c.txt is visible)", got)
	}
	items := f.trash(t, "s")
	if len(items) != 1 || items[0].Path != "a" || !items[0].IsDir || items[0].Size != 5 || items[0].Files != 1 || items[0].DeletedBy != "alice" {
		t.Fatalf("trash = %+v, want a/ with 5 bytes in 1 file, deleted by alice", items)
	}
	if r := f.retained(t, "s"); r.TrashBytes != 5 || r.TrashItems != 1 {
		t.Errorf("retained = %+v, want 5 bytes in 1 item", r)
	}
	if got := f.entries(t, "trash", "s"); len(got) != 1 || got[0] != items[0].ID {
		t.Errorf("trash/s holds %v, want [%s]", got, items[0].ID)
	}

	n, err := f.tree.Restore(ctx, "s", items[0].ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if n.Path != "a" || n.ID != top.ID {
		t.Errorf("restored %q id %d, want a with its id %d", n.Path, n.ID, top.ID)
	}
	if got, err := f.read("s", "a/b.txt"); got != "hello" || err != nil {
		t.Errorf("a/b.txt after restore = %q, %v", got, err)
	}
	if nb, _ := f.tree.Stat(ctx, "s", "a/b.txt"); nb.ID != b.ID || nb.SHA256 != b.SHA256 || nb.ETag != b.ETag {
		t.Errorf("a/b.txt restored as %+v, want %+v", nb, b)
	}
	if got := f.used(t, "s"); got != 8 {
		t.Errorf("used after restore = %d, want 8", got)
	}
	if len(f.trash(t, "s")) != 0 || len(f.entries(t, "trash", "s")) != 0 {
		t.Error("trash not empty after restore")
	}
	if probs, err := f.tree.Verify(ctx, "s", true); err != nil || len(probs) != 0 {
		t.Errorf("Verify after restore: %v %v", probs, err)
	}
	if probs, err := f.tree.VerifyRetained(ctx, "s"); err != nil || len(probs) != 0 {
		t.Errorf("VerifyRetained after restore: %v %v", probs, err)
	}
}

func TestTrashRestoreConflict(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.space(t, "s", 0)
	f.put(t, "s", "x.txt", "old")
	if err := f.tree.Delete(ctx, "s", "x.txt"); err != nil {
		t.Fatal(err)
	}
	f.put(t, "s", "x.txt", "new")
	id := f.trash(t, "s")[0].ID
	if _, err := f.tree.Restore(ctx, "s", id, ""); !errors.Is(err, ErrExists) {
		t.Fatalf("restore onto a taken place: %v, want ErrExists", err)
	}
	if _, err := f.tree.Restore(ctx, "s", id, "missing/x.txt"); !errors.Is(err, ErrParentMissing) {
		t.Fatalf("restore into a missing folder: %v, want ErrParentMissing", err)
	}
	if it, err := f.tree.TrashItem(ctx, "s", id); err != nil || it.Restoring != "" {
		t.Fatalf("item after refused restores: %+v, %v", it, err)
	}
	n, err := f.tree.Restore(ctx, "s", id, "x (restored).txt")
	if err != nil {
		t.Fatal(err)
	}
	if n.Name != "x (restored).txt" || n.Path != "x (restored).txt" {
		t.Errorf("restored node: %+v", n)
	}
	for p, want := range map[string]string{"x.txt": "new", "x (restored).txt": "old"} {
		if got, err := f.read("s", p); got != want || err != nil {
			t.Errorf("%s = %q, %v; want %q", p, got, err, want)
		}
	}
	if _, err := f.tree.Restore(ctx, "s", id, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("restoring twice: %v, want ErrNotFound", err)
	}
	if _, err := f.tree.Restore(ctx, "s", "../../etc", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("restoring a made-up id: %v, want ErrNotFound", err)
	}
}

func TestTrashPurge(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.space(t, "s", 0)
	for _, p := range []string{"a", "b", "c"} {
		f.put(t, "s", p, p+p)
		if err := f.tree.Delete(ctx, "s", p); err != nil {
			t.Fatal(err)
		}
	}
	items := f.trash(t, "s")
	if n, err := f.tree.Purge(ctx, "s", items[0].ID); n != 1 || err != nil {
		t.Fatalf("purge one: %d, %v", n, err)
	}
	if len(f.trash(t, "s")) != 2 || len(f.entries(t, "trash", "s")) != 2 {
		t.Fatalf("after purging one: %d items, %v on disk", len(f.trash(t, "s")), f.entries(t, "trash", "s"))
	}
	if _, err := f.tree.Purge(ctx, "s", items[0].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("purging it again: %v, want ErrNotFound", err)
	}
	if n, err := f.tree.Purge(ctx, "s"); n != 2 || err != nil {
		t.Fatalf("purge all: %d, %v", n, err)
	}
	if len(f.trash(t, "s")) != 0 || len(f.entries(t, "trash", "s")) != 0 || f.retained(t, "s").TrashBytes != 0 {
		t.Error("trash not empty after purging all")
	}
}

func TestTrashOff(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.space(t, "s", 0)
	if err := f.tree.SetRetention(ctx, "s", Retention{TrashDays: 0, KeepVersions: 0}); err != nil {
		t.Fatal(err)
	}
	f.put(t, "s", "a", "1")
	f.put(t, "s", "a", "2")
	if err := f.tree.Delete(ctx, "s", "a"); err != nil {
		t.Fatal(err)
	}
	if r := f.retained(t, "s"); r != (Retained{}) {
		t.Errorf("with trash and versions off, retained = %+v", r)
	}
}

func TestTrashExpire(t *testing.T) {
	f, c := newClockFixture(t)
	ctx := context.Background()
	f.space(t, "s", 0)
	f.put(t, "s", "old", "1")
	if err := f.tree.Delete(ctx, "s", "old"); err != nil {
		t.Fatal(err)
	}
	f.put(t, "s", "v", "1")
	f.put(t, "s", "v", "2") // a version of "1"
	c.add(20 * 24 * time.Hour)
	f.put(t, "s", "new", "2")
	if err := f.tree.Delete(ctx, "s", "new"); err != nil {
		t.Fatal(err)
	}
	if n, err := f.tree.Expire(ctx, "s"); n != 0 || err != nil {
		t.Fatalf("expire after 20 days: %d, %v; want nothing", n, err)
	}
	c.add(11 * 24 * time.Hour)
	if n, err := f.tree.Expire(ctx, "s"); n != 2 || err != nil {
		t.Fatalf("expire after 31 days: %d, %v; want the old item and the version", n, err)
	}
	items := f.trash(t, "s")
	if len(items) != 1 || items[0].Path != "new" {
		t.Errorf("trash after expiry = %+v, want only new", items)
	}
	if vs, _ := f.tree.Versions(ctx, "s", "v"); len(vs) != 0 {
		t.Errorf("versions after expiry = %+v", vs)
	}
	if probs, _ := f.tree.VerifyRetained(ctx, "s"); len(probs) != 0 {
		t.Errorf("VerifyRetained: %v", probs)
	}
}

func TestTrashQuotaPressure(t *testing.T) {
	f, c := newClockFixture(t)
	ctx := context.Background()
	f.space(t, "s", 100)
	f.put(t, "s", "a", strings.Repeat("a", 40))
	c.add(time.Minute)
	f.put(t, "s", "b", strings.Repeat("b", 40))
	for _, p := range []string{"a", "b"} {
		c.add(time.Minute)
		if err := f.tree.Delete(ctx, "s", p); err != nil {
			t.Fatal(err)
		}
	}
	if r := f.retained(t, "s"); r.TrashBytes != 80 {
		t.Fatalf("trash = %d bytes, want 80", r.TrashBytes)
	}
	// 50 visible + 80 retained > 100: the oldest item (a) makes room.
	f.put(t, "s", "c", strings.Repeat("c", 50))
	items := f.trash(t, "s")
	if len(items) != 1 || items[0].Path != "b" {
		t.Fatalf("trash after a write needing room = %+v, want only b", items)
	}
	if used, r := f.used(t, "s"), f.retained(t, "s"); used+r.Bytes() > 100 {
		t.Errorf("used %d + retained %d over the quota", used, r.Bytes())
	}
	// The visible bytes alone are still held to the quota.
	if _, _, err := f.tree.Put(ctx, "s", "d", strings.NewReader(strings.Repeat("d", 60)), PutOptions{ExpectedSize: -1}); !errors.Is(err, ErrQuota) {
		t.Errorf("a write past the quota: %v, want ErrQuota", err)
	}
	if probs, _ := f.tree.VerifyRetained(ctx, "s"); len(probs) != 0 {
		t.Errorf("VerifyRetained: %v", probs)
	}
}

func TestVersions(t *testing.T) {
	f, c := newClockFixture(t)
	ctx := WithActor(context.Background(), "bob")
	f.space(t, "s", 0)
	for _, v := range []string{"one", "two", "three"} {
		c.add(time.Second)
		if _, _, err := f.tree.Put(ctx, "s", "f.txt", strings.NewReader(v), PutOptions{ExpectedSize: -1}); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := f.tree.Versions(ctx, "s", "f.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].SHA256 != sum("two") || vs[1].SHA256 != sum("one") || vs[0].CreatedBy != "bob" {
		t.Fatalf("versions = %+v, want two then one, replaced by bob", vs)
	}
	if r := f.retained(t, "s"); r.VersionBytes != 6 || r.Versions != 2 {
		t.Errorf("retained = %+v", r)
	}
	f.put(t, "s", "f.txt", "three") // the same bytes again
	if again, _ := f.tree.Versions(ctx, "s", "f.txt"); len(again) != 2 {
		t.Errorf("rewriting the same bytes made a version: %d versions", len(again))
	}
	file, v, err := f.tree.OpenVersion(ctx, "s", "f.txt", vs[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 10)
	k, _ := file.Read(b)
	file.Close()
	if string(b[:k]) != "one" || v.ID != vs[1].ID {
		t.Errorf("version content %q", b[:k])
	}

	c.add(time.Second)
	n, err := f.tree.RestoreVersion(ctx, "s", "f.txt", vs[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f.read("s", "f.txt"); got != "one" || n.SHA256 != sum("one") || f.used(t, "s") != 3 {
		t.Errorf("after restoring one: %q, node %+v, used %d", got, n, f.used(t, "s"))
	}
	vs, _ = f.tree.Versions(ctx, "s", "f.txt")
	var sums []string
	for _, v := range vs {
		sums = append(sums, v.SHA256)
	}
	if len(vs) != 2 || sums[0] != sum("three") || sums[1] != sum("two") {
		t.Errorf("versions after the restore: %d, want three then two", len(vs))
	}
	if _, err := f.tree.RestoreVersion(ctx, "s", "f.txt", "1-000000000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("restoring an unknown version: %v", err)
	}
	f.put(t, "s", "other.txt", "x")
	if _, err := f.tree.RestoreVersion(ctx, "s", "other.txt", vs[0].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("restoring another file's version: %v", err)
	}
	if probs, _ := f.tree.Verify(ctx, "s", true); len(probs) != 0 {
		t.Errorf("Verify: %v", probs)
	}
	if probs, _ := f.tree.VerifyRetained(ctx, "s"); len(probs) != 0 {
		t.Errorf("VerifyRetained: %v", probs)
	}

	// The count kept per file.
	if err := f.tree.SetRetention(ctx, "s", Retention{TrashDays: 30, KeepVersions: 2, VersionDays: 30}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"4", "5", "6"} {
		c.add(time.Second)
		f.put(t, "s", "f.txt", v)
	}
	if vs, _ = f.tree.Versions(ctx, "s", "f.txt"); len(vs) != 2 || vs[0].SHA256 != sum("5") {
		t.Errorf("with 2 kept: %d versions", len(vs))
	}
	if got := len(f.entries(t, "versions", "s")); got != 2 {
		t.Errorf("versions/s holds %d files, want 2", got)
	}
}

func TestVersionsFollowTrash(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.space(t, "s", 0)
	f.mkdir(t, "s", "d")
	f.put(t, "s", "d/f", "1")
	f.put(t, "s", "d/f", "2")
	if err := f.tree.Delete(ctx, "s", "d"); err != nil {
		t.Fatal(err)
	}
	if n, err := f.tree.Expire(ctx, "s"); n != 0 || err != nil {
		t.Fatalf("expire: %d %v; the trashed file's version is not stray", n, err)
	}
	id := f.trash(t, "s")[0].ID
	if _, err := f.tree.Restore(ctx, "s", id, ""); err != nil {
		t.Fatal(err)
	}
	if vs, err := f.tree.Versions(ctx, "s", "d/f"); err != nil || len(vs) != 1 {
		t.Fatalf("versions after the round trip through the trash: %v %v", vs, err)
	}
	if err := f.tree.Delete(ctx, "s", "d"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tree.Purge(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if r := f.retained(t, "s"); r != (Retained{}) || len(f.entries(t, "versions", "s")) != 0 {
		t.Errorf("after purging the folder: retained %+v, version files %v", r, f.entries(t, "versions", "s"))
	}
}

func TestVersionSkippedWithoutRoom(t *testing.T) {
	f := newFixture(t)
	f.space(t, "s", 10)
	f.put(t, "s", "f", "123456")
	f.put(t, "s", "f", "abcdef") // 6 + a 6-byte version > 10: no version
	if vs, _ := f.tree.Versions(context.Background(), "s", "f"); len(vs) != 0 {
		t.Errorf("versions = %d, want none", len(vs))
	}
	if got, _ := f.read("s", "f"); got != "abcdef" {
		t.Errorf("f = %q", got)
	}
}

// TestRecover makes the states a kill -9 can leave between a disk change
// and its commit, and checks that Recover puts everything back.
func TestRecover(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.space(t, "s", 0)

	// A delete renamed into the trash but not committed.
	n := f.put(t, "s", "del.txt", "keep me")
	orphan := f.tree.trashPath("s", retainedID(n.ID))
	if err := os.MkdirAll(filepath.Dir(orphan), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(f.dir, "spaces", "s", "del.txt"), orphan); err != nil {
		t.Fatal(err)
	}
	// A purge committed but its files not removed.
	stale := f.tree.trashPath("s", "99999-abcdef012345")
	if err := os.WriteFile(stale, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// An overwrite linked and renamed but not committed.
	v := f.put(t, "s", "over.txt", "old content")
	if err := os.MkdirAll(filepath.Join(f.dir, "versions", "s"), 0o700); err != nil {
		t.Fatal(err)
	}
	cur := filepath.Join(f.dir, "spaces", "s", "over.txt")
	if err := os.Link(cur, f.tree.versionPath("s", retainedID(v.ID))); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(f.dir, "uploads", "new")
	if err := os.WriteFile(tmp, []byte("new, never acknowledged"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, cur); err != nil {
		t.Fatal(err)
	}
	// A restore renamed out of the trash but not committed.
	f.put(t, "s", "res.txt", "restore me")
	if err := f.tree.Delete(ctx, "s", "res.txt"); err != nil {
		t.Fatal(err)
	}
	item := f.trash(t, "s")[0]
	if err := f.db.Update(ctx, func(tx *store.Tx) error { return tx.SetTrashRestoring(ctx, "s", item.ID, "res.txt") }); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.tree.trashPath("s", item.ID), filepath.Join(f.dir, "spaces", "s", "res.txt")); err != nil {
		t.Fatal(err)
	}

	if probs, _ := f.tree.VerifyRetained(ctx, "s"); len(probs) < 3 {
		t.Errorf("VerifyRetained before Recover found %v; want the orphans and the half restore", probs)
	}
	did, err := f.tree.Recover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(did) != 4 {
		t.Errorf("Recover did %q, want 4 things", did)
	}
	for p, want := range map[string]string{"del.txt": "keep me", "over.txt": "old content"} {
		if got, err := f.read("s", p); got != want || err != nil {
			t.Errorf("%s after Recover = %q, %v; want %q", p, got, err, want)
		}
	}
	if probs, err := f.tree.Verify(ctx, "s", true); err != nil || len(probs) != 0 {
		t.Errorf("Verify after Recover: %v %v", probs, err)
	}
	if probs, err := f.tree.VerifyRetained(ctx, "s"); err != nil || len(probs) != 0 {
		t.Errorf("VerifyRetained after Recover: %v %v", probs, err)
	}
	if _, err := f.tree.Restore(ctx, "s", item.ID, ""); err != nil {
		t.Errorf("restore after Recover: %v", err)
	}
	if got, _ := f.read("s", "res.txt"); got != "restore me" {
		t.Errorf("res.txt = %q", got)
	}
}

// BenchmarkTrashRestore1k deletes a folder of 1,000 files to the trash and
// restores it: two renames and the index rows, no file is read.
func BenchmarkTrashRestore1k(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	f.space(b, "s", 0)
	f.mkdir(b, "s", "d")
	for i := range 1000 {
		f.put(b, "s", "d/f"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+time.Duration(i).String(), "content")
	}
	b.ResetTimer()
	for b.Loop() {
		if err := f.tree.Delete(ctx, "s", "d"); err != nil {
			b.Fatal(err)
		}
		items, err := f.tree.Trash(ctx, "s")
		if err != nil || len(items) != 1 {
			b.Fatal(items, err)
		}
		if _, err := f.tree.Restore(ctx, "s", items[0].ID, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOverwriteVersion is a 64 KiB PUT over an existing file that
// keeps the old content as a version (a hard link), with a count of 10.
func BenchmarkOverwriteVersion(b *testing.B) {
	for _, keep := range []int{0, 10} {
		b.Run(fmt.Sprintf("versions=%d", keep), func(b *testing.B) {
			f := newFixture(b)
			ctx := context.Background()
			f.space(b, "s", 0)
			if err := f.tree.SetRetention(ctx, "s", Retention{TrashDays: 30, KeepVersions: keep, VersionDays: 30}); err != nil {
				b.Fatal(err)
			}
			body := strings.Repeat("v", 64<<10)
			i := 0
			for b.Loop() {
				i++
				if _, _, err := f.tree.Put(ctx, "s", "f", strings.NewReader(body[:len(body)-i%100]), PutOptions{ExpectedSize: -1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestTrashKeepsUploaders: a file restored from the trash names the user
// who uploaded it again, unless that user's account went meanwhile.
func TestTrashKeepsUploaders(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.space(t, "s", 0)
	f.mkdir(t, "s", "a")
	b := f.put(t, "s", "a/b.txt", "ann's")
	c := f.put(t, "s", "a/c.txt", "bob's")
	users := map[string]int64{}
	err := f.db.Update(ctx, func(tx *store.Tx) error {
		for _, name := range []string{"ann", "bob"} {
			u, err := tx.CreateUser(ctx, store.User{Name: name, PasswordHash: "x", CreatedAt: time.Now()})
			if err != nil {
				return err
			}
			users[name] = u.ID
		}
		if err := tx.SetUploader(ctx, b.ID, users["ann"]); err != nil {
			return err
		}
		return tx.SetUploader(ctx, c.ID, users["bob"])
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.tree.Delete(ctx, "s", "a"); err != nil {
		t.Fatal(err)
	}
	if got, err := f.db.Uploaders(ctx, []int64{b.ID, c.ID}); err != nil || len(got) != 0 {
		t.Fatalf("uploaders of trashed files: %v, %v; want none", got, err)
	}
	if err := f.db.Update(ctx, func(tx *store.Tx) error { return tx.DeleteUser(ctx, users["bob"]) }); err != nil {
		t.Fatal(err)
	}
	items := f.trash(t, "s")
	if len(items) != 1 {
		t.Fatalf("trash %+v", items)
	}
	if _, err := f.tree.Restore(ctx, "s", items[0].ID, ""); err != nil {
		t.Fatal(err)
	}
	got, err := f.db.Uploaders(ctx, []int64{b.ID, c.ID})
	if err != nil || len(got) != 1 || got[b.ID] != users["ann"] {
		t.Errorf("uploaders after the restore: %v, %v; want a/b.txt by ann (%d), a/c.txt by nobody (bob is gone)", got, err, users["ann"])
	}
}
