package postproc

import (
	"context"
	"time"

	"github.com/wharfhq/wharf/store"
)

// Several processes on one database (replicas on PostgreSQL) share the job
// queue: a process runs a job only once it has claimed it in the database
// (store.Tx.ClaimJob: an owner, this process's id, and a lease it renews
// while the job runs). A job whose owner died is taken by another process
// once the lease has ended: each process looks for such jobs every
// adoptEvery. With SQLite the process is alone: nothing is claimed, and
// the jobs left unfinished are resumed at Start as before.

// jobLease is how long a claim holds without renewal: the longest a job
// of a dead process waits before another takes it over, plus adoptEvery.
const jobLease = 30 * time.Second

// adoptEvery is how often a process looks for jobs nobody holds.
const adoptEvery = 10 * time.Second

type claims struct {
	shared bool   // the DB is shared with other processes: claim jobs
	owner  string // this process's id in the jobs' owner column
	lease  time.Duration
	adopt  time.Duration
}

func newClaims(db *store.DB) claims {
	return claims{shared: db.Postgres(), owner: store.NewOwner(), lease: jobLease, adopt: adoptEvery}
}

// unclaimed keeps of jobs those nobody holds (all of them if the DB is
// not shared).
func (r *Runner) unclaimed(ctx context.Context, jobs []store.Job) ([]store.Job, error) {
	if !r.claims.shared {
		return jobs, nil
	}
	ids, err := r.db.UnclaimedJobs(ctx, time.Now())
	if err != nil {
		return nil, err
	}
	free := make(map[string]bool, len(ids))
	for _, id := range ids {
		free[id] = true
	}
	out := jobs[:0]
	for _, j := range jobs {
		if free[j.ID] {
			out = append(out, j)
		}
	}
	return out, nil
}

// adoptLoop queues, every adopt interval, the jobs nobody holds: those of
// a process that died (their lease ended) or that has not claimed them yet.
func (r *Runner) adoptLoop(ctx context.Context) {
	defer r.wg.Done()
	t := time.NewTicker(r.claims.adopt)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ids, err := r.db.UnclaimedJobs(ctx, time.Now())
		if err != nil {
			if ctx.Err() == nil {
				r.log.ErrorContext(ctx, "cannot list unclaimed jobs", "err", err)
			}
			continue
		}
		for _, id := range ids {
			r.enqueue(id)
		}
	}
}

// process runs a job if this process may: with a shared DB, once it has
// claimed it, renewing the claim while it runs and releasing it after.
// A job another live process holds is left to it.
func (r *Runner) process(ctx context.Context, id string) (retry bool) {
	if !r.claims.shared {
		return r.processJob(ctx, id)
	}
	ok, err := r.claim(ctx, id)
	if err != nil {
		if ctx.Err() == nil {
			r.log.ErrorContext(ctx, "cannot claim a job", "job_id", id, "err", err)
		}
		return ctx.Err() == nil
	}
	if !ok {
		// Another process runs it.
		return r.waited(id)
	}
	r.log.DebugContext(ctx, "running a claimed job", "job_id", id)
	jctx, stop := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		r.keepClaim(jctx, id, stop)
	}()
	retry = r.processJob(jctx, id)
	stop()
	<-renewed
	bg := context.WithoutCancel(ctx)
	if err := r.db.Update(bg, func(tx *store.Tx) error { return tx.ReleaseJob(bg, id, r.claims.owner) }); err != nil {
		r.log.ErrorContext(ctx, "cannot release a job", "job_id", id, "err", err)
	}
	if jctx.Err() != nil && ctx.Err() == nil {
		// The claim was lost: the job is another's now, and is watched
		// as any job another process runs.
		return r.waited(id)
	}
	return retry
}

// waited reports whether someone here waits for job id, which another
// process runs: then it is to be looked at again later, and once it is
// final there processJob finishes it here (its waiters get the outcome).
func (r *Runner) waited(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.live[id] != nil
}

// claimIn claims a job just submitted in the transaction that records it,
// so that no other process takes it before this one queues it.
func (r *Runner) claimIn(ctx context.Context, tx *store.Tx, id string) error {
	if !r.claims.shared {
		return nil
	}
	now := time.Now()
	_, err := tx.ClaimJob(ctx, id, r.claims.owner, now, now.Add(r.claims.lease))
	return err
}

func (r *Runner) claim(ctx context.Context, id string) (ok bool, err error) {
	now := time.Now()
	err = r.db.Update(ctx, func(tx *store.Tx) (err error) {
		ok, err = tx.ClaimJob(ctx, id, r.claims.owner, now, now.Add(r.claims.lease))
		return err
	})
	return ok, err
}

// keepClaim renews the claim on a job every third of the lease until ctx
// ends; it calls lost when the claim is another's, or could not be renewed
// and ends before the next try.
func (r *Runner) keepClaim(ctx context.Context, id string, lost func()) {
	every := r.claims.lease / 3
	until := time.Now().Add(r.claims.lease)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		ok, err := r.claim(ctx, id)
		switch {
		case ctx.Err() != nil:
			return
		case ok:
			until = start.Add(r.claims.lease)
		case err == nil || time.Until(until) < every:
			r.log.ErrorContext(ctx, "lost the claim on a job: abandoning it", "job_id", id, "err", err)
			lost()
			return
		}
	}
}
