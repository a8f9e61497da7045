package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func lockRoots(ls []Lock) []string {
	out := make([]string, 0, len(ls))
	for _, l := range ls {
		out = append(out, l.Root)
	}
	return out
}

func TestLockQueries(t *testing.T) {
	ctx := context.Background()
	db, _ := openNodesDB(t)
	mkTree(t, db, "s", "a/", "a/b/", "a/b/c", "ab/", "a0")
	users := createUsers(t, db, "alice")
	now := time.Unix(1700000000, 0)
	later := now.Add(time.Hour)
	ins := func(token, space, root string, depth int, expires time.Time) {
		t.Helper()
		mustUpdate(t, db, func(tx *Tx) error {
			return tx.InsertLock(ctx, Lock{Token: token, SpaceID: space, Root: root, Depth: depth,
				OwnerXML: "<D:href>me</D:href>", UserID: users[0].ID, Timeout: time.Hour,
				ExpiresAt: expires, CreatedAt: now})
		})
	}
	ins("t-root", "s", "", -1, later)
	ins("t-a", "s", "a", 0, later)
	ins("t-abc", "s", "a/b/c", 0, later)
	ins("t-ab", "s", "ab", -1, later)
	ins("t-a0", "s", "a0", 0, later)
	ins("t-old", "s", "a/b", 0, now) // expired at now
	ins("t-other", "t", "a", -1, later)
	ins("t-ghost", "s", "a/new", 0, later)

	t.Run("by token", func(t *testing.T) {
		l, err := db.Lock(ctx, "t-a", now)
		if err != nil {
			t.Fatal(err)
		}
		want := Lock{Token: "t-a", SpaceID: "s", Root: "a", Depth: 0, OwnerXML: "<D:href>me</D:href>",
			UserID: users[0].ID, Timeout: time.Hour, ExpiresAt: later.UTC(), CreatedAt: now.UTC(), IsDir: true}
		if l != want {
			t.Errorf("got %+v\nwant %+v", l, want)
		}
		if _, err := db.Lock(ctx, "t-old", now); !errors.Is(err, ErrNotFound) {
			t.Errorf("expired lock: err = %v, want ErrNotFound", err)
		}
		if _, err := db.Lock(ctx, "nope", now); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown lock: err = %v, want ErrNotFound", err)
		}
		if l, _ := db.Lock(ctx, "t-abc", now); l.IsDir {
			t.Error("lock on a file says IsDir")
		}
		if l, _ := db.Lock(ctx, "t-ghost", now); l.IsDir || l.Root != "a/new" {
			t.Errorf("lock on an unmapped path: %+v", l)
		}
	})

	for _, tc := range []struct {
		name  string
		space string
		path  string
		below bool
		want  []string
	}{
		{"root alone", "s", "", false, []string{""}},
		{"root and below", "s", "", true, []string{"", "a", "a/b/c", "a/new", "a0", "ab"}},
		{"ancestors of a/b/c", "s", "a/b/c", false, []string{"", "a", "a/b/c"}},
		{"a and below, not ab or a0", "s", "a", true, []string{"", "a", "a/b/c", "a/new"}},
		{"a/b: expired lock left out", "s", "a/b", true, []string{"", "a", "a/b/c"}},
		{"other space", "t", "a/x", true, []string{"a"}},
		{"no locks", "t", "b", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ls, err := db.PathLocks(ctx, tc.space, tc.path, tc.below, now)
			if err != nil {
				t.Fatal(err)
			}
			if got := lockRoots(ls); !slices.Equal(got, tc.want) {
				t.Errorf("roots = %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("refresh", func(t *testing.T) {
		mustUpdate(t, db, func(tx *Tx) error { return tx.RefreshLock(ctx, "t-a", 10*time.Second, now.Add(10*time.Second)) })
		l, err := db.Lock(ctx, "t-a", now)
		if err != nil || l.Timeout != 10*time.Second || !l.ExpiresAt.Equal(now.Add(10*time.Second)) {
			t.Errorf("after refresh: %+v, %v", l, err)
		}
		err = db.Update(ctx, func(tx *Tx) error { return tx.RefreshLock(ctx, "nope", time.Second, now) })
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("refresh of unknown lock: %v", err)
		}
	})

	t.Run("insert errors", func(t *testing.T) {
		err := db.Update(ctx, func(tx *Tx) error {
			return tx.InsertLock(ctx, Lock{Token: "t-a", SpaceID: "s", ExpiresAt: later})
		})
		if !errors.Is(err, ErrExists) {
			t.Errorf("duplicate token: %v", err)
		}
		err = db.Update(ctx, func(tx *Tx) error {
			return tx.InsertLock(ctx, Lock{Token: "t-x", SpaceID: "nope", ExpiresAt: later})
		})
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown space: %v", err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		var n int64
		mustUpdate(t, db, func(tx *Tx) (err error) { n, err = tx.DeleteExpiredLocks(ctx, now); return err })
		if n != 1 {
			t.Errorf("deleted %d expired locks, want 1", n)
		}
		mustUpdate(t, db, func(tx *Tx) (err error) { n, err = tx.DeleteLocksUnder(ctx, "s", "a"); return err })
		if n != 3 {
			t.Errorf("deleted %d locks under a, want 3 (a, a/b/c, a/new)", n)
		}
		ls, _ := db.PathLocks(ctx, "s", "", true, now)
		if got := lockRoots(ls); !slices.Equal(got, []string{"", "a0", "ab"}) {
			t.Errorf("left after deleting under a: %q", got)
		}
		mustUpdate(t, db, func(tx *Tx) error { return tx.DeleteLock(ctx, "t-ab") })
		err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteLock(ctx, "t-ab") })
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
		mustUpdate(t, db, func(tx *Tx) (err error) { n, err = tx.DeleteLocksUnder(ctx, "s", ""); return err })
		if n != 2 {
			t.Errorf("deleted %d locks under the root, want 2", n)
		}
		if ls, _ := db.PathLocks(ctx, "t", "a", false, now); len(ls) != 1 {
			t.Errorf("space t lost its lock: %v", ls)
		}
	})
}

func TestLocksSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := testLocation(t)
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	mustUpdate(t, db, func(tx *Tx) error {
		if err := tx.CreateSpace(ctx, Space{ID: "s", Name: "S", CreatedAt: now}); err != nil {
			return err
		}
		return tx.InsertLock(ctx, Lock{Token: "tok", SpaceID: "s", Root: "f", Depth: -1, Shared: true,
			Timeout: time.Minute, ExpiresAt: now.Add(time.Minute), CreatedAt: now})
	})
	db.Close()
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, err := db.Lock(ctx, "tok", now)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Shared || l.Depth != -1 || l.UserID != 0 || l.Timeout != time.Minute {
		t.Errorf("after reopen: %+v", l)
	}
}
