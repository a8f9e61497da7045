package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
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
	SHA1     string // lowercase hex; "" for directories and when not computed
	MIME     string // "" for directories
	// Blob is the key of the file's content in the object store (--blobs),
	// "" when the content is the file at Path in the data directory.
	Blob string
}

// nodeCols selects a node as scanNode reads it. Listings are the hot path
// (a Depth 1 PROPFIND of 10,000 files), and with the driver each column of
// each row costs two C calls and each text value two allocations: so the
// text columns come back as one NUL-separated string that scanNode slices
// (NUL cannot occur in a path, an ETag, a checksum or a MIME type), and the
// name, always the last element of the path, is not read at all.
// The columns are the dialect's nodeCols (dialect.go).

// intCol scans an INTEGER column without database/sql's reflection path.
type intCol int64

func (c *intCol) Scan(src any) error {
	v, ok := src.(int64)
	if !ok {
		return fmt.Errorf("store: integer column holds %T", src)
	}
	*c = intCol(v)
	return nil
}

// nodeScanner reads node rows into fields it owns, so that scanning a row
// allocates nothing beyond what the driver returns.
type nodeScanner struct {
	id, parentID, size, mtime, ctime intCol
	isDir                            bool
	text                             string
	dest                             []any
	sep                              byte // between the text columns
}

func (r Reader) newNodeScanner() *nodeScanner {
	s := &nodeScanner{sep: r.d.sep}
	s.dest = []any{&s.id, &s.parentID, &s.isDir, &s.size, &s.mtime, &s.ctime, &s.text}
	return s
}

func (s *nodeScanner) scan(row interface{ Scan(...any) error }) (Node, error) {
	if err := row.Scan(s.dest...); err != nil {
		return Node{}, err
	}
	n := Node{ID: int64(s.id), ParentID: int64(s.parentID), IsDir: s.isDir, Size: int64(s.size),
		MTime: fromNanos(int64(s.mtime)), CTime: fromNanos(int64(s.ctime))}
	text := s.text
	var f [6]string
	for i := range f {
		j := strings.IndexByte(text, s.sep)
		if j < 0 {
			return Node{}, fmt.Errorf("malformed node row %d", n.ID)
		}
		f[i], text = text[:j], text[j+1:]
	}
	n.SpaceID, n.Path, n.ETag, n.SHA256, n.SHA1, n.MIME, n.Blob = f[0], f[1], f[2], f[3], f[4], f[5], text
	n.Name = n.Path[strings.LastIndexByte(n.Path, '/')+1:]
	return n, nil
}

