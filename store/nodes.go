package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Node is a row of the node index: one file or directory of a space.
//
// Path is the slash-separated NFC path relative to the space root, "" for
// the root itself; the store does not check it, the caller cleans it. A
// subtree is the range [Path+"/", Path+"0") of the (space_id, path) index,
// which holds because '0' is the byte after '/' and no name contains '/'.
type Node struct {
	ID       int64
	ParentID int64 // 0 for a space's root
	SpaceID  string
	Path     string
	Name     string // last element of Path, "" for the root
	IsDir    bool
	Size     int64 // bytes; 0 for directories
	MTime    time.Time
	CTime    time.Time
	ETag     string // with its quotes
	SHA256   string // lowercase hex; "" for directories
	MIME     string // "" for directories
}

const nodeCols = "id, COALESCE(parent_id, 0), space_id, path, name, is_dir, size, mtime, ctime, etag, sha256, mime"

func scanNode(row interface{ Scan(...any) error }) (Node, error) {
	var n Node
	var mtime, ctime int64
	if err := row.Scan(&n.ID, &n.ParentID, &n.SpaceID, &n.Path, &n.Name, &n.IsDir, &n.Size,
		&mtime, &ctime, &n.ETag, &n.SHA256, &n.MIME); err != nil {
		return Node{}, err
	}
	n.MTime, n.CTime = fromNanos(mtime), fromNanos(ctime)
	return n, nil
}

// below returns the condition and arguments selecting the strict
// descendants of path in a space; for the root ("") that is every other
// node. Bounds are computed here, not in SQL, so SQLite sees a plain range
// on the (space_id, path) index.
func below(spaceID, path string) (string, []any) {
	if path == "" {
		return "space_id = ? AND path > ''", []any{spaceID}
	}
	return "space_id = ? AND path >= ? AND path < ?", []any{spaceID, path + "/", path + "0"}
}

func (r Reader) queryNodes(ctx context.Context, what, query string, args ...any) ([]Node, error) {
	rows, err := r.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	defer rows.Close()
	var out []Node
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, describe(err))
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	return out, nil
}

// Node returns the node at path in a space, or an error wrapping ErrNotFound.
func (r Reader) Node(ctx context.Context, spaceID, path string) (Node, error) {
	n, err := scanNode(r.q.QueryRowContext(ctx,
		"SELECT "+nodeCols+" FROM nodes WHERE space_id = ? AND path = ?", spaceID, path))
	if err != nil {
		return Node{}, fmt.Errorf("store: get node %s/%q: %w", spaceID, path, describe(err))
	}
	return n, nil
}

// NodeByID returns the node with the given id, or an error wrapping
// ErrNotFound. Ids are stable across moves and replacements.
func (r Reader) NodeByID(ctx context.Context, id int64) (Node, error) {
	n, err := scanNode(r.q.QueryRowContext(ctx, "SELECT "+nodeCols+" FROM nodes WHERE id = ?", id))
	if err != nil {
		return Node{}, fmt.Errorf("store: get node %d: %w", id, describe(err))
	}
	return n, nil
}

// Children returns the direct children of a directory node ordered by name
// (bytewise), in one query on the (parent_id, name) index. An unknown or
// empty parent gives an empty list.
func (r Reader) Children(ctx context.Context, parentID int64) ([]Node, error) {
	return r.queryNodes(ctx, fmt.Sprintf("list children of node %d", parentID),
		"SELECT "+nodeCols+" FROM nodes WHERE parent_id = ? ORDER BY name", parentID)
}

// Descendants returns every node strictly below path in a space (the whole
// space but its root for path ""), ordered by path so that a directory comes
// before its contents.
func (r Reader) Descendants(ctx context.Context, spaceID, path string) ([]Node, error) {
	cond, args := below(spaceID, path)
	return r.queryNodes(ctx, fmt.Sprintf("list nodes below %s/%q", spaceID, path),
		"SELECT "+nodeCols+" FROM nodes WHERE "+cond+" ORDER BY path", args...)
}

