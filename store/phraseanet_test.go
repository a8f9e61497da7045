package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestPhraseanetConformance runs each Phraseanet query against a real
// SQLite file.
func TestPhraseanetConformance(t *testing.T) {
	ctx := context.Background()
	db, root := openNodesDB(t)
	now := time.Unix(1_700_000_000, 42).UTC()

	var files []Node
	mustUpdate(t, db, func(tx *Tx) error {
		dir, err := tx.InsertNode(ctx, Node{SpaceID: "s", ParentID: root.ID, Path: "in", Name: "in", IsDir: true,
			MTime: now, CTime: now, ETag: `"d"`})
		if err != nil {
			return err
		}
		for _, p := range []string{"in/a.jpg", "in/b.jpg", "in/c.jpg"} {
			n, err := tx.InsertNode(ctx, Node{SpaceID: "s", ParentID: dir.ID, Path: p, Name: p[3:], Size: 10,
				MTime: now, CTime: now, ETag: `"f"`, MIME: "image/jpeg"})
			if err != nil {
				return err
			}
			files = append(files, n)
		}
		_, err = tx.InsertNode(ctx, Node{SpaceID: "s", ParentID: root.ID, Path: "out.txt", Name: "out.txt", Size: 1,
			MTime: now, CTime: now, ETag: `"o"`})
		return err
	})

	tg := Target{ID: "t1", Name: "dam", SpaceID: "s", Folder: "in", Mode: "both", EnqueueURL: "https://dam/enqueue/",
		Scheme: "OAuth", Key: "k", Destination: "12", Params: `{"a":"b"}`, FormSchema: `{"fields":[]}`,
		Every: 15 * time.Minute, MaxFiles: 500, MaxBytes: 1 << 30, AfterAck: "move:_done", Grace: time.Minute,
		Retention: time.Hour, Enabled: true, ClientID: "cid", ClientSecretHash: "sha256:5ec", CreatedAt: now}

	t.Run("targets", func(t *testing.T) {
		mustUpdate(t, db, func(tx *Tx) error { return tx.InsertTarget(ctx, tg) })
		got, err := db.Target(ctx, "t1")
		if err != nil || !reflect.DeepEqual(got, tg) {
			t.Fatalf("got %+v, %v\nwant %+v", got, err, tg)
		}
		if got, err := db.TargetByName(ctx, "dam"); err != nil || got.ID != "t1" {
			t.Errorf("by name: %+v, %v", got, err)
		}
		if got, err := db.TargetByClientID(ctx, "cid"); err != nil || got.ID != "t1" {
			t.Errorf("by client id: %+v, %v", got, err)
		}
		dup := tg
		dup.ID, dup.ClientID = "t2", "cid2"
		if err := db.Update(ctx, func(tx *Tx) error { return tx.InsertTarget(ctx, dup) }); !errors.Is(err, ErrExists) {
			t.Errorf("duplicate name: %v, want ErrExists", err)
		}
		dup.Name, dup.SpaceID = "other", "nospace"
		if err := db.Update(ctx, func(tx *Tx) error { return tx.InsertTarget(ctx, dup) }); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown space: %v, want ErrNotFound", err)
		}
		mustUpdate(t, db, func(tx *Tx) error { return tx.SetTargetLastRun(ctx, "t1", now.Add(time.Hour)) })
		if got, _ := db.Target(ctx, "t1"); !got.LastRunAt.Equal(now.Add(time.Hour)) {
			t.Errorf("last run %v", got.LastRunAt)
		}
		if _, err := db.Target(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown target: %v", err)
		}
	})

	asset := func(id string, n Node) Asset {
		return Asset{ID: id, NodeID: n.ID, SpaceID: "s", Path: n.Path, Size: n.Size, OriginalName: n.Name,
			MIME: n.MIME, CreatedAt: now}
	}
	c1 := Commit{ID: "c1", TargetID: "t1", Token: "tok1", UserID: 3, FormData: `{"x":1}`, TotalSize: 20,
		State: CommitPending, Push: true, CreatedAt: now}
	c2 := Commit{ID: "c2", TargetID: "t1", Token: "tok2", TotalSize: 10, State: CommitPending, Push: true,
		NextAttemptAt: now.Add(time.Minute), CreatedAt: now.Add(time.Second)}

	t.Run("commits", func(t *testing.T) {
		if got, _ := db.UnhandedFiles(ctx, "s", "in", time.Now()); len(got) != 3 {
			t.Fatalf("unhanded before: %d files, want 3", len(got))
		}
		mustUpdate(t, db, func(tx *Tx) error {
			return tx.InsertCommit(ctx, c1, []Asset{asset("a1", files[0]), asset("a2", files[1])})
		})
		err := db.Update(ctx, func(tx *Tx) error {
			return tx.InsertCommit(ctx, Commit{ID: "cx", TargetID: "t1", Token: "tokx", State: CommitPending, CreatedAt: now},
				[]Asset{asset("ax", files[0])})
		})
		if !errors.Is(err, ErrExists) {
			t.Errorf("node in two commits: %v, want ErrExists", err)
		}
		if _, err := db.Commit(ctx, "cx"); !errors.Is(err, ErrNotFound) {
			t.Errorf("failed commit left a row: %v", err)
		}
		mustUpdate(t, db, func(tx *Tx) error { return tx.InsertCommit(ctx, c2, []Asset{asset("a3", files[2])}) })
		got, err := db.Commit(ctx, "c1")
		if err != nil || !reflect.DeepEqual(got, c1) {
			t.Errorf("got %+v, %v\nwant %+v", got, err, c1)
		}
		as, err := db.CommitAssets(ctx, "c1")
		if err != nil || len(as) != 2 || as[0].ID != "a1" || as[0].CommitID != "c1" || as[0].OriginalName != "a.jpg" {
			t.Errorf("assets %+v, %v", as, err)
		}
		if got, _ := db.UnhandedFiles(ctx, "s", "in", time.Now()); len(got) != 0 {
			t.Errorf("unhanded after: %v", got)
		}
		if got, _ := db.UnhandedFiles(ctx, "s", "", time.Now()); len(got) != 1 || got[0].Path != "out.txt" {
			t.Errorf("unhanded in the space: %v", got)
		}
		done, err := db.HandedOff(ctx, []int64{files[0].ID, files[2].ID, 9999})
		if err != nil || !done[files[0].ID] || !done[files[2].ID] || done[9999] {
			t.Errorf("handed off %v, %v", done, err)
		}
	})

	t.Run("outbox", func(t *testing.T) {
		due, err := db.DueCommits(ctx, now, 10)
		if err != nil || len(due) != 1 || due[0].ID != "c1" {
			t.Fatalf("due %+v, %v", due, err)
		}
		next, ok, err := db.NextPushAt(ctx)
		if err != nil || !ok || next.UnixNano() != 0 { // c1: at once
			t.Errorf("next %v %v %v", next, ok, err)
		}
		f := c1
		f.State, f.Attempts, f.LastError, f.NextAttemptAt = CommitFailing, 1, "boom", now.Add(2*time.Minute)
		mustUpdate(t, db, func(tx *Tx) error {
			changed, err := tx.SetCommitPush(ctx, f)
			if !changed {
				t.Error("not changed")
			}
			return err
		})
		next, ok, _ = db.NextPushAt(ctx)
		if !ok || !next.Equal(now.Add(time.Minute)) {
			t.Errorf("next after failure %v, want c2's", next)
		}
		if due, _ := db.DueCommits(ctx, now.Add(90*time.Second), 10); len(due) != 1 || due[0].ID != "c2" {
			t.Errorf("due later: %+v", due)
		}
	})

	t.Run("ack", func(t *testing.T) {
		var acked bool
		mustUpdate(t, db, func(tx *Tx) (err error) { acked, err = tx.AckAsset(ctx, "a1", now); return })
		if acked {
			t.Error("commit acknowledged with one of two assets")
		}
		for range 2 {
			mustUpdate(t, db, func(tx *Tx) (err error) { acked, err = tx.AckAsset(ctx, "a2", now); return })
			if got, _ := db.Commit(ctx, "c1"); got.State != CommitAcknowledged || got.AcknowledgedAt.IsZero() {
				t.Errorf("commit after last ack: %+v", got)
			}
		}
		if acked {
			t.Error("second ack reported the commit acknowledged again")
		}
		p := c1
		p.State = CommitPushed
		mustUpdate(t, db, func(tx *Tx) error {
			changed, err := tx.SetCommitPush(ctx, p)
			if changed {
				t.Error("push outcome overwrote an acknowledged commit")
			}
			return err
		})
		if err := db.Update(ctx, func(tx *Tx) error { _, err := tx.AckAsset(ctx, "nope", now); return err }); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown asset: %v", err)
		}
		mustUpdate(t, db, func(tx *Tx) (err error) { acked, err = tx.AckCommit(ctx, "c2", now); return })
		if !acked {
			t.Error("AckCommit did not acknowledge")
		}
		if as, _ := db.CommitAssets(ctx, "c2"); as[0].AcknowledgedAt.IsZero() {
			t.Error("AckCommit left an asset unacknowledged")
		}
		if cs, _ := db.AckedCommits(ctx); len(cs) != 2 {
			t.Errorf("acked commits: %d", len(cs))
		}
	})

	t.Run("list", func(t *testing.T) {
		mustUpdate(t, db, func(tx *Tx) error {
			return tx.InsertCommit(ctx, Commit{ID: "c3", TargetID: "t1", Token: "tok3", State: CommitPending,
				CreatedAt: now.Add(time.Hour)}, nil)
		})
		cs, total, err := db.Commits(ctx, CommitFilter{TargetID: "t1"})
		if err != nil || total != 3 || len(cs) != 3 || cs[0].ID != "c3" || cs[1].ID != "c1" {
			t.Errorf("unacknowledged first: %v %d %v", ids(cs), total, err)
		}
		no := false
		cs, total, _ = db.Commits(ctx, CommitFilter{TargetID: "t1", Acknowledged: &no})
		if total != 1 || cs[0].ID != "c3" {
			t.Errorf("acknowledged=false: %v", ids(cs))
		}
		cs, total, _ = db.Commits(ctx, CommitFilter{Limit: 1, Offset: 1})
		if total != 3 || len(cs) != 1 || cs[0].ID != "c1" {
			t.Errorf("page 2 of 1: %v %d", ids(cs), total)
		}
	})

	t.Run("prune", func(t *testing.T) {
		mustUpdate(t, db, func(tx *Tx) error { return tx.SetCommitDisposed(ctx, "c1", now) })
		var n int64
		mustUpdate(t, db, func(tx *Tx) (err error) { n, err = tx.PruneCommits(ctx, "t1", now.Add(time.Second), now); return })
		if n != 1 {
			t.Errorf("pruned %d, want 1 (c2 is not disposed)", n)
		}
		if _, err := db.Asset(ctx, "a1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("asset of pruned commit: %v", err)
		}
		done, _ := db.HandedOff(ctx, []int64{files[0].ID, files[1].ID})
		if !done[files[0].ID] || !done[files[1].ID] {
			t.Errorf("pruned files forgotten: %v", done)
		}
		if got, _ := db.UnhandedFiles(ctx, "s", "in", time.Now()); len(got) != 0 {
			t.Errorf("pruned files are committable again: %v", got)
		}
	})

	t.Run("pull tokens", func(t *testing.T) {
		pt := PullToken{Hash: "h", TargetID: "t1", Scope: "commit:list", ExpiresAt: now.Add(time.Hour)}
		mustUpdate(t, db, func(tx *Tx) error { return tx.InsertPullToken(ctx, pt) })
		if got, err := db.PullToken(ctx, "h"); err != nil || !reflect.DeepEqual(got, pt) {
			t.Errorf("got %+v, %v", got, err)
		}
		mustUpdate(t, db, func(tx *Tx) error { _, err := tx.DeleteExpiredPullTokens(ctx, now.Add(2*time.Hour)); return err })
		if _, err := db.PullToken(ctx, "h"); !errors.Is(err, ErrNotFound) {
			t.Errorf("expired token kept: %v", err)
		}
	})

	t.Run("delete target", func(t *testing.T) {
		mustUpdate(t, db, func(tx *Tx) error { return tx.DeleteTarget(ctx, "t1") })
		if _, err := db.Commit(ctx, "c3"); !errors.Is(err, ErrNotFound) {
			t.Errorf("commit of deleted target: %v", err)
		}
		if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteTarget(ctx, "t1") }); !errors.Is(err, ErrNotFound) {
			t.Errorf("delete twice: %v", err)
		}
	})
}

func ids(cs []Commit) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}
