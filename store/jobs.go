package store

import (
	"context"
	"fmt"
	"time"
)

// Job states, as the jobs table spells them. The store only checks that a
// state is one of these; what they mean is the pipeline's business.
const (
	JobQueued     = "queued"
	JobRunning    = "running"
	JobInstalling = "installing" // every step passed; the file is being installed
	JobDone       = "done"
	JobRejected   = "rejected"
)

// Job is a row of jobs: a processing job of postproc.
type Job struct {
	ID      string
	SpaceID string
	Path    string
	// Staged is the absolute path of the bytes while they wait to be
	// installed, quarantined or deleted; "" once disposed of.
	Staged string
	// Blob is the key of the bytes in the object store (object-store
	// mode) while they wait, instead of Staged; "" once disposed of.
	Blob        string
	Size        int64
	SHA256      string // lowercase hex, "" until known
	SHA1        string // lowercase hex, "" unless known
	Expect      string // the client's checksums, space-separated "algo:hex"
	UserID      int64  // 0: no user (an upload token)
	UserName    string
	MTime       time.Time // zero: install with the current time
	Quick       bool
	IfMatch     string
	IfNoneMatch string
	State       string // one of the Job* constants
	Step        string // the running, last finished or failed step
	Percent     int
	Message     string
	Error       string // the reason of a rejection
	StepsDone   int    // steps finished, in the pipeline's order
	NodeID      int64  // the installed node, once done
	ETag        string // the installed node's ETag, once done
	MIME        string // the sniffed media type
	Metadata    string // JSON
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const jobCols = `id, space_id, path, staged, size, sha256, sha1, expect, user_id, user_name,
	mtime, quick, if_match, if_none_match, state, step, percent, message, error, steps_done,
	node_id, etag, mime, metadata, created_at, updated_at, blob`

func scanJob(s rowScanner) (Job, error) {
	var j Job
	var mtime, created, updated int64
	err := s.Scan(&j.ID, &j.SpaceID, &j.Path, &j.Staged, &j.Size, &j.SHA256, &j.SHA1, &j.Expect,
		&j.UserID, &j.UserName, &mtime, &j.Quick, &j.IfMatch, &j.IfNoneMatch, &j.State, &j.Step,
		&j.Percent, &j.Message, &j.Error, &j.StepsDone, &j.NodeID, &j.ETag, &j.MIME, &j.Metadata,
		&created, &updated, &j.Blob)
	if err != nil {
		return Job{}, err
	}
	if mtime != 0 {
		j.MTime = fromNanos(mtime)
	}
	j.CreatedAt, j.UpdatedAt = fromNanos(created), fromNanos(updated)
	return j, nil
}

func jobMTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return nanos(t)
}

// Job returns the job with the given id, or an error wrapping ErrNotFound.
func (r Reader) Job(ctx context.Context, id string) (Job, error) {
	j, err := scanJob(r.q.QueryRowContext(ctx, "SELECT "+jobCols+" FROM jobs WHERE id = ?", id))
	if err != nil {
		return Job{}, fmt.Errorf("store: get job %q: %w", id, describe(err))
	}
	return j, nil
}

// PendingJobs returns the jobs that still need work after a restart: those
// not done or rejected, and the rejected ones whose bytes were not disposed
// of (Staged != ""). They come oldest first.
func (r Reader) PendingJobs(ctx context.Context) ([]Job, error) {
	const what = "list pending jobs"
	rows, err := r.q.QueryContext(ctx, "SELECT "+jobCols+` FROM jobs
		WHERE state IN ('queued', 'running', 'installing') OR (state = 'rejected' AND staged != '')
		ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, describe(err))
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	return out, nil
}

// InsertJob stores a new job. It returns an error wrapping ErrExists if the
// id is taken.
func (tx *Tx) InsertJob(ctx context.Context, j Job) error {
	_, err := tx.tx.ExecContext(ctx, "INSERT INTO jobs ("+jobCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		j.ID, j.SpaceID, j.Path, j.Staged, j.Size, j.SHA256, j.SHA1, j.Expect, j.UserID, j.UserName,
		jobMTime(j.MTime), j.Quick, j.IfMatch, j.IfNoneMatch, j.State, j.Step, j.Percent, j.Message,
		j.Error, j.StepsDone, j.NodeID, j.ETag, j.MIME, j.Metadata, nanos(j.CreatedAt), nanos(j.UpdatedAt), j.Blob)
	if err != nil {
		return fmt.Errorf("store: insert job %q: %w", j.ID, describe(err))
	}
	return nil
}

// UpdateJob writes what the pipeline changes (staged, checksums, state,
// step, percent, message, error, steps done, node, ETag, MIME, metadata and
// updated time) to the job with j's ID, or returns an error wrapping
// ErrNotFound. What the job was submitted with is left alone.
func (tx *Tx) UpdateJob(ctx context.Context, j Job) error {
	return tx.execOne(ctx, fmt.Sprintf("update job %q", j.ID),
		`UPDATE jobs SET staged = ?, sha256 = ?, sha1 = ?, state = ?, step = ?, percent = ?, message = ?,
		 error = ?, steps_done = ?, node_id = ?, etag = ?, mime = ?, metadata = ?, updated_at = ?, blob = ?
		 WHERE id = ?`,
		j.Staged, j.SHA256, j.SHA1, j.State, j.Step, j.Percent, j.Message, j.Error, j.StepsDone,
		j.NodeID, j.ETag, j.MIME, j.Metadata, nanos(j.UpdatedAt), j.Blob, j.ID)
}

// DeleteFinishedJobs removes the jobs done or rejected (with their bytes
// disposed of) last updated before the given time, and returns how many
// there were.
func (tx *Tx) DeleteFinishedJobs(ctx context.Context, before time.Time) (int64, error) {
	res, err := tx.tx.ExecContext(ctx,
		"DELETE FROM jobs WHERE state IN ('done', 'rejected') AND staged = '' AND updated_at < ?", nanos(before))
	if err != nil {
		return 0, fmt.Errorf("store: delete finished jobs: %w", describe(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: delete finished jobs: %w", err)
	}
	return n, nil
}
