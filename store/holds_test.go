package store

import (
	"context"
	"testing"
	"time"
)

// TestFinalizeHolds: a file installed by the job of an upload made with an
// upload token is held from the transaction that installs it until its
// finalization releases it or its token goes; the uploader is known.
func TestFinalizeHolds(t *testing.T) {
	ctx := context.Background()
	db, root := openNodesDB(t)
	now := time.Unix(1_700_000_000, 0).UTC()
	var user User
	var files []Node
	mustUpdate(t, db, func(tx *Tx) error {
		var err error
		if user, err = tx.CreateUser(ctx, User{Name: "partner", PasswordHash: "x", CreatedAt: now, Email: "p@example.org"}); err != nil {
			return err
		}
		for _, p := range []string{"a.jpg", "b.jpg", "c.jpg"} {
			n, err := tx.InsertNode(ctx, Node{SpaceID: "s", ParentID: root.ID, Path: p, Name: p, Size: 3,
				MTime: now, CTime: now, ETag: `"e"`})
			if err != nil {
				return err
			}
			files = append(files, n)
		}
		return tx.CreateToken(ctx, Token{ID: "up", Hash: "h", UserID: user.ID, Kind: "upload", SpaceID: "s",
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	})
	if got, err := db.UserByID(ctx, user.ID); err != nil || got.Email != "p@example.org" {
		t.Fatalf("user %+v, %v: want its e-mail", got, err)
	}
	// a.jpg by the token, b.jpg by the user's own credentials; c.jpg by
	// WebDAV (no upload).
	for i, tok := range []string{"up", ""} {
		id := []string{"ua", "ub"}[i]
		n := files[i]
		mustUpdate(t, db, func(tx *Tx) error {
			if err := tx.InsertUpload(ctx, Upload{ID: id, UserID: user.ID, TokenID: tok, SpaceID: "s", Path: n.Path,
				Size: 3, State: UploadProcessing, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
				return err
			}
			return tx.InsertJob(ctx, Job{ID: id, SpaceID: "s", Path: n.Path, Size: 3, State: JobRunning, CreatedAt: now, UpdatedAt: now})
		})
		// The install: the job is done with its node, and its uploader
		// recorded, in one transaction (as postproc does).
		mustUpdate(t, db, func(tx *Tx) error {
			if err := tx.UpdateJob(ctx, Job{ID: id, State: JobDone, NodeID: n.ID, UpdatedAt: now}); err != nil {
				return err
			}
			return tx.SetUploader(ctx, n.ID, user.ID)
		})
		mustUpdate(t, db, func(tx *Tx) error {
			return tx.SetUploadState(ctx, Upload{ID: id, State: UploadDone, NodeID: n.ID, Received: 3}, now)
		})
	}
	ids := []int64{files[0].ID, files[1].ID, files[2].ID}
	held, err := db.Held(ctx, ids, now)
	if err != nil || len(held) != 1 || !held[files[0].ID] {
		t.Fatalf("held %v, %v; want only a.jpg", held, err)
	}
	unhanded := func(at time.Time) []string {
		t.Helper()
		ns, err := db.UnhandedFiles(ctx, "s", "", at)
		if err != nil {
			t.Fatal(err)
		}
		var ps []string
		for _, n := range ns {
			ps = append(ps, n.Path)
		}
		return ps
	}
	if got := unhanded(now); len(got) != 2 || got[0] != "b.jpg" {
		t.Errorf("unhanded %q: want b.jpg and c.jpg, not the held a.jpg", got)
	}
	// Once the token has expired, the hold no longer counts.
	if got := unhanded(now.Add(2 * time.Hour)); len(got) != 3 {
		t.Errorf("unhanded after the token's expiry: %q, want all three", got)
	}
	up, err := db.Uploaders(ctx, ids)
	if err != nil || len(up) != 2 || up[files[0].ID] != user.ID || up[files[1].ID] != user.ID {
		t.Errorf("uploaders %v, %v: want a.jpg and b.jpg by %d", up, err, user.ID)
	}
	// A finished job updated again (a resumed pipeline) makes no new hold.
	mustUpdate(t, db, func(tx *Tx) error { return tx.ReleaseHolds(ctx, []int64{files[0].ID}) })
	mustUpdate(t, db, func(tx *Tx) error {
		return tx.UpdateJob(ctx, Job{ID: "ua", State: JobDone, NodeID: files[0].ID, UpdatedAt: now})
	})
	if held, _ := db.Held(ctx, ids, now); len(held) != 0 {
		t.Errorf("held after the release: %v", held)
	}
	// Revoking the token ends its holds.
	mustUpdate(t, db, func(tx *Tx) error {
		_, err := tx.tx.ExecContext(ctx, "INSERT INTO finalize_holds (node_id, upload_id, token_id) VALUES (?, 'ua', 'up')", files[2].ID)
		return err
	})
	if held, _ := db.HoldTokens(ctx, ids); held[files[2].ID] != "up" {
		t.Fatalf("hold tokens %v", held)
	}
	mustUpdate(t, db, func(tx *Tx) error { return tx.DeleteToken(ctx, "up") })
	if held, _ := db.HoldTokens(ctx, ids); len(held) != 0 {
		t.Errorf("holds after the token was revoked: %v", held)
	}
}
