package postproc

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfhq/wharf/store"
)

// shared makes r claim jobs as on a database shared by several processes
// (the claims work alike on SQLite), with a short lease.
func shared(r *Runner, lease time.Duration) *Runner {
	r.claims.shared, r.claims.lease, r.claims.adopt = true, lease, 50*time.Millisecond
	return r
}

// TestSharedQueueWaitsForLiveOwner: a job another process holds is left
// to it while it renews its lease, and taken over once the lease ends.
func TestSharedQueueWaitsForLiveOwner(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const lease = 900 * time.Millisecond
	rec := record(f.stage(t, "held", "held.txt", []byte("held by another")), time.Now().UTC())
	claim := func(owner string) bool {
		t.Helper()
		var ok bool
		now := time.Now()
		if err := f.db.Update(ctx, func(tx *store.Tx) (err error) {
			ok, err = tx.ClaimJob(ctx, "held", owner, now, now.Add(lease))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if err := f.db.Update(ctx, func(tx *store.Tx) error { return tx.InsertJob(ctx, rec) }); err != nil {
		t.Fatal(err)
	}
	if !claim("other") {
		t.Fatal("cannot claim the job for the other process")
	}
	r := shared(mustNew(t, f.config(nil)), lease)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	for end := time.Now().Add(2 * lease); time.Now().Before(end); time.Sleep(lease / 4) {
		if !claim("other") {
			t.Fatal("the runner took a job whose owner renews its lease")
		}
	}
	if j, err := f.db.Job(ctx, "held"); err != nil || j.State != store.JobQueued {
		t.Fatalf("job while its owner lives: %+v, %v", j, err)
	}
	// The other process "dies": it renews no more.
	if st, err := wait(t, r, "held"); err != nil || st.State != Done {
		t.Fatalf("job after its owner's lease: %+v, %v", st, err)
	}
}

// TestSharedQueueRunsEachJobOnce: two runners on one database, jobs
// submitted to both: each job runs once, and a job whose step outlasts the
// lease is not taken over while its runner renews it.
func TestSharedQueueRunsEachJobOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const lease = 300 * time.Millisecond
	var runs atomic.Int32
	var rs []*Runner
	for range 2 {
		r := shared(mustNew(t, f.config(nil)), lease)
		r.steps = []step{countStep{id: "a", runs: &runs}, slowStep{d: 2 * lease}}
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		rs = append(rs, r)
	}
	const n = 6
	for i := range n {
		id := fmt.Sprintf("j%d", i)
		if err := rs[i%2].Submit(ctx, f.stage(t, id, id+".txt", []byte(id))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		id := fmt.Sprintf("j%d", i)
		if st, err := wait(t, rs[i%2], id); err != nil || st.State != Done {
			t.Fatalf("%s: %+v, %v", id, st, err)
		}
	}
	time.Sleep(4 * lease) // more sweeps: nothing may run again
	if got := runs.Load(); got != n {
		t.Errorf("%d step runs for %d jobs, want one each", got, n)
	}
}

// TestLostClaimStillAnswersItsWaiter: a runner that loses its claim on a
// job while running it (its renewal finds the job another's) abandons the
// run, but whoever waits for the job on that runner still gets its
// outcome once the process that took it over has finished it.
func TestLostClaimStillAnswersItsWaiter(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const lease = 300 * time.Millisecond
	var runs atomic.Int32
	a := shared(mustNew(t, f.config(nil)), lease)
	a.claims.adopt = time.Hour // only b takes the job over
	a.steps = []step{countStep{id: "a", runs: &runs}, slowStep{d: time.Minute}}
	b := shared(mustNew(t, f.config(nil)), lease)
	b.steps = []step{countStep{id: "b", runs: &runs}}
	for _, r := range []*Runner{a, b} {
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
	}
	if err := a.Submit(ctx, f.stage(t, "j", "j.txt", []byte("j"))); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(10 * time.Second); runs.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the job did not start")
		}
	}
	// Another process takes the claim over (as after a stall of a's
	// renewals), then gives it up: b adopts the job and finishes it.
	steal := func(owner string, until time.Time) {
		t.Helper()
		if err := f.db.Update(ctx, func(tx *store.Tx) error {
			_, err := tx.ClaimJob(ctx, "j", owner, time.Now().Add(time.Hour), until)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	steal("thief", time.Now().Add(time.Hour))
	time.Sleep(2 * lease) // a's renewals (every third of it) find the job the thief's
	steal("", time.Time{})
	if st, err := wait(t, a, "j"); err != nil || st.State != Done {
		t.Fatalf("the job as its waiter on the runner that lost it sees it: %+v, %v", st, err)
	}
}

// slowStep takes d.
type slowStep struct{ d time.Duration }

func (s slowStep) name() string { return "slow" }
func (s slowStep) quick() bool  { return true }
func (s slowStep) run(ctx context.Context, _ *Runner, _ *task, _ func(int, string)) error {
	select {
	case <-time.After(s.d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
