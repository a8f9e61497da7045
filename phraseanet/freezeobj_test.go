package phraseanet

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/internal/testenv"
	"github.com/wharfhq/wharf/space"
)

// TestCommitFreezesObjects: in object-store mode a commit's files are
// server-side copies in the store; overwritten, moved and deleted in the
// space afterwards, each asset is still served byte for byte with the
// size and SHA-256 its record announces (ranges too), until the after-ack
// action releases the copies.
func TestCommitFreezesObjects(t *testing.T) {
	for name, newStore := range testenv.Stores() {
		t.Run(name, func(t *testing.T) {
			bs := newStore(t)
			f := newFixtureWith(t, testenv.Options{Blobs: bs}, func(c *Config) {
				c.Dir = t.TempDir() // ignored in object-store mode: nothing may land there
				c.Blobs = bs
			})
			tg := f.target(t, TargetSpec{Name: "t", Mode: ModePull})
			const old = "the committed bytes, in the object store"
			f.put(t, "a.txt", old)
			f.put(t, "b.txt", "second file")
			c, as := f.commit(t, tg.ID, "a.txt", "b.txt")
			if as[0].SHA256 != sum(old) || as[0].Size != int64(len(old)) || !as[0].Frozen {
				t.Fatalf("asset of a.txt: size %d sha %s frozen %v, want %d %s true", as[0].Size, as[0].SHA256, as[0].Frozen, len(old), sum(old))
			}
			if got := f.getCommit(t, c.ID); got.TotalSize != int64(len(old)+len("second file")) {
				t.Errorf("commit total size %d", got.TotalSize)
			}
			for _, a := range as {
				if _, err := bs.Stat(f.ctx, frozenKey(c.ID, a.ID)); err != nil {
					t.Fatalf("no frozen object for %s: %v", a.Path, err)
				}
			}
			if left := dirEntries(t, f.cfg.Dir); len(left) != 0 {
				t.Errorf("the commits directory holds %q in object-store mode", left)
			}

			// Overwritten, moved and deleted (the trash emptied) after the commit.
			f.put(t, "a.txt", "new bytes, longer than the committed ones")
			if _, err := f.tree.Move(f.ctx, "s", "b.txt", "s", "moved.txt", false); err != nil {
				t.Fatal(err)
			}
			if err := f.tree.Delete(f.ctx, "s", "moved.txt"); err != nil {
				t.Fatal(err)
			}
			if _, err := f.tree.Purge(f.ctx, "s"); err != nil {
				t.Fatal(err)
			}
			for i, want := range []string{old, "second file"} {
				meta, st, body := f.fetchAsset(t, c, as[i].ID)
				if st != http.StatusOK || body != want {
					t.Errorf("asset %d: download %d %q, want the committed %q", i, st, body, want)
				}
				if meta.Size != int64(len(body)) || meta.SHA256 != sum(body) {
					t.Errorf("asset %d: announced size %d sha256 %s; served %d bytes with sha256 %s", i, meta.Size, meta.SHA256, len(body), sum(body))
				}
			}
			// A range of the frozen copy (what Phraseanet resumes with).
			meta, _, _ := f.fetchAsset(t, c, as[0].ID)
			req, _ := http.NewRequest("GET", meta.URL, nil)
			req.Header.Set("Range", "bytes=4-12")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			part, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusPartialContent || string(part) != old[4:13] {
				t.Errorf("range: %d %q, want 206 %q", resp.StatusCode, part, old[4:13])
			}
			if st, body, _ := f.do(t, "GET", "/assets/"+as[0].ID+"/download", "AssetToken "+c.Token, "", ""); st != 200 || body != old {
				t.Errorf("legacy download: %d %q, want %q", st, body, old)
			}

			for _, a := range as {
				if st, body, _ := f.do(t, "POST", "/assets/"+a.ID+"/ack", "AssetToken "+c.Token, "application/json", `{"acknowledged":true}`); st != 200 || body != "true" {
					t.Fatalf("ack: %d %s", st, body)
				}
			}
			f.svc.sweep(f.ctx)
			if got := f.getCommit(t, c.ID); got.DisposedAt.IsZero() {
				t.Fatal("after-ack action not done")
			}
			if keys := listKeys(t, bs, frozenPrefix); len(keys) != 0 {
				t.Errorf("frozen objects not released after the after-ack action: %q", keys)
			}
			if _, st, _ := f.fetchAsset(t, c, as[0].ID); st != http.StatusNotFound {
				t.Errorf("released asset: download %d, want 404", st)
			}

			// An empty file is frozen and served too.
			f.put(t, "empty.txt", "")
			ce, es := f.commit(t, tg.ID, "empty.txt")
			if meta, st, body := f.fetchAsset(t, ce, es[0].ID); st != http.StatusOK || body != "" || meta.Size != 0 || meta.SHA256 != sum("") {
				t.Errorf("empty file: download %d %q, size %d sha256 %s", st, body, meta.Size, meta.SHA256)
			}
		})
	}
}

