package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Retention is how long a space keeps what leaves its visible tree: days
// in the trash (0: no trash, a delete is final), versions kept per file (0:
// none) and the days a version is kept (0: no age limit).
type Retention struct {
	TrashDays    int
	KeepVersions int
	VersionDays  int
}

// DefaultRetention is a new space's retention.
var DefaultRetention = Retention{TrashDays: 30, KeepVersions: 10, VersionDays: 30}

// SpaceRetention returns a space's retention, or an error wrapping
// ErrNotFound.
func (r Reader) SpaceRetention(ctx context.Context, id string) (Retention, error) {
	var ret Retention
	err := r.q.QueryRowContext(ctx, "SELECT trash_days, keep_versions, version_days FROM spaces WHERE id = ?", id).
		Scan(&ret.TrashDays, &ret.KeepVersions, &ret.VersionDays)
	if err != nil {
		return Retention{}, fmt.Errorf("store: get retention of space %q: %w", id, describe(err))
	}
	return ret, nil
}

// SetSpaceRetention sets a space's retention; negative values are refused
// by the schema.
func (tx *Tx) SetSpaceRetention(ctx context.Context, id string, ret Retention) error {
	return tx.execOne(ctx, fmt.Sprintf("set retention of space %q", id),
		"UPDATE spaces SET trash_days = ?, keep_versions = ?, version_days = ? WHERE id = ?",
		ret.TrashDays, ret.KeepVersions, ret.VersionDays, id)
}

// TrashItem is a row of the trash: the top of a deleted subtree.
type TrashItem struct {
	ID        string
	SpaceID   string
	NodeID    int64 // the id the top node had, and gets back on restore
	Path      string
	IsDir     bool
	Size      int64 // bytes of its files
	Files     int   // number of files in it
	DeletedBy string
	DeletedAt time.Time
	// Nodes is the JSON of the subtree's index rows (empty in listings).
	Nodes string
	// Restoring is the destination of a restore in progress, "" if none.
	Restoring string
}

const trashCols = "id, space_id, node_id, path, is_dir, size, files, deleted_by, deleted_at, COALESCE(restoring, '')"

func scanTrash(row interface{ Scan(...any) error }, withNodes bool) (TrashItem, error) {
	var it TrashItem
	var at int64
	dest := []any{&it.ID, &it.SpaceID, &it.NodeID, &it.Path, &it.IsDir, &it.Size, &it.Files, &it.DeletedBy, &at, &it.Restoring}
	if withNodes {
		dest = append(dest, &it.Nodes)
	}
	if err := row.Scan(dest...); err != nil {
		return TrashItem{}, err
	}
	it.DeletedAt = fromNanos(at)
	return it, nil
}