// SubtreeBytes returns the total size of the files at or below path in a
// space (the node itself may be a file).
func (r Reader) SubtreeBytes(ctx context.Context, spaceID, path string) (int64, error) {
	cond, args := below(spaceID, path)
	var self, under int64
	err := r.q.QueryRowContext(ctx,
		"SELECT COALESCE(SUM(size), 0) FROM nodes WHERE space_id = ? AND path = ? AND is_dir = 0",
		spaceID, path).Scan(&self)
	if err == nil {
		err = r.q.QueryRowContext(ctx,
			"SELECT COALESCE(SUM(size), 0) FROM nodes WHERE "+cond+" AND is_dir = 0", args...).Scan(&under)
	}
	if err != nil {
		return 0, fmt.Errorf("store: sum sizes below %s/%q: %w", spaceID, path, describe(err))
	}
	return self + under, nil
}

// FileBytes returns the sum of the sizes of every file of a space, to check
// the space's UsedBytes.
func (r Reader) FileBytes(ctx context.Context, spaceID string) (int64, error) {
	var n int64
	err := r.q.QueryRowContext(ctx,
		"SELECT COALESCE(SUM(size), 0) FROM nodes WHERE space_id = ? AND is_dir = 0", spaceID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: sum file sizes of space %q: %w", spaceID, describe(err))
	}
	return n, nil
}

