package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestUploadsConformance runs each uploads query against a real SQLite file.
func TestUploadsConformance(t *testing.T) {
	ctx := context.Background()
	db, _ := openNodesDB(t)
	users := createUsers(t, db, "alice", "bob")
	now := time.Unix(1_700_000_000, 42).UTC()
	later := now.Add(time.Hour)

	a := Upload{ID: "a", UserID: users[0].ID, SpaceID: "s", Path: "x/a.jpg", Size: 10, State: UploadReceiving,
		SHA256State: []byte{1, 2, 3}, Expect: "sha1:abcd", MTime: time.Unix(5, 0).UTC(),
		CreatedAt: now, UpdatedAt: now, ExpiresAt: later}
	b := Upload{ID: "b", UserID: users[1].ID, TokenID: "tok", SpaceID: "s", Path: "b", Size: -1, State: UploadReceiving,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now}
	p := Upload{ID: "p", UserID: users[1].ID, Size: 7, Partial: true, State: UploadReceiving,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: later}
	mustUpdate(t, db, func(tx *Tx) error {
		for _, u := range []Upload{a, b, p} {
			if err := tx.InsertUpload(ctx, u); err != nil {
				return err
			}
		}
		return nil
	})

	t.Run("get", func(t *testing.T) {
		got, err := db.Upload(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, a) {
			t.Errorf("got %+v\nwant %+v", got, a)
		}
		got, err = db.Upload(ctx, "p")
		if err != nil || got.SpaceID != "" || !got.Partial || got.SHA256State != nil {
			t.Errorf("partial upload: %+v, %v", got, err)
		}
		if _, err := db.Upload(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown upload: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("insert errors", func(t *testing.T) {
		err := db.Update(ctx, func(tx *Tx) error { return tx.InsertUpload(ctx, a) })
		if !errors.Is(err, ErrExists) {
			t.Errorf("duplicate id: err = %v, want ErrExists", err)
		}
		bad := a
		bad.ID, bad.SpaceID = "c", "nospace"
		err = db.Update(ctx, func(tx *Tx) error { return tx.InsertUpload(ctx, bad) })
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown space: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("progress and size", func(t *testing.T) {
		mustUpdate(t, db, func(tx *Tx) error {
			if err := tx.SaveUploadProgress(ctx, "a", 6, 4, []byte{9}, []byte{8}, later.Add(time.Hour), later); err != nil {
				return err
			}
			return tx.SetUploadSize(ctx, "b", 20, later)
		})
		got, _ := db.Upload(ctx, "a")
		if got.Received != 6 || got.Hashed != 4 || !reflect.DeepEqual(got.SHA256State, []byte{9}) ||
			!reflect.DeepEqual(got.SHA1State, []byte{8}) || !got.ExpiresAt.Equal(later.Add(time.Hour)) {
			t.Errorf("after progress: %+v", got)
		}
		if got, _ := db.Upload(ctx, "b"); got.Size != 20 {
			t.Errorf("size = %d, want 20", got.Size)
		}
		err := db.Update(ctx, func(tx *Tx) error { return tx.SaveUploadProgress(ctx, "nope", 1, 1, nil, nil, now, now) })
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("progress of unknown upload: err = %v", err)
		}
	})

	t.Run("pending bytes", func(t *testing.T) {
		n, err := db.PendingUploadBytes(ctx, "s", "")
		if err != nil || n != 30 {
			t.Errorf("pending = %d, %v; want 30", n, err)
		}
		if n, _ := db.PendingUploadBytes(ctx, "s", "b"); n != 10 {
			t.Errorf("pending except b = %d, want 10", n)
		}
	})

	t.Run("expired", func(t *testing.T) {
		us, err := db.ExpiredUploads(ctx, now)
		if err != nil || len(us) != 1 || us[0].ID != "b" {
			t.Errorf("expired at now: %v, %v; want [b]", us, err)
		}
	})

	t.Run("states", func(t *testing.T) {
		mustUpdate(t, db, func(tx *Tx) error {
			return tx.SetUploadState(ctx, Upload{ID: "a", State: UploadDone, NodeID: 77, ETag: `"e"`, Received: 10}, later)
		})
		got, _ := db.Upload(ctx, "a")
		if got.State != UploadDone || got.NodeID != 77 || got.ETag != `"e"` || got.Received != 10 || got.Path != "x/a.jpg" {
			t.Errorf("after done: %+v", got)
		}
		if us, _ := db.UploadsIn(ctx, UploadDone); len(us) != 1 || us[0].ID != "a" {
			t.Errorf("done uploads: %v", us)
		}
		if n, _ := db.PendingUploadBytes(ctx, "s", ""); n != 20 {
			t.Errorf("pending after done = %d, want 20", n)
		}
		var ids []string
		mustUpdate(t, db, func(tx *Tx) error {
			var err error
			ids, err = tx.DeleteFinishedUploads(ctx, later.Add(time.Nanosecond))
			return err
		})
		if !reflect.DeepEqual(ids, []string{"a"}) {
			t.Errorf("deleted %v, want [a]", ids)
		}
		mustUpdate(t, db, func(tx *Tx) error { return tx.DeleteUpload(ctx, "b") })
		if _, err := db.Upload(ctx, "b"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted upload still there: %v", err)
		}
	})
}