// TrashItems returns a space's trash, newest first, without Nodes.
func (r Reader) TrashItems(ctx context.Context, spaceID string) ([]TrashItem, error) {
	rows, err := r.q.QueryContext(ctx, "SELECT "+trashCols+" FROM trash WHERE space_id = ? ORDER BY deleted_at DESC, id", spaceID)
	if err != nil {
		return nil, fmt.Errorf("store: list trash of %q: %w", spaceID, describe(err))
	}
	defer rows.Close()
	var out []TrashItem
	for rows.Next() {
		it, err := scanTrash(rows, false)
		if err != nil {
			return nil, fmt.Errorf("store: list trash of %q: %w", spaceID, describe(err))
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list trash of %q: %w", spaceID, describe(err))
	}
	return out, nil
}

// TrashItem returns one item of a space's trash with its Nodes, or an
// error wrapping ErrNotFound.
func (r Reader) TrashItem(ctx context.Context, spaceID, id string) (TrashItem, error) {
	it, err := scanTrash(r.q.QueryRowContext(ctx, "SELECT "+trashCols+", nodes FROM trash WHERE space_id = ? AND id = ?", spaceID, id), true)
	if err != nil {
		return TrashItem{}, fmt.Errorf("store: get trash item %s/%s: %w", spaceID, id, describe(err))
	}
	return it, nil
}

// InsertTrash records a trashed item (Restoring is ignored).
func (tx *Tx) InsertTrash(ctx context.Context, it TrashItem) error {
	_, err := tx.tx.ExecContext(ctx,
		`INSERT INTO trash (id, space_id, node_id, path, is_dir, size, files, deleted_by, deleted_at, nodes)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		it.ID, it.SpaceID, it.NodeID, it.Path, it.IsDir, it.Size, it.Files, it.DeletedBy, nanos(it.DeletedAt), it.Nodes)
	if err != nil {
		return fmt.Errorf("store: insert trash item %s/%s: %w", it.SpaceID, it.ID, describe(err))
	}
	return nil
}

// SetTrashRestoring records (to != "") or clears (to == "") the
// destination of a restore in progress.
func (tx *Tx) SetTrashRestoring(ctx context.Context, spaceID, id, to string) error {
	return tx.execOne(ctx, fmt.Sprintf("mark trash item %s/%s", spaceID, id),
		"UPDATE trash SET restoring = NULLIF(?, '') WHERE space_id = ? AND id = ?", to, spaceID, id)
}

// DeleteTrash deletes a trash item's row and the rows of the versions that
// went to the trash with it, and returns those versions' ids (their files
// are the caller's).
func (tx *Tx) DeleteTrash(ctx context.Context, spaceID, id string) (versions []string, err error) {
	what := fmt.Sprintf("delete trash item %s/%s", spaceID, id)
	rows, err := tx.tx.QueryContext(ctx, "DELETE FROM versions WHERE trash_id = ? RETURNING id", id)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: %s: %w", what, describe(err))
		}
		versions = append(versions, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	return versions, tx.execOne(ctx, what, "DELETE FROM trash WHERE space_id = ? AND id = ?", spaceID, id)
}

// Version is a kept earlier content of a file.
type Version struct {
	ID        string
	SpaceID   string
	NodeID    int64
	Size      int64
	MTime     time.Time
	SHA256    string
	SHA1      string
	MIME      string
	CreatedBy string    // who replaced it
	CreatedAt time.Time // when it was replaced
	TrashID   string    // the trash item its file is in, "" if none
	Blob      string    // its content's key in the object store, "" if on disk
}

const versionCols = "id, space_id, node_id, size, mtime, sha256, sha1, mime, created_by, created_at, COALESCE(trash_id, ''), blob"

func scanVersion(row interface{ Scan(...any) error }) (Version, error) {
	var v Version
	var mtime, at int64
	if err := row.Scan(&v.ID, &v.SpaceID, &v.NodeID, &v.Size, &mtime, &v.SHA256, &v.SHA1, &v.MIME, &v.CreatedBy, &at, &v.TrashID, &v.Blob); err != nil {
		return Version{}, err
	}
	v.MTime, v.CreatedAt = fromNanos(mtime), fromNanos(at)
	return v, nil
}

func (r Reader) queryVersions(ctx context.Context, what, cond string, args ...any) ([]Version, error) {
	rows, err := r.q.QueryContext(ctx, "SELECT "+versionCols+" FROM versions WHERE "+cond, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, describe(err))
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	return out, nil
}

// Versions returns the versions of a file (by node id), newest first.
func (r Reader) Versions(ctx context.Context, nodeID int64) ([]Version, error) {
	return r.queryVersions(ctx, fmt.Sprintf("list versions of node %d", nodeID),
		"node_id = ? ORDER BY created_at DESC, id DESC", nodeID)
}

// SpaceVersions returns every version of a space, oldest first.
func (r Reader) SpaceVersions(ctx context.Context, spaceID string) ([]Version, error) {
	return r.queryVersions(ctx, fmt.Sprintf("list versions of space %q", spaceID),
		"space_id = ? ORDER BY created_at, id", spaceID)
}

// Version returns one version of a space, or an error wrapping ErrNotFound.
func (r Reader) Version(ctx context.Context, spaceID, id string) (Version, error) {
	v, err := scanVersion(r.q.QueryRowContext(ctx, "SELECT "+versionCols+" FROM versions WHERE space_id = ? AND id = ?", spaceID, id))
	if err != nil {
		return Version{}, fmt.Errorf("store: get version %s/%s: %w", spaceID, id, describe(err))
	}
	return v, nil
}

// InsertVersion records a version.
func (tx *Tx) InsertVersion(ctx context.Context, v Version) error {
	_, err := tx.tx.ExecContext(ctx,
		`INSERT INTO versions (id, space_id, node_id, size, mtime, sha256, sha1, mime, created_by, created_at, trash_id, blob)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULLIF(?, ''), ?)`,
		v.ID, v.SpaceID, v.NodeID, v.Size, nanos(v.MTime), v.SHA256, v.SHA1, v.MIME, v.CreatedBy, nanos(v.CreatedAt), v.TrashID, v.Blob)
	if err != nil {
		return fmt.Errorf("store: insert version %s/%s: %w", v.SpaceID, v.ID, describe(err))
	}
	return nil
}

// DeleteVersion deletes a version's row, or returns an error wrapping
// ErrNotFound.
func (tx *Tx) DeleteVersion(ctx context.Context, spaceID, id string) error {
	return tx.execOne(ctx, fmt.Sprintf("delete version %s/%s", spaceID, id),
		"DELETE FROM versions WHERE space_id = ? AND id = ?", spaceID, id)
}

// TrashVersions marks the versions of the files at path and below in a
// space (still indexed) as gone to the trash with item trashID.
func (tx *Tx) TrashVersions(ctx context.Context, spaceID, path, trashID string) error {
	cond, args := below(spaceID, path)
	args = append([]any{trashID, spaceID, path}, args...)
	_, err := tx.tx.ExecContext(ctx, `UPDATE versions SET trash_id = ? WHERE trash_id IS NULL AND node_id IN (
		SELECT id FROM nodes WHERE (space_id = ? AND path = ?) OR (`+cond+`))`, args...)
	if err != nil {
		return fmt.Errorf("store: move versions of %s/%q to the trash: %w", spaceID, path, describe(err))
	}
	return nil
}

// UntrashVersions clears the trash item of the versions that went with it.
func (tx *Tx) UntrashVersions(ctx context.Context, trashID string) error {
	if _, err := tx.tx.ExecContext(ctx, "UPDATE versions SET trash_id = NULL WHERE trash_id = ?", trashID); err != nil {
		return fmt.Errorf("store: restore versions of trash item %s: %w", trashID, describe(err))
	}
	return nil
}

// StrayVersions returns the ids of a space's versions whose file is
// neither indexed nor in the trash (it was replaced by a move, say).
func (r Reader) StrayVersions(ctx context.Context, spaceID string) ([]string, error) {
	vs, err := r.queryVersions(ctx, fmt.Sprintf("list stray versions of %q", spaceID),
		"space_id = ? AND trash_id IS NULL AND node_id NOT IN (SELECT id FROM nodes WHERE space_id = ?)", spaceID, spaceID)
	ids := make([]string, len(vs))
	for i, v := range vs {
		ids[i] = v.ID
	}
	return ids, err
}

// Retained is what a space keeps out of its visible tree: the bytes in its
// trash and in its versions (those of trashed files included).
type Retained struct {
	TrashBytes, VersionBytes int64
	TrashItems, Versions     int
}

// Bytes is TrashBytes + VersionBytes.
func (r Retained) Bytes() int64 { return r.TrashBytes + r.VersionBytes }

// SpaceRetained sums what a space keeps in its trash and versions.
func (r Reader) SpaceRetained(ctx context.Context, spaceID string) (Retained, error) {
	var ret Retained
	err := r.q.QueryRowContext(ctx, `SELECT
		(SELECT COALESCE(SUM(size), 0) FROM trash WHERE space_id = ?),
		(SELECT COUNT(*) FROM trash WHERE space_id = ?),
		(SELECT COALESCE(SUM(size), 0) FROM versions WHERE space_id = ?),
		(SELECT COUNT(*) FROM versions WHERE space_id = ?)`, spaceID, spaceID, spaceID, spaceID).
		Scan(&ret.TrashBytes, &ret.TrashItems, &ret.VersionBytes, &ret.Versions)
	if err != nil {
		return Retained{}, fmt.Errorf("store: sum trash and versions of %q: %w", spaceID, describe(err))
	}
	return ret, nil
}

// RetainedEntry is one trash item or version, for purging oldest first.
type RetainedEntry struct {
	Trash bool // a trash item; else a version
	ID    string
	Size  int64
	At    time.Time // deleted or replaced
}

// OldestRetained returns a space's trash items and versions not in the
// trash, oldest first; before, if not zero, keeps only those older.
func (r Reader) OldestRetained(ctx context.Context, spaceID string, trashBefore, versionsBefore time.Time) ([]RetainedEntry, error) {
	tb, vb := sql.NullInt64{}, sql.NullInt64{}
	if !trashBefore.IsZero() {
		tb = sql.NullInt64{Int64: nanos(trashBefore), Valid: true}
	}
	if !versionsBefore.IsZero() {
		vb = sql.NullInt64{Int64: nanos(versionsBefore), Valid: true}
	}
	rows, err := r.q.QueryContext(ctx, `
		SELECT 1, id, size + COALESCE((SELECT SUM(v.size) FROM versions v WHERE v.trash_id = trash.id), 0), deleted_at
		  FROM trash WHERE space_id = ?1 AND restoring IS NULL AND (CAST(?2 AS BIGINT) IS NULL OR deleted_at < ?2)
		UNION ALL
		SELECT 0, id, size, created_at FROM versions WHERE space_id = ?1 AND trash_id IS NULL AND (CAST(?3 AS BIGINT) IS NULL OR created_at < ?3)
		ORDER BY 4, 2`, spaceID, tb, vb)
	if err != nil {
		return nil, fmt.Errorf("store: list trash and versions of %q: %w", spaceID, describe(err))
	}
	defer rows.Close()
	var out []RetainedEntry
	for rows.Next() {
		var e RetainedEntry
		var at int64
		if err := rows.Scan(&e.Trash, &e.ID, &e.Size, &at); err != nil {
			return nil, fmt.Errorf("store: list trash and versions of %q: %w", spaceID, describe(err))
		}
		e.At = fromNanos(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list trash and versions of %q: %w", spaceID, describe(err))
	}
	return out, nil
}

// InsertNodeWithID is InsertNode keeping n.ID (a restore from the trash
// gives the nodes their ids back; ids are never reused).
func (tx *Tx) InsertNodeWithID(ctx context.Context, n Node) error {
	_, err := tx.tx.ExecContext(ctx,
		`INSERT INTO nodes (id, space_id, parent_id, path, name, is_dir, size, mtime, ctime, etag, sha256, sha1, mime, blob)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n.ID, n.SpaceID, nullID(n.ParentID), n.Path, n.Name, n.IsDir, n.Size,
		nanos(n.MTime), nanos(n.CTime), n.ETag, n.SHA256, n.SHA1, n.MIME, n.Blob)
	if err != nil {
		return fmt.Errorf("store: insert node %d %s/%q: %w", n.ID, n.SpaceID, n.Path, describe(err))
	}
	return nil
}

// ForgetRetained deletes every trash and version record (a backup, which
// does not copy their files, drops them from its copy of the database).
func (tx *Tx) ForgetRetained(ctx context.Context) error {
	for _, q := range []string{"DELETE FROM versions", "DELETE FROM trash"} {
		if _, err := tx.tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("store: forget trash and versions: %w", describe(err))
		}
	}
	return nil
}
