package store

import (
	"bytes"
	"testing"
	"time"
)

// TestLoginWindows: the login throttle's rows are written in one upsert,
// read back equal (the zero CountedIn included), deleted by key, pruned
// by age and capped oldest first; and UpdateUncached does not move the
// epoch on PostgreSQL, so that the caches of every replica survive a
// failed login.
func TestLoginWindows(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	t0 := time.Unix(1_000_000, 123).UTC()
	key := func(i byte) []byte { return bytes.Repeat([]byte{i}, 17) }
	ws := []LoginWindow{
		{Key: key(1), Start: t0, N: 1, Names: 1, CountedIn: t0},
		{Key: key(2), Start: t0.Add(time.Second), N: 2},
		{Key: key(3), Start: t0.Add(2 * time.Second), N: 3, Names: 2},
	}
	before, err := db.Epoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	update := func(fn func(tx *Tx) error) {
		t.Helper()
		if err := db.UpdateUncached(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	update(func(tx *Tx) error { return tx.PutLoginWindows(ctx, ws...) })
	ws[1].N = 5
	update(func(tx *Tx) error { return tx.PutLoginWindows(ctx, ws[1]) })
	got, err := db.LoginWindows(ctx, key(1), key(2), key(3), key(4))
	if err != nil || len(got) != 3 {
		t.Fatalf("LoginWindows = %v, %v; want 3 rows", got, err)
	}
	for _, g := range got {
		w := ws[g.Key[0]-1]
		if !g.Start.Equal(w.Start) || g.N != w.N || g.Names != w.Names || !g.CountedIn.Equal(w.CountedIn) || g.CountedIn.IsZero() != w.CountedIn.IsZero() {
			t.Errorf("read %+v, wrote %+v", g, w)
		}
	}
	if onPostgres() {
		if after, err := db.Epoch(ctx); err != nil || after != before {
			t.Errorf("UpdateUncached moved the epoch on PostgreSQL: %v -> %v (%v)", before, after, err)
		}
	}
	update(func(tx *Tx) error { return tx.DeleteLoginWindows(ctx, key(2)) })
	if got, _ := db.LoginWindows(ctx, key(2)); len(got) != 0 {
		t.Errorf("deleted window still there: %v", got)
	}

	if _, err := db.LoginKnown(ctx, key(9)); err != ErrNotFound {
		t.Errorf("LoginKnown of nothing: %v, want ErrNotFound", err)
	}
	for i := range byte(5) {
		update(func(tx *Tx) error { return tx.PutLoginKnown(ctx, key(10+i), t0.Add(time.Duration(i)*time.Hour)) })
	}
	update(func(tx *Tx) error { return tx.PutLoginKnown(ctx, key(10), t0.Add(10*time.Hour)) })
	if at, err := db.LoginKnown(ctx, key(10)); err != nil || !at.Equal(t0.Add(10*time.Hour)) {
		t.Errorf("LoginKnown = %v, %v", at, err)
	}

	// Windows started at or before t0 go (key 1); then the oldest beyond
	// one (key 3 stays). Known addresses at or before t0+1h go (key 11);
	// then the oldest beyond two: keys 12 and 13 go, 14 and 10 stay.
	var n int64
	update(func(tx *Tx) (err error) {
		n, err = tx.PruneLogins(ctx, t0, t0.Add(time.Hour), 1, 2)
		return err
	})
	w, k, err := db.CountLogins(ctx)
	if err != nil || w != 1 || k != 2 || n != 4 {
		t.Fatalf("after pruning: %d windows, %d known, %d deleted (%v); want 1, 2, 4", w, k, n, err)
	}
	if got, _ := db.LoginWindows(ctx, key(3)); len(got) != 1 {
		t.Errorf("the newest window was pruned")
	}
	for _, i := range []byte{10, 14} {
		if _, err := db.LoginKnown(ctx, key(i)); err != nil {
			t.Errorf("known address %d: %v, want kept", i, err)
		}
	}
}
