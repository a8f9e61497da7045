package ops

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/internal/fakeclock"
	"github.com/wharfhq/wharf/internal/testenv"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// TestCheckObjects: in object-store mode, check finds a file whose object
// is missing (which nothing repairs), an object recorded as an orphan by a
// crashed write (collected by --repair), an object of c/ no row names nor
// records (deleted by --repair once a day old) and the frozen objects of a
// commit never recorded (deleted); backup refuses.
func TestCheckObjects(t *testing.T) {
	for name, newStore := range testenv.Stores() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			bs := newStore(t)
			clock := fakeclock.New(time.Now())
			e := testenv.New(t, testenv.Options{Blobs: bs, Now: clock.Now})
			e.Space(t, "s", "Space", 0)
			put := func(p, body string) space.Node {
				n, _, err := e.Tree.Put(ctx, "s", p, strings.NewReader(body), space.PutOptions{ExpectedSize: -1})
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			put("kept.txt", "kept")
			lost := put("lost.txt", "its object goes")
			cfg := Config{Dir: e.Dir, DB: e.DB, Tree: e.Tree, Blobs: bs, Now: clock.Now}
			check := func(repair bool) Report {
				t.Helper()
				r, err := Check(ctx, cfg, CheckOptions{Repair: repair, Hashes: true})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			if r := check(false); len(r.Problems) != 0 {
				t.Fatalf("clean object store: problems %q", r.Problems)
			}

			if err := bs.Delete(ctx, lost.Blob); err != nil {
				t.Fatal(err)
			}
			// A write that crashed between storing its object and the
			// install: recorded, named by no row.
			crashed := "c/s/00000000000000000000000000000001"
			if err := e.DB.Update(ctx, func(tx *store.Tx) error { return tx.AddBlobOrphan(ctx, crashed, clock.Now()) }); err != nil {
				t.Fatal(err)
			}
			stray := "c/s/00000000000000000000000000000002"
			frozen := "commits/never-recorded/asset"
			for _, k := range []string{crashed, stray, frozen} {
				if _, err := bs.Put(ctx, k, strings.NewReader("bytes"), 5); err != nil {
					t.Fatal(err)
				}
			}
			clock.Advance(UnnamedAge + time.Hour)

			r := check(false)
			want := []string{
				"missing: s/lost.txt: object " + lost.Blob + " is missing",
				"orphaned objects: 1 recorded for more than 1h0m0s and named by no row (left by a crash or a failed delete)",
				"unnamed object: " + stray,
				"orphaned commit files: 1 objects commits/never-recorded/",
			}
			for _, w := range want {
				if !slices.ContainsFunc(r.Problems, func(p string) bool { return strings.HasPrefix(p, w) }) {
					t.Errorf("problem %q not reported; got %q", w, r.Problems)
				}
			}
			if len(r.Problems) != len(want) {
				t.Errorf("problems %q, want %d", r.Problems, len(want))
			}

			r = check(true)
			for _, k := range []string{crashed, stray, frozen} {
				if _, err := bs.Stat(ctx, k); !errors.Is(err, blob.ErrNotFound) {
					t.Errorf("%s after repair: %v, want deleted (fixed %q)", k, err, r.Fixed)
				}
			}
			if n, err := e.Tree.Stat(ctx, "s", "kept.txt"); err != nil {
				t.Error(err)
			} else if _, err := bs.Stat(ctx, n.Blob); err != nil {
				t.Errorf("the object of kept.txt after repair: %v", err)
			}
			// What remains is what nothing can repair.
			if r := check(false); len(r.Problems) != 1 || !strings.HasPrefix(r.Problems[0], "missing: s/lost.txt") {
				t.Errorf("after repair: problems %q, want the missing object only", r.Problems)
			}

			_, err := Backup(ctx, cfg, filepath.Join(t.TempDir(), "b"), BackupOptions{})
			if !errors.Is(err, ErrObjectMode) || !strings.Contains(err.Error(), "versioning") {
				t.Errorf("backup in object-store mode: %v", err)
			}
			if _, err := Check(ctx, Config{Dir: e.Dir, DB: e.DB, Tree: e.Tree}, CheckOptions{}); err == nil {
				t.Error("check in object-store mode without Blobs: no error")
			}
		})
	}
}
