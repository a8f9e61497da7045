package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Upload states: the bytes are arriving, they are all in and a processing
// job runs, the job installed the file, the job rejected it.
const (
	UploadReceiving  = "receiving"
	UploadProcessing = "processing"
	UploadDone       = "done"
	UploadRejected   = "rejected"
)

// Upload is a row of uploads: one tus upload, from its creation to the end
// of its processing.
type Upload struct {
	ID      string
	UserID  int64
	TokenID string // the upload token that created it; "" for the user's own credentials
	// LinkID is the drop link it came through ("" for none); UserID is
	// then the link's creator.
	LinkID  string
	SpaceID string // "" for a partial upload (concatenation)
	Path    string
	Size    int64 // -1 while the length is deferred
	// Received is the offset last recorded (the file may be longer after a
	// crash).
	Received int64
	Partial  bool
	State    string // one of the Upload* constants
	Step     string // the failed step, once rejected
	Error    string // why it was rejected
	// Hashed is the offset the digest states cover; SHA256State and
	// SHA1State are the digests' encoding.BinaryMarshaler form, nil when
	// that digest is not computed.
	Hashed      int64
	SHA256State []byte
	SHA1State   []byte
	// Expect are the client's whole-file checksums, space-separated
	// "algo:hex".
	Expect string
	MTime  time.Time // the modification time the client asked for; zero: none
	// NodeID and ETag describe the installed file, once done.
	NodeID    int64
	ETag      string
	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time
	// Blob and BlobUpload are, in object-store mode, the key the upload's
	// content gets and the store's id of its staged upload (blob.Upload).
	Blob       string
	BlobUpload string
	// BlobSize is the size the staged upload was created with (-1: the
	// length was deferred then), passed back to the store unchanged.
	BlobSize int64
}

const uploadCols = `id, user_id, token_id, COALESCE(space_id, ''), path, size, received, partial, state,
	step, error, hashed, sha256_state, sha1_state, expect, mtime, node_id, etag, created_at, updated_at, expires_at, link_id, blob, blob_upload, blob_size`

func scanUpload(s rowScanner) (Upload, error) {
	var u Upload
	var mtime, created, updated, expires int64
	err := s.Scan(&u.ID, &u.UserID, &u.TokenID, &u.SpaceID, &u.Path, &u.Size, &u.Received, &u.Partial, &u.State,
		&u.Step, &u.Error, &u.Hashed, &u.SHA256State, &u.SHA1State, &u.Expect, &mtime, &u.NodeID, &u.ETag,
		&created, &updated, &expires, &u.LinkID, &u.Blob, &u.BlobUpload, &u.BlobSize)
	if err != nil {
		return Upload{}, err
	}
	if mtime != 0 {
		u.MTime = fromNanos(mtime)
	}
	u.CreatedAt, u.UpdatedAt, u.ExpiresAt = fromNanos(created), fromNanos(updated), fromNanos(expires)
	return u, nil
}

func (r Reader) queryUploads(ctx context.Context, what, query string, args ...any) ([]Upload, error) {
	rows, err := r.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	defer rows.Close()
	var out []Upload
	for rows.Next() {
		u, err := scanUpload(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, describe(err))
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	return out, nil
}

// Upload returns the upload with the given id, or an error wrapping
// ErrNotFound.
func (r Reader) Upload(ctx context.Context, id string) (Upload, error) {
	u, err := scanUpload(r.q.QueryRowContext(ctx, "SELECT "+uploadCols+" FROM uploads WHERE id = ?", id))
	if err != nil {
		return Upload{}, fmt.Errorf("store: get upload %q: %w", id, describe(err))
	}
	return u, nil
}

// UploadsIn returns the uploads in state, ordered by id.
func (r Reader) UploadsIn(ctx context.Context, state string) ([]Upload, error) {
	return r.queryUploads(ctx, "list "+state+" uploads",
		"SELECT "+uploadCols+" FROM uploads WHERE state = ? ORDER BY id", state)
}

// ExpiredUploads returns the uploads still receiving whose ExpiresAt is not
// after now, ordered by id.
func (r Reader) ExpiredUploads(ctx context.Context, now time.Time) ([]Upload, error) {
	return r.queryUploads(ctx, "list expired uploads",
		"SELECT "+uploadCols+" FROM uploads WHERE state = ? AND expires_at <= ? ORDER BY id",
		UploadReceiving, nanos(now))
}

// PendingUploadBytes returns the announced sizes of the uploads to a space
// that are receiving or processing (while a length is deferred, the bytes
// received so far), except the one with id except: bytes that will count
// against its quota.
func (r Reader) PendingUploadBytes(ctx context.Context, spaceID, except string) (int64, error) {
	var n int64
	err := r.q.QueryRowContext(ctx,
		`SELECT COALESCE(SUM(`+r.d.greatest+`(size, received, 0)), 0) FROM uploads
		 WHERE space_id = ? AND state IN (?, ?) AND id <> ?`,
		spaceID, UploadReceiving, UploadProcessing, except).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: pending upload bytes of %q: %w", spaceID, describe(err))
	}
	return n, nil
}

