package store

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Snapshot writes a consistent copy of the database to the new file path
// with VACUUM INTO: one read transaction, so the copy is the state of one
// instant however busy the writer is (WAL readers do not block it, nor it
// them). path must not exist; it is created with FileMode (0600) whatever
// the umask. The copy is fsynced before Snapshot returns.
//
// On PostgreSQL it returns an error wrapping errors.ErrUnsupported: the
// copy is pg_dump's to make (docs/postgres.md).
func (db *DB) Snapshot(ctx context.Context, path string) (err error) {
	if db.d.pg {
		return errNotSQLite("snapshot", "back it up with pg_dump (docs/postgres.md)")
	}
	// VACUUM INTO fills an empty file and keeps its mode; the file it
	// creates itself would be 0644 less the umask.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, FileMode)
	if err != nil {
		return fmt.Errorf("store: snapshot to %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			os.Remove(path)
		}
	}()
	err = f.Chmod(FileMode) // exactly, even under a umask that takes the owner's bits
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: snapshot to %s: %w", path, err)
	}
	// On the writer connection: the readers are query_only, which refuses
	// VACUUM INTO. It only reads the database, so it does not hold
	// SQLite's write lock (a server beside it keeps writing).
	if _, err := db.w.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("store: snapshot to %s: %w", path, describe(err))
	}
	f, err = os.Open(path)
	if err != nil {
		return fmt.Errorf("store: snapshot to %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("store: snapshot to %s: sync: %w", path, err)
	}
	return nil
}

// IntegrityCheck runs PRAGMA integrity_check and returns what it found
// wrong, nil when the database is sound. On PostgreSQL it returns an
// error wrapping errors.ErrUnsupported: the server checks its own pages
// (data checksums, pg_amcheck; docs/postgres.md).
func (db *DB) IntegrityCheck(ctx context.Context) ([]string, error) {
	if db.d.pg {
		return nil, errNotSQLite("integrity check", "check it with pg_amcheck (docs/postgres.md)")
	}
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: integrity check: %w", describe(err))
	}
	defer conn.Close()
	// FTS5's part of the check uses the index structure the connection
	// last read, even when another connection has written since (a query
	// refreshes it): without this read, a check after writes through the
	// writer reports "checksum mismatch" for node_names where there is none.
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM node_names WHERE node_names MATCH '"zzz"'`).Scan(&n); err != nil {
		return nil, fmt.Errorf("store: integrity check: %w", describe(err))
	}
	rows, err := conn.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return nil, fmt.Errorf("store: integrity check: %w", describe(err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, fmt.Errorf("store: integrity check: %w", describe(err))
		}
		if line != "ok" {
			out = append(out, line)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: integrity check: %w", describe(err))
	}
	return out, nil
}

// AbandonInFlight ends, in a copy of the database that is being restored
// elsewhere, what cannot go on there: tus uploads still receiving or
// processing are deleted (their bytes stay behind), and unfinished
// processing jobs are marked rejected with reason, their staged bytes
// forgotten (the path names the original data directory). It returns how
// many of each it changed.
func (tx *Tx) AbandonInFlight(ctx context.Context, reason string, now time.Time) (uploads, jobs int64, err error) {
	res, err := tx.tx.ExecContext(ctx, "DELETE FROM uploads WHERE state IN (?, ?)", UploadReceiving, UploadProcessing)
	if err != nil {
		return 0, 0, fmt.Errorf("store: abandon uploads: %w", describe(err))
	}
	uploads, _ = res.RowsAffected()
	res, err = tx.tx.ExecContext(ctx,
		`UPDATE jobs SET state = ?, error = ?, staged = '', updated_at = ?
		 WHERE state IN (?, ?, ?) OR staged != ''`,
		JobRejected, reason, nanos(now), JobQueued, JobRunning, JobInstalling)
	if err != nil {
		return 0, 0, fmt.Errorf("store: abandon jobs: %w", describe(err))
	}
	jobs, _ = res.RowsAffected()
	return uploads, jobs, nil
}

// Uploads returns every upload row, ordered by id.
func (r Reader) Uploads(ctx context.Context) ([]Upload, error) {
	return r.queryUploads(ctx, "list uploads", "SELECT "+uploadCols+" FROM uploads ORDER BY id")
}
