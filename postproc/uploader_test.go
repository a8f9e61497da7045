package postproc

import (
	"context"
	"testing"
	"time"

	"github.com/wharfhq/wharf/store"
)

// TestInstallRecordsUploader: the job's user becomes the uploader of the
// file it installs, in the install's transaction, for a quick job (a
// WebDAV PUT, a chunked upload's assembly) as for a durable one (tus, a
// fully processed PUT); an upload over the file replaces the uploader, and
// one by nobody known leaves none.
func TestInstallRecordsUploader(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	r := f.runner(t, nil)
	ids := map[string]int64{}
	err := f.db.Update(ctx, func(tx *store.Tx) error {
		for _, name := range []string{"ann", "ben"} {
			u, err := tx.CreateUser(ctx, store.User{Name: name, PasswordHash: "x", CreatedAt: time.Now()})
			if err != nil {
				return err
			}
			ids[name] = u.ID
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	uploader := func() (int64, bool) {
		t.Helper()
		n, err := f.tree.Stat(ctx, "s", "a.txt")
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.db.Uploaders(ctx, []int64{n.ID})
		if err != nil {
			t.Fatal(err)
		}
		u, ok := got[n.ID]
		return u, ok
	}

	job := f.stage(t, "put-1", "a.txt", []byte("ann's"))
	job.UserID, job.User, job.Quick = ids["ann"], "ann", true
	if _, _, err := r.Process(ctx, job); err != nil {
		t.Fatal(err)
	}
	if u, ok := uploader(); !ok || u != ids["ann"] {
		t.Errorf("after ann's PUT: uploader %d (%v), want ann (%d)", u, ok, ids["ann"])
	}

	job = f.stage(t, "tus-1", "a.txt", []byte("ben's, over ann's"))
	job.UserID, job.User = ids["ben"], "ben"
	if err := r.Submit(ctx, job); err != nil {
		t.Fatal(err)
	}
	if _, err := wait(t, r, "tus-1"); err != nil {
		t.Fatal(err)
	}
	if u, ok := uploader(); !ok || u != ids["ben"] {
		t.Errorf("after ben's upload over it: uploader %d (%v), want ben (%d)", u, ok, ids["ben"])
	}

	job = f.stage(t, "put-2", "a.txt", []byte("nobody's"))
	job.UserID, job.User, job.Quick = 0, "", true
	if _, _, err := r.Process(ctx, job); err != nil {
		t.Fatal(err)
	}
	if u, ok := uploader(); ok {
		t.Errorf("after an upload by no user: uploader %d, want none", u)
	}
}