// TestFrozenObjectOrphansAreSwept: the janitor deletes the objects of a
// commit that was never recorded once they are an hour old (another
// replica may be making it before that), and leaves a live commit's.
func TestFrozenObjectOrphansAreSwept(t *testing.T) {
	for name, newStore := range testenv.Stores() {
		t.Run(name, func(t *testing.T) {
			bs := newStore(t)
			f := newFixtureWith(t, testenv.Options{Blobs: bs}, func(c *Config) { c.Blobs = bs })
			tg := f.target(t, TargetSpec{Name: "t", Mode: ModePull})
			f.put(t, "a.txt", "x")
			live, las := f.commit(t, tg.ID, "a.txt")
			orphan := frozenKey("crashed-before-recording", "asset")
			if _, err := bs.Put(f.ctx, orphan, strings.NewReader("y"), 1); err != nil {
				t.Fatal(err)
			}
			f.clock.Set(time.Now())
			if n, err := f.svc.sweepFrozen(f.ctx); err != nil || n != 0 {
				t.Fatalf("sweep of young objects: %d, %v; want none removed", n, err)
			}
			f.clock.Advance(orphanObjectAge + time.Minute)
			if n, err := f.svc.sweepFrozen(f.ctx); err != nil || n != 1 {
				t.Fatalf("sweep: %d, %v; want 1 removed", n, err)
			}
			if _, err := bs.Stat(f.ctx, orphan); !errors.Is(err, blob.ErrNotFound) {
				t.Errorf("orphan object: %v, want gone", err)
			}
			if _, err := bs.Stat(f.ctx, frozenKey(live.ID, las[0].ID)); err != nil {
				t.Errorf("live commit's object: %v", err)
			}
		})
	}
}

// TestFrozenCommitServedByAnotherReplica: a commit made on one replica is
// served, acknowledged and released through another, which has its own
// data directory (the first one's is gone) and shares only the database
// and the object store.
func TestFrozenCommitServedByAnotherReplica(t *testing.T) {
	for name, newStore := range testenv.Stores() {
		t.Run(name, func(t *testing.T) {
			bs := newStore(t)
			a := newFixtureWith(t, testenv.Options{Blobs: bs}, func(c *Config) { c.Dir = t.TempDir(); c.Blobs = bs })
			tg := a.target(t, TargetSpec{Name: "t", Mode: ModePull})
			const body = "made on replica A, served by replica B"
			a.put(t, "a.txt", body)
			c, as := a.commit(t, tg.ID, "a.txt")

			dirB := t.TempDir()
			treeB, err := space.New(space.Config{DB: a.db, Dir: dirB, Blobs: bs})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { treeB.Close() })
			b := *a
			b.tree = treeB
			var handler http.Handler
			b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
			t.Cleanup(b.srv.Close)
			b.cfg.Tree, b.cfg.Dir, b.cfg.PublicURL = treeB, filepath.Join(dirB, "commits"), b.srv.URL
			b.svc = b.newService(t)
			handler = b.mux(b.svc)
			a.srv.Close()
			if err := os.RemoveAll(a.cfg.Dir); err != nil {
				t.Fatal(err)
			}

			meta, st, got := b.fetchAsset(t, c, as[0].ID)
			if st != http.StatusOK || got != body || meta.Size != int64(len(body)) || meta.SHA256 != sum(body) {
				t.Fatalf("through replica B: %d %q, size %d sha256 %s", st, got, meta.Size, meta.SHA256)
			}
			if st, out, _ := b.do(t, "POST", "/assets/"+as[0].ID+"/ack", "AssetToken "+c.Token, "application/json", `{"acknowledged":true}`); st != 200 || out != "true" {
				t.Fatalf("ack through B: %d %s", st, out)
			}
			b.svc.sweep(b.ctx)
			if keys := listKeys(t, bs, frozenPrefix); len(keys) != 0 {
				t.Errorf("frozen objects not released by replica B: %q", keys)
			}
		})
	}
}

// TestObjectModeNeedsBlobs: a server's service in object-store mode
// without the store would freeze into one replica's directory.
func TestObjectModeNeedsBlobs(t *testing.T) {
	bs := testenv.Stores()["local"](t)
	env := testenv.New(t, testenv.Options{Blobs: bs})
	_, err := New(Config{DB: env.DB, Tree: env.Tree, Auth: env.Auth, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "Blobs") {
		t.Errorf("New without Blobs in object-store mode: %v", err)
	}
	plain := testenv.New(t, testenv.Options{})
	if _, err := New(Config{DB: plain.DB, Tree: plain.Tree, Auth: plain.Auth, Blobs: bs}); err == nil {
		t.Error("New with Blobs and a tree of the data directory: no error")
	}
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func listKeys(t *testing.T, bs blob.Store, prefix string) []string {
	t.Helper()
	var keys []string
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bs.List(ctx, prefix, func(i blob.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}
