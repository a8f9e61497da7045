package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLinks: a link follows its node's moves, goes with it, and its limit
// is counted atomically.
func TestLinks(t *testing.T) {
	db := searchFixture(t)
	ctx := context.Background()
	now := time.Unix(1700000000, 0)
	var u User
	err := db.Update(ctx, func(tx *Tx) error {
		var err error
		u, err = tx.CreateUser(ctx, User{Name: "alice", PasswordHash: "x", CreatedAt: now})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.Node(ctx, "a", "Docs/notes.txt")
	if err != nil {
		t.Fatal(err)
	}
	l := Link{ID: "l1", TokenHash: "h1", NodeID: n.ID, CreatorID: u.ID, Kind: LinkRead, MaxDownloads: 2, CreatedAt: now}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.CreateLink(ctx, l) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx *Tx) error {
		return tx.CreateLink(ctx, Link{ID: "l2", TokenHash: "h1", NodeID: n.ID, CreatorID: u.ID, Kind: LinkRead, CreatedAt: now})
	}); !errors.Is(err, ErrExists) {
		t.Errorf("a second link with the same token hash: %v, want ErrExists", err)
	}
	root, _ := db.Node(ctx, "b", "")
	err = db.Update(ctx, func(tx *Tx) error {
		return tx.MoveSubtree(ctx, "a", "Docs/notes.txt", "b", "moved.txt", root.ID, "moved.txt")
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.LinkByHash(ctx, "h1")
	if err != nil || got.SpaceID != "b" || got.Path != "moved.txt" || got.Creator != "alice" {
		t.Fatalf("after a move: %+v, %v", got, err)
	}
	for i, want := range []error{nil, nil, ErrLinkUsedUp} {
		if err := db.Update(ctx, func(tx *Tx) error { return tx.ChargeLink(ctx, "l1", LinkRead) }); !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Errorf("download %d: %v, want %v", i+1, err, want)
		}
	}
	if ls, err := db.Links(ctx, "b", 0); err != nil || len(ls) != 1 || ls[0].Downloads != 2 {
		t.Errorf("Links(b): %+v, %v", ls, err)
	}
	if err := db.Update(ctx, func(tx *Tx) error { _, err := tx.DeleteSubtree(ctx, "b", "moved.txt"); return err }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Link(ctx, "l1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("link of a deleted node: %v, want ErrNotFound", err)
	}
}