// ReceivingUserBytes returns the bytes received so far by the uploads of
// user userID still receiving (partial ones included), except the one with
// id except: what the user has stored that no job has taken yet.
func (r Reader) ReceivingUserBytes(ctx context.Context, userID int64, except string) (int64, error) {
	var n int64
	err := r.q.QueryRowContext(ctx,
		`SELECT COALESCE(SUM(received), 0) FROM uploads
		 WHERE state = ? AND user_id = ? AND id <> ?`,
		UploadReceiving, userID, except).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: bytes received for user %d: %w", userID, describe(err))
	}
	return n, nil
}

// InsertUpload stores u. It returns an error wrapping ErrExists if the id
// is taken and ErrNotFound if the user or the space does not exist.
func (tx *Tx) InsertUpload(ctx context.Context, u Upload) error {
	space := sql.NullString{String: u.SpaceID, Valid: u.SpaceID != ""}
	var mtime int64
	if !u.MTime.IsZero() {
		mtime = nanos(u.MTime)
	}
	_, err := tx.tx.ExecContext(ctx,
		`INSERT INTO uploads (id, user_id, token_id, space_id, path, size, received, partial, state, step, error,
			hashed, sha256_state, sha1_state, expect, mtime, node_id, etag, created_at, updated_at, expires_at, link_id,
			blob, blob_upload, blob_size)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.UserID, u.TokenID, space, u.Path, u.Size, u.Received, u.Partial, u.State, u.Step, u.Error,
		u.Hashed, u.SHA256State, u.SHA1State, u.Expect, mtime, u.NodeID, u.ETag,
		nanos(u.CreatedAt), nanos(u.UpdatedAt), nanos(u.ExpiresAt), u.LinkID, u.Blob, u.BlobUpload, u.BlobSize)
	if err != nil {
		return fmt.Errorf("store: insert upload %q: %w", u.ID, describeRef(err))
	}
	return nil
}

// SaveUploadProgress records that an upload has received bytes up to
// received, that its digest states (nil: not computed) cover hashed bytes,
// and when it now expires. It returns an error wrapping ErrNotFound if there
// is no such upload.
func (tx *Tx) SaveUploadProgress(ctx context.Context, id string, received, hashed int64, sha256State, sha1State []byte, expires, now time.Time) error {
	return tx.execOne(ctx, fmt.Sprintf("save progress of upload %q", id),
		`UPDATE uploads SET received = ?, hashed = ?, sha256_state = ?, sha1_state = ?, expires_at = ?, updated_at = ?
		 WHERE id = ?`,
		received, hashed, sha256State, sha1State, nanos(expires), nanos(now), id)
}

// SetUploadBlob records, in object-store mode, the key an upload's content
// gets, the store's id of its staged upload and the size that was created
// with. It returns an error wrapping ErrNotFound if there is no such
// upload.
func (tx *Tx) SetUploadBlob(ctx context.Context, id, key, stagedID string, stagedSize int64, now time.Time) error {
	return tx.execOne(ctx, fmt.Sprintf("set the object of upload %q", id),
		"UPDATE uploads SET blob = ?, blob_upload = ?, blob_size = ?, updated_at = ? WHERE id = ?",
		key, stagedID, stagedSize, nanos(now), id)
}

// SetUploadSize records the length of an upload that deferred it. It
// returns an error wrapping ErrNotFound if there is no such upload.
func (tx *Tx) SetUploadSize(ctx context.Context, id string, size int64, now time.Time) error {
	return tx.execOne(ctx, fmt.Sprintf("set size of upload %q", id),
		"UPDATE uploads SET size = ?, updated_at = ? WHERE id = ?", size, nanos(now), id)
}

// SetUploadState moves an upload to state, with the failed step and reason
// (rejected) or the installed node and its ETag (done); the other fields are
// kept. It returns an error wrapping ErrNotFound if there is no such upload.
func (tx *Tx) SetUploadState(ctx context.Context, u Upload, now time.Time) error {
	return tx.execOne(ctx, fmt.Sprintf("set state of upload %q", u.ID),
		`UPDATE uploads SET state = ?, step = ?, error = ?, node_id = ?, etag = ?, received = ?, updated_at = ?
		 WHERE id = ?`,
		u.State, u.Step, u.Error, u.NodeID, u.ETag, u.Received, nanos(now), u.ID)
}

// DeleteUpload removes an upload's row, or returns an error wrapping
// ErrNotFound.
func (tx *Tx) DeleteUpload(ctx context.Context, id string) error {
	return tx.execOne(ctx, fmt.Sprintf("delete upload %q", id), "DELETE FROM uploads WHERE id = ?", id)
}

// DeleteFinishedUploads removes the done and rejected uploads last updated
// before before, and returns their ids.
func (tx *Tx) DeleteFinishedUploads(ctx context.Context, before time.Time) ([]string, error) {
	rows, err := tx.tx.QueryContext(ctx,
		"DELETE FROM uploads WHERE state IN (?, ?) AND updated_at < ? RETURNING id",
		UploadDone, UploadRejected, nanos(before))
	if err != nil {
		return nil, fmt.Errorf("store: delete finished uploads: %w", describe(err))
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: delete finished uploads: %w", describe(err))
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: delete finished uploads: %w", describe(err))
	}
	return ids, nil
}
