package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"
)

// NewOwner returns a fresh process id for ClaimJob and TakeLease: random,
// so that a process restarted does not pass for the one that died.
func NewOwner() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ClaimJob gives the job with the given id to owner until the given time,
// and reports whether it did: it does when nobody owns the job, when owner
// does already (a renewal), or when its owner's lease ended before now.
// A job that is not there is not claimed (false, nil).
func (tx *Tx) ClaimJob(ctx context.Context, id, owner string, now, until time.Time) (bool, error) {
	res, err := tx.tx.ExecContext(ctx,
		`UPDATE jobs SET owner = ?, lease_until = ? WHERE id = ? AND (owner = ? OR owner = '' OR lease_until < ?)`,
		owner, nanos(until), id, owner, nanos(now))
	if err != nil {
		return false, fmt.Errorf("store: claim job %q: %w", id, describe(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: claim job %q: %w", id, err)
	}
	return n > 0, nil
}

// ReleaseJob gives up owner's claim on a job (nothing if owner does not
// hold it), so that another process may take it at once.
func (tx *Tx) ReleaseJob(ctx context.Context, id, owner string) error {
	_, err := tx.tx.ExecContext(ctx, `UPDATE jobs SET owner = '', lease_until = 0 WHERE id = ? AND owner = ?`, id, owner)
	if err != nil {
		return fmt.Errorf("store: release job %q: %w", id, describe(err))
	}
	return nil
}

// UnclaimedJobs returns the ids of the jobs PendingJobs would return that
// nobody holds at now (no owner, or a lease ended before now), oldest first.
func (r Reader) UnclaimedJobs(ctx context.Context, now time.Time) ([]string, error) {
	const what = "list unclaimed jobs"
	rows, err := r.q.QueryContext(ctx, `SELECT id FROM jobs
		WHERE (state IN ('queued', 'running', 'installing') OR (state = 'rejected' AND staged != ''))
		AND (owner = '' OR lease_until < ?)
		ORDER BY created_at, id`, nanos(now))
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, describe(err))
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	return out, nil
}

// TakeLease gives the named lease to owner until the given time, and
// reports whether it did: it does when nobody holds it, when owner does
// already (a renewal), or when its holder's lease ended before now.
func (tx *Tx) TakeLease(ctx context.Context, name, owner string, now, until time.Time) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
		WHERE leases.owner = excluded.owner OR leases.expires_at < ?`,
		name, owner, nanos(until), nanos(now))
	if err != nil {
		return false, fmt.Errorf("store: take lease %q: %w", name, describe(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: take lease %q: %w", name, err)
	}
	return n > 0, nil
}

// DropLease gives up owner's hold on the named lease (nothing if owner
// does not hold it).
func (tx *Tx) DropLease(ctx context.Context, name, owner string) error {
	_, err := tx.tx.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND owner = ?`, name, owner)
	if err != nil {
		return fmt.Errorf("store: drop lease %q: %w", name, describe(err))
	}
	return nil
}

// Lead runs run while owner holds the named lease, until ctx ends: it
// tries to take the lease every ttl/3, and once it holds it, calls run with
// a context that ends when the lease cannot be renewed in time (another
// process may then take it), renewing it every ttl/3 meanwhile. When ctx
// ends it waits for run to return and drops the lease, so that another
// process takes over at once. At most one process runs run at a time,
// provided run returns within ttl/3 of its context's end and the
// processes' clocks agree to within that margin.
func (db *DB) Lead(ctx context.Context, name, owner string, ttl time.Duration, log *slog.Logger, run func(context.Context)) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	every := ttl / 3
	// take takes or renews the lease; err: the database did not answer.
	take := func() (ok bool, until time.Time, err error) {
		now := time.Now()
		err = db.Update(ctx, func(tx *Tx) (err error) {
			ok, err = tx.TakeLease(ctx, name, owner, now, now.Add(ttl))
			return err
		})
		if err != nil && ctx.Err() == nil {
			log.ErrorContext(ctx, "lease", "lease", name, "err", err)
		}
		return ok, now.Add(ttl), err
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for ctx.Err() == nil {
		if ok, until, _ := take(); ok {
			log.InfoContext(ctx, "lease taken: this process leads", "lease", name)
			lctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				defer close(done)
				run(lctx)
			}()
			for lctx.Err() == nil {
				select {
				case <-lctx.Done():
				case <-done:
					cancel()
				case <-tick.C:
					ok, u, err := take()
					switch {
					case ok:
						until = u
					case err == nil || time.Until(until) < every:
						// Taken by another, or not renewed and ending
						// before the next try: step down before another
						// may lead.
						log.WarnContext(ctx, "lease lost: this process stops leading", "lease", name)
						cancel()
					}
				}
			}
			<-done
			cancel()
			if ctx.Err() != nil {
				bg := context.WithoutCancel(ctx)
				_ = db.Update(bg, func(tx *Tx) error { return tx.DropLease(bg, name, owner) })
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