func (r Reader) scanNode(row interface{ Scan(...any) error }) (Node, error) {
	return r.newNodeScanner().scan(row)
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

// queryNodes returns the nodes matching cond (with args) ordered by
// orderBy. A Node is a large struct: the result is sized by a count over
// the same condition first (an index-only scan, cheaper than growing a
// slice of 10,000 nodes by doubling). The count is only a hint: a write
// between the two queries just costs a reallocation.
func (r Reader) queryNodes(ctx context.Context, what, cond, orderBy string, args ...any) ([]Node, error) {
	var count int
	if err := r.q.QueryRowContext(ctx, "SELECT COUNT(*) FROM nodes WHERE "+cond, args...).Scan(&count); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	rows, err := r.q.QueryContext(ctx, "SELECT "+r.d.nodeCols+" FROM nodes WHERE "+cond+" ORDER BY "+orderBy, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	defer rows.Close()
	out := make([]Node, 0, count)
	sc := r.newNodeScanner()
	for rows.Next() {
		n, err := sc.scan(rows)
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
	n, err := r.scanNode(r.q.QueryRowContext(ctx,
		"SELECT "+r.d.nodeCols+" FROM nodes WHERE space_id = ? AND path = ?", spaceID, path))
	if err != nil {
		return Node{}, fmt.Errorf("store: get node %s/%q: %w", spaceID, path, describe(err))
	}
	return n, nil
}

// NodeByID returns the node with the given id, or an error wrapping
// ErrNotFound. Ids are stable across moves and replacements.
func (r Reader) NodeByID(ctx context.Context, id int64) (Node, error) {
	n, err := r.scanNode(r.q.QueryRowContext(ctx, "SELECT "+r.d.nodeCols+" FROM nodes WHERE id = ?", id))
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
		"parent_id = ?", "name", parentID)
}

// ChildrenBatches calls fn with the children of a node, ordered by name, in
// batches of up to size nodes as the rows are read, so that a caller can
// write out a long listing while the rest is still being read. fn may keep
// each batch. It stops at fn's first error and returns it.
func (r Reader) ChildrenBatches(ctx context.Context, parentID int64, size int, fn func([]Node) error) error {
	what := fmt.Sprintf("list children of node %d", parentID)
	rows, err := r.q.QueryContext(ctx, "SELECT "+r.d.nodeCols+" FROM nodes WHERE parent_id = ? ORDER BY name", parentID)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, describe(err))
	}
	defer rows.Close()
	size = max(size, 1)
	batch := make([]Node, 0, size)
	sc := r.newNodeScanner()
	for rows.Next() {
		n, err := sc.scan(rows)
		if err != nil {
			return fmt.Errorf("store: %s: %w", what, describe(err))
		}
		if batch = append(batch, n); len(batch) == size {
			if err := fn(batch); err != nil {
				return err
			}
			batch = make([]Node, 0, size)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: %s: %w", what, describe(err))
	}
	if len(batch) > 0 {
		return fn(batch)
	}
	return nil
}

// Descendants returns every node strictly below path in a space (the whole
// space but its root for path ""), ordered by path so that a directory comes
// before its contents.
func (r Reader) Descendants(ctx context.Context, spaceID, path string) ([]Node, error) {
	cond, args := below(spaceID, path)
	return r.queryNodes(ctx, fmt.Sprintf("list nodes below %s/%q", spaceID, path),
		cond, "path", args...)
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

// ChildDirBytes returns, for each directory directly in the directory at
// path, the total size of the files below it, keyed by the directory's
// name; directories holding no bytes are left out. It is one pass over the
// subtree, for listings that show folder sizes (oc:size).
func (r Reader) ChildDirBytes(ctx context.Context, spaceID, path string) (map[string]int64, error) {
	cond, args := below(spaceID, path)
	start := 1 // where a child's name starts in a descendant's path, in characters
	if path != "" {
		start = utf8.RuneCountInString(path) + 2
	}
	// A file deeper than a child has a '/' after the child's name; files
	// directly in path have none and are left out by the HAVING.
	rows, err := r.q.QueryContext(ctx,
		`SELECT substr(path, ?, `+r.d.instr+`(substr(path, ?), '/') - 1) AS child, SUM(size)
		 FROM nodes WHERE `+cond+` AND is_dir = 0 AND `+r.d.instr+`(substr(path, ?), '/') > 0
		 GROUP BY child`,
		append([]any{start, start}, append(args, start)...)...)
	if err != nil {
		return nil, fmt.Errorf("store: sum sizes of the folders in %s/%q: %w", spaceID, path, describe(err))
	}
	defer rows.Close()
	sizes := map[string]int64{}
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return nil, fmt.Errorf("store: sum sizes of the folders in %s/%q: %w", spaceID, path, err)
		}
		sizes[name] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: sum sizes of the folders in %s/%q: %w", spaceID, path, describe(err))
	}
	return sizes, nil
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
	err := tx.tx.QueryRowContext(ctx,
		`INSERT INTO nodes (space_id, parent_id, path, name, is_dir, size, mtime, ctime, etag, sha256, sha1, mime, blob)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		n.SpaceID, nullID(n.ParentID), n.Path, n.Name, n.IsDir, n.Size,
		nanos(n.MTime), nanos(n.CTime), n.ETag, n.SHA256, n.SHA1, n.MIME, n.Blob).Scan(&n.ID)
	if err != nil {
		return Node{}, fmt.Errorf("store: insert node %s/%q: %w", n.SpaceID, n.Path, describe(err))
	}
	// Return the times as they read back.
	n.MTime, n.CTime = fromNanos(nanos(n.MTime)), fromNanos(nanos(n.CTime))
	return n, nil
}

// UpdateNode writes n's size, mtime, etag, checksums, mime and blob key to
// the node with n's ID, or returns an error wrapping ErrNotFound.
func (tx *Tx) UpdateNode(ctx context.Context, n Node) error {
	return tx.execOne(ctx, fmt.Sprintf("update node %d (%s/%q)", n.ID, n.SpaceID, n.Path),
		"UPDATE nodes SET size = ?, mtime = ?, etag = ?, sha256 = ?, sha1 = ?, mime = ?, blob = ? WHERE id = ?",
		n.Size, nanos(n.MTime), n.ETag, n.SHA256, n.SHA1, n.MIME, n.Blob, n.ID)
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
// ids and ctime now; everything else (sizes, mtimes, etags, checksums, dead
// properties, uploaders) is copied. It returns the new top node. The
// destination must be free and must not lie inside the source; a taken
// destination gives an error wrapping ErrExists, a missing source one
// wrapping ErrNotFound.
func (tx *Tx) CopySubtree(ctx context.Context, srcSpace, srcPath, dstSpace, dstPath string, parentID int64, name string, deep bool, now time.Time) (Node, error) {
	what := fmt.Sprintf("copy %s/%q to %s/%q", srcSpace, srcPath, dstSpace, dstPath)
	if srcPath == "" || dstPath == "" {
		return Node{}, fmt.Errorf("store: %s: cannot copy a root", what)
	}
	// The blob keys are copied too: in object-store mode the caller gives
	// each copied file its own object afterwards (SetBlob).
	const cols = "space_id, parent_id, path, name, is_dir, size, mtime, ctime, etag, sha256, sha1, mime, blob"
	var top int64
	err := tx.tx.QueryRowContext(ctx,
		"INSERT INTO nodes ("+cols+`)
		 SELECT ?, ?, ?, ?, is_dir, size, mtime, ?, etag, sha256, sha1, mime, blob FROM nodes WHERE space_id = ? AND path = ?
		 RETURNING id`,
		dstSpace, nullID(parentID), dstPath, name, nanos(now), srcSpace, srcPath).Scan(&top)
	if err != nil { // sql.ErrNoRows: no source
		return Node{}, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	if deep {
		// Insert the descendants unlinked, then point each at its new parent,
		// found by its path (the row's path minus "/" + name) in one update.
		cond, args := below(srcSpace, srcPath)
		_, err = tx.tx.ExecContext(ctx,
			"INSERT INTO nodes ("+cols+`)
			 SELECT ?, NULL, ? || substr(path, length(?) + 1), name, is_dir, size, mtime, ?, etag, sha256, sha1, mime, blob
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
	// The rows kept per node go with the copy: dead properties, uploaders.
	for _, t := range []struct{ table, cols string }{
		{"props", "ns, name, lang, xml"},
		{"node_uploaders", "user_id"},
	} {
		if err := tx.copyNodeRows(ctx, t.table, t.cols, srcSpace, srcPath, dstSpace, dstPath, top, deep); err != nil {
			return Node{}, fmt.Errorf("store: %s: %w", what, describe(err))
		}
	}
	return tx.NodeByID(ctx, top)
}

