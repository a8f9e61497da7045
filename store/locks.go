package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Lock is a row of locks: a WebDAV lock on a path of a space. Root is a
// cleaned path like Node.Path ("" for the space root); the lock may name a
// path where nothing exists. Depth is 0 or -1 (infinity). Every query
// returning locks leaves out those whose ExpiresAt is not after the time it
// is given: an expired lock is as good as gone, and DeleteExpiredLocks
// removes it for good.
type Lock struct {
	Token    string
	SpaceID  string
	Root     string
	Depth    int
	Shared   bool
	OwnerXML string // the lockinfo's <owner> content, verbatim
	UserID   int64  // 0: taken by no particular user
	Timeout  time.Duration
	// ExpiresAt is when the lock lapses; CreatedAt when it was taken.
	ExpiresAt time.Time
	CreatedAt time.Time
	// IsDir reports whether the node index has a directory at Root when the
	// lock is read (from a join, so that an href can end in "/" without a
	// query per lock). InsertLock ignores it.
	IsDir bool
}

// The join on nodes uses its UNIQUE (space_id, path) index: one lookup per
// lock returned.
const lockSelect = `SELECT l.token, l.space_id, l.root, l.depth, l.shared, l.owner_xml,
	COALESCE(l.user_id, 0), l.timeout_s, l.expires_at, l.created_at, COALESCE(n.is_dir, 0)
	FROM locks l LEFT JOIN nodes n ON n.space_id = l.space_id AND n.path = l.root`

func scanLock(s rowScanner) (Lock, error) {
	var l Lock
	var timeout, expires, created int64
	err := s.Scan(&l.Token, &l.SpaceID, &l.Root, &l.Depth, &l.Shared, &l.OwnerXML,
		&l.UserID, &timeout, &expires, &created, &l.IsDir)
	if err != nil {
		return Lock{}, err
	}
	l.Timeout = time.Duration(timeout) * time.Second
	l.ExpiresAt, l.CreatedAt = fromNanos(expires), fromNanos(created)
	return l, nil
}

func (r Reader) queryLocks(ctx context.Context, what, query string, args ...any) ([]Lock, error) {
	rows, err := r.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	defer rows.Close()
	var out []Lock
	for rows.Next() {
		l, err := scanLock(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, describe(err))
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	return out, nil
}

// Lock returns the lock with the given token if it has not expired at now,
// or an error wrapping ErrNotFound.
func (r Reader) Lock(ctx context.Context, token string, now time.Time) (Lock, error) {
	l, err := scanLock(r.q.QueryRowContext(ctx,
		lockSelect+" WHERE l.token = ? AND l.expires_at > ?", token, nanos(now)))
	if err != nil {
		return Lock{}, fmt.Errorf("store: get lock %q: %w", token, describe(err))
	}
	return l, nil
}

// PathLocks returns the locks of a space, unexpired at now, rooted at p or
// at one of its ancestors (the space root included) and, if below is true,
// also those rooted strictly below p; ordered by root, then token. Whether
// a lock on an ancestor reaches p (its Depth) is the caller's business.
func (r Reader) PathLocks(ctx context.Context, spaceID, p string, below bool, now time.Time) ([]Lock, error) {
	// The ancestors are listed here rather than computed in SQL, so that
	// SQLite sees an IN list on the (space_id, root) index.
	roots := []any{""}
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			roots = append(roots, p[:i])
		}
	}
	if p != "" {
		roots = append(roots, p)
	}
	where := "l.space_id = ? AND l.root IN (?" + strings.Repeat(", ?", len(roots)-1) + ")"
	args := append([]any{spaceID}, roots...)
	if below {
		cond, bargs := lockRootsBelow("l.root", p)
		where = "(" + where + ") OR (l.space_id = ? AND " + cond + ")"
		args = append(append(args, spaceID), bargs...)
	}
	args = append(args, nanos(now))
	return r.queryLocks(ctx, fmt.Sprintf("list locks around %s/%q", spaceID, p),
		lockSelect+" WHERE ("+where+") AND l.expires_at > ? ORDER BY l.root, l.token", args...)
}

// lockRootsBelow is the condition on column col selecting the roots
// strictly below p, a range on the (space_id, root) index as in below.
func lockRootsBelow(col, p string) (string, []any) {
	if p == "" {
		return col + " > ''", nil
	}
	return col + " >= ? AND " + col + " < ?", []any{p + "/", p + "0"}
}

// InsertLock stores l (IsDir is ignored). It returns an error wrapping
// ErrExists if the token is taken and ErrNotFound if the space or the user
// does not exist. Timeout is stored in whole seconds.
func (tx *Tx) InsertLock(ctx context.Context, l Lock) error {
	_, err := tx.tx.ExecContext(ctx,
		`INSERT INTO locks (token, space_id, root, depth, shared, owner_xml, user_id, timeout_s, expires_at, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		l.Token, l.SpaceID, l.Root, l.Depth, l.Shared, l.OwnerXML, nullID(l.UserID),
		int64(l.Timeout/time.Second), nanos(l.ExpiresAt), nanos(l.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: insert lock on %s/%q: %w", l.SpaceID, l.Root, describeRef(err))
	}
	return nil
}

// RefreshLock sets a new timeout and expiry on the lock with the given
// token. It returns an error wrapping ErrNotFound if there is no such lock;
// the caller checks beforehand that it has not expired.
func (tx *Tx) RefreshLock(ctx context.Context, token string, timeout time.Duration, expires time.Time) error {
	return tx.execOne(ctx, fmt.Sprintf("refresh lock %q", token),
		"UPDATE locks SET timeout_s = ?, expires_at = ? WHERE token = ?",
		int64(timeout/time.Second), nanos(expires), token)
}

// DeleteLock removes the lock with the given token, or returns an error
// wrapping ErrNotFound.
func (tx *Tx) DeleteLock(ctx context.Context, token string) error {
	return tx.execOne(ctx, fmt.Sprintf("delete lock %q", token), "DELETE FROM locks WHERE token = ?", token)
}

// DeleteLocksUnder removes every lock rooted at p or below it in a space
// (the whole space's locks for p "") and returns how many there were.
func (tx *Tx) DeleteLocksUnder(ctx context.Context, spaceID, p string) (int64, error) {
	cond, args := lockRootsBelow("root", p)
	res, err := tx.tx.ExecContext(ctx,
		"DELETE FROM locks WHERE space_id = ? AND (root = ? OR "+cond+")",
		append([]any{spaceID, p}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("store: delete locks under %s/%q: %w", spaceID, p, describe(err))
	}
	return lockRowsAffected(res)
}

// DeleteExpiredLocks removes the locks expired at now and returns how many
// there were.
func (tx *Tx) DeleteExpiredLocks(ctx context.Context, now time.Time) (int64, error) {
	res, err := tx.tx.ExecContext(ctx, "DELETE FROM locks WHERE expires_at <= ?", nanos(now))
	if err != nil {
		return 0, fmt.Errorf("store: delete expired locks: %w", describe(err))
	}
	return lockRowsAffected(res)
}

func lockRowsAffected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: count deleted rows: %w", err)
	}
	return n, nil
}