func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// InsertNode inserts n (its ID is ignored) and returns it with its new ID.
// It returns an error wrapping ErrExists if the path is taken in the space.
func (tx *Tx) InsertNode(ctx context.Context, n Node) (Node, error) {
	res, err := tx.tx.ExecContext(ctx,
		`INSERT INTO nodes (space_id, parent_id, path, name, is_dir, size, mtime, ctime, etag, sha256, mime)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n.SpaceID, nullID(n.ParentID), n.Path, n.Name, n.IsDir, n.Size,
		nanos(n.MTime), nanos(n.CTime), n.ETag, n.SHA256, n.MIME)
	if err == nil {
		n.ID, err = res.LastInsertId()
	}
	if err != nil {
		return Node{}, fmt.Errorf("store: insert node %s/%q: %w", n.SpaceID, n.Path, describe(err))
	}
	// Return the times as they read back.
	n.MTime, n.CTime = fromNanos(nanos(n.MTime)), fromNanos(nanos(n.CTime))
	return n, nil
}

// UpdateNode writes n's size, mtime, etag, sha256 and mime to the node with
// n's ID, or returns an error wrapping ErrNotFound.
func (tx *Tx) UpdateNode(ctx context.Context, n Node) error {
	return tx.execOne(ctx, fmt.Sprintf("update node %d (%s/%q)", n.ID, n.SpaceID, n.Path),
		"UPDATE nodes SET size = ?, mtime = ?, etag = ?, sha256 = ?, mime = ? WHERE id = ?",
		n.Size, nanos(n.MTime), n.ETag, n.SHA256, n.MIME, n.ID)
}

// DeleteSubtree deletes the node at path and every node below it, and
// returns the total size of the files removed so the caller can lower the
// space's used bytes. It returns an error wrapping ErrNotFound if there is no
// node at path. Deleting the root ("") is refused: delete the space.
func (tx *Tx) DeleteSubtree(ctx context.Context, spaceID, path string) (int64, error) {
	what := fmt.Sprintf("delete subtree %s/%q", spaceID, path)
	if path == "" {
		return 0, fmt.Errorf("store: %s: the root goes only with its space", what)
	}
	bytes, err := tx.SubtreeBytes(ctx, spaceID, path)
	if err != nil {
		return 0, err
	}
	cond, args := below(spaceID, path)
	// Unlink before deleting so no cascade runs through parent_id (its depth
	// is limited); then the range delete is one pass over the index.
	for _, q := range []string{
		"UPDATE nodes SET parent_id = NULL WHERE " + cond,
		"DELETE FROM nodes WHERE " + cond,
	} {
		if _, err := tx.tx.ExecContext(ctx, q, args...); err != nil {
			return 0, fmt.Errorf("store: %s: %w", what, describe(err))
		}
	}
	if err := tx.execOne(ctx, what, "DELETE FROM nodes WHERE space_id = ? AND path = ?", spaceID, path); err != nil {
		return 0, err
	}
	return bytes, nil
}

// MoveSubtree moves the node at srcPath in srcSpace, with everything below
// it, to dstPath in dstSpace (which may be the same space): paths are
// rewritten, ids are kept, and the moved node gets parentID and name. The
// destination must be free and must not lie inside the source (the caller
// checks both); a taken destination gives an error wrapping ErrExists, a
// missing source one wrapping ErrNotFound.
func (tx *Tx) MoveSubtree(ctx context.Context, srcSpace, srcPath, dstSpace, dstPath string, parentID int64, name string) error {
	what := fmt.Sprintf("move %s/%q to %s/%q", srcSpace, srcPath, dstSpace, dstPath)
	if srcPath == "" || dstPath == "" {
		return fmt.Errorf("store: %s: cannot move a root", what)
	}
	cond, args := below(srcSpace, srcPath)
	// substr and length count characters on both sides, so the prefix cut is
	// right for any UTF-8.
	_, err := tx.tx.ExecContext(ctx,
		"UPDATE nodes SET space_id = ?, path = ? || substr(path, length(?) + 1) WHERE "+cond,
		append([]any{dstSpace, dstPath, srcPath}, args...)...)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, describe(err))
	}
	return tx.execOne(ctx, what,
		"UPDATE nodes SET space_id = ?, path = ?, parent_id = ?, name = ? WHERE space_id = ? AND path = ?",
		dstSpace, dstPath, nullID(parentID), name, srcSpace, srcPath)
}

// CopySubtree copies the node at srcPath in srcSpace to dstPath in dstSpace
// with parentID and name, and, if deep, every node below it, all with new
// ids and ctime now; everything else (sizes, mtimes, etags, checksums) is
// copied. It returns the new top node. The destination must be free and must
// not lie inside the source; a taken destination gives an error wrapping
// ErrExists, a missing source one wrapping ErrNotFound.
func (tx *Tx) CopySubtree(ctx context.Context, srcSpace, srcPath, dstSpace, dstPath string, parentID int64, name string, deep bool, now time.Time) (Node, error) {
	what := fmt.Sprintf("copy %s/%q to %s/%q", srcSpace, srcPath, dstSpace, dstPath)
	if srcPath == "" || dstPath == "" {
		return Node{}, fmt.Errorf("store: %s: cannot copy a root", what)
	}
	const cols = "space_id, parent_id, path, name, is_dir, size, mtime, ctime, etag, sha256, mime"
	res, err := tx.tx.ExecContext(ctx,
		"INSERT INTO nodes ("+cols+`)
		 SELECT ?, ?, ?, ?, is_dir, size, mtime, ?, etag, sha256, mime FROM nodes WHERE space_id = ? AND path = ?`,
		dstSpace, nullID(parentID), dstPath, name, nanos(now), srcSpace, srcPath)
	if err != nil {
		return Node{}, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err == nil {
			err = ErrNotFound
		}
		return Node{}, fmt.Errorf("store: %s: %w", what, err)
	}
	top, err := res.LastInsertId()
	if err != nil {
		return Node{}, fmt.Errorf("store: %s: %w", what, err)
	}
	if deep {
		// Insert the descendants unlinked, then point each at its new parent,
		// found by its path (the row's path minus "/" + name) in one update.
		cond, args := below(srcSpace, srcPath)
		_, err = tx.tx.ExecContext(ctx,
			"INSERT INTO nodes ("+cols+`)
			 SELECT ?, NULL, ? || substr(path, length(?) + 1), name, is_dir, size, mtime, ?, etag, sha256, mime
			 FROM nodes WHERE `+cond+" ORDER BY path",
			append([]any{dstSpace, dstPath, srcPath, nanos(now)}, args...)...)
		if err == nil {
			dcond, dargs := below(dstSpace, dstPath)
			_, err = tx.tx.ExecContext(ctx,
				`UPDATE nodes SET parent_id = (SELECT p.id FROM nodes p WHERE p.space_id = nodes.space_id
				   AND p.path = substr(nodes.path, 1, length(nodes.path) - length(nodes.name) - 1))
				 WHERE `+dcond, dargs...)
		}
		if err != nil {
			return Node{}, fmt.Errorf("store: %s: %w", what, describe(err))
		}
	}
	return tx.NodeByID(ctx, top)
}