// copyNodeRows gives the copy of a subtree the rows of table (keyed by
// node_id, with the other columns cols) of the nodes it was copied from:
// the top node's to top, and with deep each descendant's to the node at
// the same place below dstPath.
func (tx *Tx) copyNodeRows(ctx context.Context, table, cols, srcSpace, srcPath, dstSpace, dstPath string, top int64, deep bool) error {
	src := "r." + strings.ReplaceAll(cols, ", ", ", r.")
	_, err := tx.tx.ExecContext(ctx,
		`INSERT INTO `+table+` (node_id, `+cols+`)
		 SELECT ?, `+src+` FROM nodes s JOIN `+table+` r ON r.node_id = s.id
		 WHERE s.space_id = ? AND s.path = ?`,
		top, srcSpace, srcPath)
	if err != nil || !deep {
		return err
	}
	cond, args := below(srcSpace, srcPath)
	_, err = tx.tx.ExecContext(ctx,
		`INSERT INTO `+table+` (node_id, `+cols+`)
		 SELECT d.id, `+src+`
		 FROM (SELECT id, path FROM nodes WHERE `+cond+`) s
		 JOIN `+table+` r ON r.node_id = s.id
		 JOIN nodes d ON d.space_id = ? AND d.path = ? || substr(s.path, length(?) + 1)`,
		append(args, dstSpace, dstPath, srcPath)...)
	return err
}

// SetAncestorETags gives every folder above path in a space (its parent up
// to the space's root, path itself excluded) the ETag etag: sync clients
// skip a folder whose ETag has not changed, so a change anywhere below must
// show at every level above it.
func (tx *Tx) SetAncestorETags(ctx context.Context, spaceID, path, etag string) error {
	if path == "" {
		return nil
	}
	paths := []any{etag, spaceID, ""}
	for i := len(path) - 1; i > 0; i-- {
		if path[i] == '/' {
			paths = append(paths, path[:i])
		}
	}
	q := "UPDATE nodes SET etag = ? WHERE space_id = ? AND is_dir = 1 AND path IN (?" + strings.Repeat(", ?", len(paths)-3) + ")"
	if _, err := tx.tx.ExecContext(ctx, q, paths...); err != nil {
		return fmt.Errorf("store: set ETags above %s/%q: %w", spaceID, path, describe(err))
	}
	return nil
}
