package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestGenerationsKeepRowsCurrent: a space's settings and its locks are
// served from memory while writes elsewhere move the Epoch, and a change
// of them made through another handle on the same database (another
// process, for SQLite) is seen by the next read.
func TestGenerationsKeepRowsCurrent(t *testing.T) {
	ctx := context.Background()
	loc := testLocation(t)
	db := openAt(t, loc)
	other := openAt(t, loc)
	now := time.Unix(1700000000, 0)
	mustUpdate(t, other, func(tx *Tx) error {
		return tx.CreateSpace(ctx, Space{ID: "s", Name: "s", CreatedAt: now})
	})
	if q, err := db.SpaceQuota(ctx, "s"); err != nil || q != 0 {
		t.Fatalf("SpaceQuota = %d, %v; want 0", q, err)
	}
	if p, err := db.SpacePolicy(ctx, "s"); err != nil || p != "" {
		t.Fatalf("SpacePolicy = %q, %v; want none", p, err)
	}
	if ls, err := db.PathLocks(ctx, "s", "a", true, now); err != nil || len(ls) != 0 {
		t.Fatalf("PathLocks = %v, %v; want none", ls, err)
	}
	before, ok := db.generations(ctx)
	if !ok {
		t.Fatal("generations unreadable")
	}

	// What every upload writes moves the Epoch, not the generations: the
	// settings stay in memory.
	epoch, _ := db.Epoch(ctx)
	mustUpdate(t, other, func(tx *Tx) error { return tx.AddUsed(ctx, "s", 10) })
	mustUpdate(t, other, func(tx *Tx) error {
		_, err := tx.InsertNode(ctx, Node{SpaceID: "s", Path: "f", Name: "f", MTime: now, CTime: now})
		return err
	})
	if e, _ := db.Epoch(ctx); e == epoch {
		t.Fatal("the Epoch did not move")
	}
	after, _ := db.generations(ctx)
	if after != before {
		t.Fatalf("generations moved from %+v to %+v by used bytes and a node", before, after)
	}
	if _, hit := db.spaceSet.get("s", after.spaces); !hit {
		t.Error("the space's settings were dropped by writes that do not change them")
	}
	if _, hit := db.lockSpaces.get("s", after.locks); !hit {
		t.Error("whether the space has locks was dropped by writes that do not change them")
	}

	// Changes through the other handle are seen at once.
	mustUpdate(t, other, func(tx *Tx) error { return tx.SetQuota(ctx, "s", 100) })
	if q, err := db.SpaceQuota(ctx, "s"); err != nil || q != 100 {
		t.Errorf("SpaceQuota after SetQuota elsewhere = %d, %v; want 100", q, err)
	}
	mustUpdate(t, other, func(tx *Tx) error { return tx.SetSpacePolicy(ctx, "s", `{"maxSize":5}`) })
	if p, err := db.SpacePolicy(ctx, "s"); err != nil || p != `{"maxSize":5}` {
		t.Errorf("SpacePolicy after SetSpacePolicy elsewhere = %q, %v", p, err)
	}
	mustUpdate(t, other, func(tx *Tx) error {
		return tx.InsertLock(ctx, Lock{Token: "t1", SpaceID: "s", Root: "a", Depth: -1,
			Timeout: time.Hour, ExpiresAt: now.Add(time.Hour), CreatedAt: now})
	})
	if ls, err := db.PathLocks(ctx, "s", "a/b", false, now); err != nil || len(ls) != 1 || ls[0].Token != "t1" {
		t.Errorf("PathLocks after a lock taken elsewhere = %v, %v; want t1", ls, err)
	}
	mustUpdate(t, other, func(tx *Tx) error { return tx.DeleteLock(ctx, "t1") })
	if ls, err := db.PathLocks(ctx, "s", "a/b", false, now); err != nil || len(ls) != 0 {
		t.Errorf("PathLocks after the lock was released elsewhere = %v, %v; want none", ls, err)
	}
	mustUpdate(t, other, func(tx *Tx) error { return tx.DeleteSpace(ctx, "s") })
	if _, err := db.SpaceQuota(ctx, "s"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SpaceQuota of a space deleted elsewhere = %v, want ErrNotFound", err)
	}
	mustUpdate(t, other, func(tx *Tx) error {
		return tx.CreateSpace(ctx, Space{ID: "s", Name: "s", QuotaBytes: 7, CreatedAt: now})
	})
	if q, err := db.SpaceQuota(ctx, "s"); err != nil || q != 7 {
		t.Errorf("SpaceQuota of a space created again elsewhere = %d, %v; want 7", q, err)
	}
}

