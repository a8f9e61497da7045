package store

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestJobClaims: a job is held by one owner at a time, until its lease
// ends or it is released.
func TestJobClaims(t *testing.T) {
	ctx := t.Context()
	db := openTest(t)
	base := time.Unix(1700000000, 0).UTC()
	for _, id := range []string{"j1", "j2"} {
		mustUpdate(t, db, func(tx *Tx) error {
			return tx.InsertJob(ctx, Job{ID: id, SpaceID: "s", Path: id, Staged: "/x/" + id, State: JobQueued, CreatedAt: base, UpdatedAt: base})
		})
	}
	claim := func(id, owner string, now time.Time) bool {
		t.Helper()
		var ok bool
		mustUpdate(t, db, func(tx *Tx) (err error) {
			ok, err = tx.ClaimJob(ctx, id, owner, now, now.Add(30*time.Second))
			return err
		})
		return ok
	}
	unclaimed := func(now time.Time) []string {
		t.Helper()
		ids, err := db.UnclaimedJobs(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if got := unclaimed(base); !slices.Equal(got, []string{"j1", "j2"}) {
		t.Fatalf("unclaimed = %v", got)
	}
	if !claim("j1", "a", base) {
		t.Fatal("a cannot claim a free job")
	}
	if claim("j1", "b", base.Add(10*time.Second)) {
		t.Fatal("b claimed a job a holds")
	}
	if !claim("j1", "a", base.Add(20*time.Second)) {
		t.Fatal("a cannot renew its claim")
	}
	if got := unclaimed(base.Add(40 * time.Second)); !slices.Equal(got, []string{"j2"}) {
		t.Fatalf("unclaimed with a's renewed lease = %v", got)
	}
	if claim("j1", "b", base.Add(49*time.Second)) {
		t.Fatal("b claimed a job before a's renewed lease ended")
	}
	if got := unclaimed(base.Add(51 * time.Second)); !slices.Equal(got, []string{"j1", "j2"}) {
		t.Fatalf("unclaimed after a's lease = %v", got)
	}
	if !claim("j1", "b", base.Add(51*time.Second)) {
		t.Fatal("b cannot take a job whose lease ended")
	}
	if claim("j1", "a", base.Add(52*time.Second)) {
		t.Fatal("a took back a job b holds")
	}
	mustUpdate(t, db, func(tx *Tx) error { return tx.ReleaseJob(ctx, "j1", "a") }) // not a's: nothing
	if claim("j1", "c", base.Add(53*time.Second)) {
		t.Fatal("a released b's claim")
	}
	mustUpdate(t, db, func(tx *Tx) error { return tx.ReleaseJob(ctx, "j1", "b") })
	if !claim("j1", "c", base.Add(53*time.Second)) {
		t.Fatal("c cannot claim a released job")
	}
	if claim("nope", "a", base) {
		t.Fatal("claimed a job that is not there")
	}
	// The claim survives UpdateJob (the pipeline's records).
	j, err := db.Job(ctx, "j1")
	if err != nil {
		t.Fatal(err)
	}
	j.State = JobRunning
	mustUpdate(t, db, func(tx *Tx) error { return tx.UpdateJob(ctx, j) })
	if claim("j1", "d", base.Add(54*time.Second)) {
		t.Fatal("UpdateJob dropped the claim")
	}
}

// TestLeases: a named lease has one holder at a time.
func TestLeases(t *testing.T) {
	ctx := t.Context()
	db := openTest(t)
	base := time.Unix(1700000000, 0).UTC()
	take := func(name, owner string, now time.Time) bool {
		t.Helper()
		var ok bool
		mustUpdate(t, db, func(tx *Tx) (err error) {
			ok, err = tx.TakeLease(ctx, name, owner, now, now.Add(30*time.Second))
			return err
		})
		return ok
	}
	steps := []struct {
		name, owner string
		at          time.Duration
		want        bool
	}{
		{"x", "a", 0, true},
		{"x", "b", 10 * time.Second, false},
		{"y", "b", 10 * time.Second, true}, // another lease
		{"x", "a", 20 * time.Second, true}, // renewed until 50 s
		{"x", "b", 49 * time.Second, false},
		{"x", "b", 51 * time.Second, true},
		{"x", "a", 52 * time.Second, false},
	}
	for _, s := range steps {
		if got := take(s.name, s.owner, base.Add(s.at)); got != s.want {
			t.Fatalf("%s takes %s at %v: %v, want %v", s.owner, s.name, s.at, got, s.want)
		}
	}
	mustUpdate(t, db, func(tx *Tx) error { return tx.DropLease(ctx, "x", "a") }) // not a's
	if take("x", "c", base.Add(53*time.Second)) {
		t.Fatal("a dropped b's lease")
	}
	mustUpdate(t, db, func(tx *Tx) error { return tx.DropLease(ctx, "x", "b") })
	if !take("x", "c", base.Add(53*time.Second)) {
		t.Fatal("c cannot take a dropped lease")
	}
}

// TestLead: of several processes leading on one lease, one runs at a
// time; when it stops (its context ends), another takes over.
func TestLead(t *testing.T) {
	ctx := t.Context()
	db := openTest(t)
	var running, most, runs atomic.Int32
	var wg sync.WaitGroup
	cancels := make([]context.CancelFunc, 3)
	started := make(chan int, 10)
	for i := range cancels {
		cctx, cancel := context.WithCancel(ctx)
		cancels[i] = cancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			db.Lead(cctx, "test", NewOwner(), 300*time.Millisecond, nil, func(lctx context.Context) {
				n := running.Add(1)
				if n > most.Load() {
					most.Store(n)
				}
				runs.Add(1)
				started <- i
				<-lctx.Done()
				running.Add(-1)
			})
		}()
	}
	deadline := time.After(time.Minute)
	stopped := map[int]bool{}
	for len(stopped) < len(cancels) {
		select {
		case i := <-started:
			if stopped[i] {
				t.Fatalf("process %d runs after it stopped", i)
			}
			stopped[i] = true
			cancels[i]() // the leader stops: another must take over
		case <-deadline:
			t.Fatalf("only %d of %d processes led", len(stopped), len(cancels))
		}
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Fatalf("%d processes led at once", most.Load())
	}
}
