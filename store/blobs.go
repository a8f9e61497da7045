package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Objects of the object store (--blobs) that no row names: see the
// migration that creates blob_orphans. A key is recorded before its object
// is stored and forgotten in the transaction that names it; a transaction
// that stops naming one records it, and the object is deleted after the
// commit. So every object the store may hold is named by a row or listed
// here, whatever a crash interrupts.

// AddBlobOrphan records key as possibly stored and named by no row, since
// now (kept if already there).
func (tx *Tx) AddBlobOrphan(ctx context.Context, key string, now time.Time) error {
	_, err := tx.tx.ExecContext(ctx,
		"INSERT INTO blob_orphans (key, since) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", key, nanos(now))
	if err != nil {
		return fmt.Errorf("store: record orphan object %q: %w", key, describe(err))
	}
	return nil
}

// ClaimBlobOrphan forgets key in the transaction that names it; an error
// wrapping ErrNotFound if it is not recorded (the collector took it: its
// object is being deleted, and must not be named).
func (tx *Tx) ClaimBlobOrphan(ctx context.Context, key string) error {
	return tx.execOne(ctx, fmt.Sprintf("claim object %q", key), "DELETE FROM blob_orphans WHERE key = ?", key)
}

// DropBlobOrphan forgets key: a row names it now, or its object is gone.
func (tx *Tx) DropBlobOrphan(ctx context.Context, key string) error {
	if _, err := tx.tx.ExecContext(ctx, "DELETE FROM blob_orphans WHERE key = ?", key); err != nil {
		return fmt.Errorf("store: forget orphan object %q: %w", key, describe(err))
	}
	return nil
}

// BlobOrphans returns at most limit keys recorded before before, in key
// order after the key after ("" from the first).
func (r Reader) BlobOrphans(ctx context.Context, before time.Time, after string, limit int) ([]string, error) {
	rows, err := r.q.QueryContext(ctx, "SELECT key FROM blob_orphans WHERE since < ? AND key > ? ORDER BY key LIMIT ?",
		nanos(before), after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list orphan objects: %w", describe(err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("store: list orphan objects: %w", describe(err))
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list orphan objects: %w", describe(err))
	}
	return out, nil
}

// BlobNamed reports whether a row names key: a node, a version, a
// processing job or a tus upload waiting for it, or a node kept in a trash
// item (whose JSON, written by package space, holds it as
// "blob":"KEY").
func (r Reader) BlobNamed(ctx context.Context, key string) (bool, error) {
	var one int
	err := r.q.QueryRowContext(ctx,
		`SELECT 1 WHERE EXISTS (SELECT 1 FROM nodes WHERE blob = ?)
		 OR EXISTS (SELECT 1 FROM versions WHERE blob = ?)
		 OR EXISTS (SELECT 1 FROM jobs WHERE blob = ?)
		 OR EXISTS (SELECT 1 FROM uploads WHERE blob = ?)
		 OR EXISTS (SELECT 1 FROM trash WHERE nodes LIKE ? ESCAPE '\')`,
		key, key, key, key, "%"+likeEscape(`"blob":"`+key+`"`)+"%").Scan(&one)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return false, fmt.Errorf("store: is object %q named: %w", key, describe(err))
}

// SetBlob names key as the content of the node id.
func (tx *Tx) SetBlob(ctx context.Context, id int64, key string) error {
	return tx.execOne(ctx, fmt.Sprintf("set the object of node %d", id), "UPDATE nodes SET blob = ? WHERE id = ?", key, id)
}

// SetVersionBlob names key as the content of a version.
func (tx *Tx) SetVersionBlob(ctx context.Context, spaceID, id, key string) error {
	return tx.execOne(ctx, fmt.Sprintf("set the object of version %s/%s", spaceID, id),
		"UPDATE versions SET blob = ? WHERE space_id = ? AND id = ?", key, spaceID, id)
}

// SpaceBlobs returns the keys every row of a space names (nodes, versions,
// trash items), for a space's deletion and for wharf check.
func (r Reader) SpaceBlobs(ctx context.Context, spaceID string) ([]string, error) {
	rows, err := r.q.QueryContext(ctx,
		"SELECT blob FROM nodes WHERE space_id = ? AND blob <> '' UNION SELECT blob FROM versions WHERE space_id = ? AND blob <> ''",
		spaceID, spaceID)
	if err != nil {
		return nil, fmt.Errorf("store: list the objects of space %q: %w", spaceID, describe(err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("store: list the objects of space %q: %w", spaceID, describe(err))
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list the objects of space %q: %w", spaceID, describe(err))
	}
	return out, nil
}