// TestGenerationsKeepUsersCurrent: the account an account password names
// is read from memory while writes elsewhere move the Epoch, and a new
// password, a removal or a new account of that name made through another
// handle is seen by the next read.
func TestGenerationsKeepUsersCurrent(t *testing.T) {
	ctx := context.Background()
	loc := testLocation(t)
	db := openAt(t, loc)
	other := openAt(t, loc)
	now := time.Unix(1700000000, 0)
	var id int64
	mustUpdate(t, other, func(tx *Tx) error {
		u, err := tx.CreateUser(ctx, User{Name: "ann", PasswordHash: "h1", CreatedAt: now})
		id = u.ID
		return err
	})
	if u, err := db.UserByName(ctx, "ann"); err != nil || u.PasswordHash != "h1" {
		t.Fatalf("UserByName = %+v, %v", u, err)
	}
	g, _ := db.generations(ctx)
	mustUpdate(t, other, func(tx *Tx) error {
		return tx.CreateSpace(ctx, Space{ID: "s", Name: "s", CreatedAt: now})
	})
	mustUpdate(t, other, func(tx *Tx) error { return tx.AddUsed(ctx, "s", 1) })
	if g2, _ := db.generations(ctx); g2.users != g.users {
		t.Fatalf("the users' generation moved (%d to %d) with no account changed", g.users, g2.users)
	}
	if _, hit := db.userSet.get("ann", g.users); !hit {
		t.Error("the account was dropped by writes that do not change it")
	}
	mustUpdate(t, other, func(tx *Tx) error { return tx.SetPasswordHash(ctx, id, "h2") })
	if u, err := db.UserByName(ctx, "ann"); err != nil || u.PasswordHash != "h2" {
		t.Errorf("UserByName after a new password elsewhere = %+v, %v; want h2", u, err)
	}
	mustUpdate(t, other, func(tx *Tx) error { return tx.DeleteUser(ctx, id) })
	if _, err := db.UserByName(ctx, "ann"); !errors.Is(err, ErrNotFound) {
		t.Errorf("UserByName after a removal elsewhere = %v, want ErrNotFound", err)
	}
	mustUpdate(t, other, func(tx *Tx) error {
		_, err := tx.CreateUser(ctx, User{Name: "ann", PasswordHash: "h3", CreatedAt: now})
		return err
	})
	if u, err := db.UserByName(ctx, "ann"); err != nil || u.PasswordHash != "h3" {
		t.Errorf("UserByName of an account made again elsewhere = %+v, %v; want h3", u, err)
	}
}

// TestAccessEpochMovesWithCredentials: the label of who may do what
// (AccessEpoch) stays put while files are written, and moves, seen through
// another handle, with every change of an app password, a token or a
// membership: made, touched, revoked, or removed by a cascade (a space
// deleted with its members).
func TestAccessEpochMovesWithCredentials(t *testing.T) {
	ctx := context.Background()
	loc := testLocation(t)
	db := openAt(t, loc)
	other := openAt(t, loc)
	now := time.Unix(1700000000, 0)
	var uid int64
	mustUpdate(t, other, func(tx *Tx) error {
		u, err := tx.CreateUser(ctx, User{Name: "ann", PasswordHash: "h", CreatedAt: now})
		uid = u.ID
		if err != nil {
			return err
		}
		return tx.CreateSpace(ctx, Space{ID: "s", Name: "s", CreatedAt: now})
	})
	label := db.AccessEpoch(ctx)
	if label == (Epoch{}) {
		t.Fatal("AccessEpoch unreadable")
	}
	if e, _ := db.Epoch(ctx); e == label {
		t.Fatal("an AccessEpoch equals an Epoch")
	}
	mustUpdate(t, other, func(tx *Tx) error {
		if err := tx.AddUsed(ctx, "s", 10); err != nil {
			return err
		}
		_, err := tx.InsertNode(ctx, Node{SpaceID: "s", Path: "f", Name: "f", MTime: now, CTime: now})
		return err
	})
	if got := db.AccessEpoch(ctx); got != label {
		t.Fatalf("AccessEpoch moved (%+v to %+v) with a file written", label, got)
	}
	var apID int64
	changes := []struct {
		what string
		fn   func(tx *Tx) error
	}{
		{"app password made", func(tx *Tx) error {
			a, err := tx.CreateAppPassword(ctx, AppPassword{UserID: uid, Label: "phone", Hash: "ah", CreatedAt: now})
			apID = a.ID
			return err
		}},
		{"app password touched", func(tx *Tx) error { return tx.TouchAppPassword(ctx, apID, now.Add(time.Minute)) }},
		{"token made", func(tx *Tx) error {
			return tx.CreateToken(ctx, Token{ID: "t1", Hash: "th", UserID: uid, Kind: "api", CreatedAt: now})
		}},
		{"token touched", func(tx *Tx) error { return tx.TouchToken(ctx, "t1", now.Add(time.Minute)) }},
		{"token revoked", func(tx *Tx) error { return tx.DeleteToken(ctx, "t1") }},
		{"member added", func(tx *Tx) error { return tx.SetMember(ctx, "s", uid, "editor") }},
		{"role lowered", func(tx *Tx) error { return tx.SetMember(ctx, "s", uid, "viewer") }},
		{"member removed", func(tx *Tx) error { return tx.DeleteMember(ctx, "s", uid) }},
		{"app password revoked", func(tx *Tx) error { return tx.DeleteAppPassword(ctx, uid, apID) }},
	}
	for _, c := range changes {
		mustUpdate(t, other, c.fn)
		got := db.AccessEpoch(ctx)
		if got == label || got == (Epoch{}) {
			t.Fatalf("%s: AccessEpoch %+v, was %+v", c.what, got, label)
		}
		label = got
	}
	// A cascade: the space's deletion removes its members, which only the
	// members' trigger says (the spaces' moves another generation).
	mustUpdate(t, other, func(tx *Tx) error { return tx.SetMember(ctx, "s", uid, "editor") })
	label = db.AccessEpoch(ctx)
	mustUpdate(t, other, func(tx *Tx) error { return tx.DeleteSpace(ctx, "s") })
	if got := db.AccessEpoch(ctx); got == label {
		t.Error("a space deleted with a member: AccessEpoch did not move")
	}
}
