package store

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func jobIDs(js []Job) []string {
	out := make([]string, 0, len(js))
	for _, j := range js {
		out = append(out, j.ID)
	}
	return out
}

// TestJobsConformance runs each job query against a real SQLite file.
func TestJobsConformance(t *testing.T) {
	ctx := t.Context()
	path := testLocation(t)
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	base := time.Unix(1700000000, 123).UTC()
	full := Job{ID: "j1", SpaceID: "s", Path: "a/b.jpg", Staged: "/data/uploads/j1", Size: 42,
		SHA256: "ab", SHA1: "cd", Expect: "md5:ef sha1:cd", UserID: 7, UserName: "alice",
		MTime: base.Add(-time.Hour), Quick: true, IfMatch: `"x"`, IfNoneMatch: "*", State: JobQueued,
		CreatedAt: base, UpdatedAt: base}
	ins := func(j Job) {
		t.Helper()
		mustUpdate(t, db, func(tx *Tx) error { return tx.InsertJob(ctx, j) })
	}
	ins(full)

	t.Run("round trip", func(t *testing.T) {
		got, err := db.Job(ctx, "j1")
		if err != nil {
			t.Fatal(err)
		}
		if got != full {
			t.Errorf("got  %+v\nwant %+v", got, full)
		}
	})
	t.Run("zero mtime stays zero", func(t *testing.T) {
		ins(Job{ID: "j0", SpaceID: "s", Path: "z", State: JobQueued, CreatedAt: base, UpdatedAt: base})
		got, err := db.Job(ctx, "j0")
		if err != nil || !got.MTime.IsZero() {
			t.Errorf("mtime = %v, %v; want zero", got.MTime, err)
		}
	})
	t.Run("duplicate id", func(t *testing.T) {
		err := db.Update(ctx, func(tx *Tx) error { return tx.InsertJob(ctx, full) })
		if !errors.Is(err, ErrExists) {
			t.Errorf("err = %v, want ErrExists", err)
		}
	})
	t.Run("bad state refused", func(t *testing.T) {
		err := db.Update(ctx, func(tx *Tx) error {
			return tx.InsertJob(ctx, Job{ID: "bad", SpaceID: "s", State: "weird", CreatedAt: base, UpdatedAt: base})
		})
		if err == nil {
			t.Error("a job with an unknown state was stored")
		}
	})
	t.Run("unknown", func(t *testing.T) {
		if _, err := db.Job(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
		err := db.Update(ctx, func(tx *Tx) error { return tx.UpdateJob(ctx, Job{ID: "nope"}) })
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("update: err = %v, want ErrNotFound", err)
		}
	})
	t.Run("update keeps what was submitted", func(t *testing.T) {
		u := full
		u.Path, u.Size, u.UserName = "other", 1, "mallory" // not updatable
		u.State, u.Step, u.Percent, u.Message, u.StepsDone = JobRunning, "sniff", 50, "half", 2
		u.MIME, u.Metadata, u.SHA256, u.UpdatedAt = "image/jpeg", `{"width":1}`, "ff", base.Add(time.Second)
		mustUpdate(t, db, func(tx *Tx) error { return tx.UpdateJob(ctx, u) })
		got, err := db.Job(ctx, "j1")
		if err != nil {
			t.Fatal(err)
		}
		want := full
		want.State, want.Step, want.Percent, want.Message, want.StepsDone = JobRunning, "sniff", 50, "half", 2
		want.MIME, want.Metadata, want.SHA256, want.UpdatedAt = "image/jpeg", `{"width":1}`, "ff", base.Add(time.Second)
		if got != want {
			t.Errorf("got  %+v\nwant %+v", got, want)
		}
	})

	t.Run("pending and prune", func(t *testing.T) {
		at := func(id, state, staged string, updated time.Time) {
			ins(Job{ID: id, SpaceID: "s", Path: id, Staged: staged, State: state,
				CreatedAt: updated, UpdatedAt: updated})
		}
		old, recent := base.Add(-48*time.Hour), base.Add(time.Minute)
		at("p-inst", JobInstalling, "", old)
		at("p-done-old", JobDone, "", old)
		at("p-done-new", JobDone, "", recent)
		at("p-rej-old", JobRejected, "", old)
		at("p-rej-undisposed", JobRejected, "/x", old)
		got, err := db.PendingJobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"p-inst", "p-rej-undisposed", "j0", "j1"}
		if ids := jobIDs(got); !slices.Equal(ids, want) {
			t.Errorf("pending = %v, want %v", ids, want)
		}
		var n int64
		mustUpdate(t, db, func(tx *Tx) (err error) {
			n, err = tx.DeleteFinishedJobs(ctx, base)
			return err
		})
		if n != 2 {
			t.Errorf("pruned %d jobs, want 2 (the old done and the old disposed rejected)", n)
		}
		for _, id := range []string{"p-done-old", "p-rej-old"} {
			if _, err := db.Job(ctx, id); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s survived the prune: %v", id, err)
			}
		}
		for _, id := range []string{"p-inst", "p-done-new", "p-rej-undisposed", "j1"} {
			if _, err := db.Job(ctx, id); err != nil {
				t.Errorf("%s was pruned: %v", id, err)
			}
		}
	})

	t.Run("survives reopen", func(t *testing.T) {
		db2, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer db2.Close()
		if j, err := db2.Job(ctx, "j1"); err != nil || j.Step != "sniff" {
			t.Errorf("after reopen: %+v, %v", j, err)
		}
	})
}
