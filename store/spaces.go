package store

import (
	"context"
	"fmt"
	"time"
)

// Space is a row of the spaces table: one tree of files with its own quota.
type Space struct {
	ID   string // URL-safe slug, the directory name under spaces/
	Name string // as the user typed it
	// QuotaBytes is the most the space may hold; 0 means no quota.
	QuotaBytes int64
	// UsedBytes is the sum of the sizes of the space's files, kept
	// incrementally by AddUsed and recomputed by SetUsed.
	UsedBytes int64
	CreatedAt time.Time
	// Generation moves with every change of the space's nodes (see
	// SpaceGeneration); read only, CreateSpace ignores it.
	Generation int64
}

const spaceCols = "id, name, quota_bytes, used_bytes, created_at, generation"

func scanSpace(row interface{ Scan(...any) error }) (Space, error) {
	var s Space
	var created int64
	if err := row.Scan(&s.ID, &s.Name, &s.QuotaBytes, &s.UsedBytes, &created, &s.Generation); err != nil {
		return Space{}, err
	}
	s.CreatedAt = fromNanos(created)
	return s, nil
}

// Space returns the space with the given id, or an error wrapping ErrNotFound.
func (r Reader) Space(ctx context.Context, id string) (Space, error) {
	s, err := scanSpace(r.q.QueryRowContext(ctx, "SELECT "+spaceCols+" FROM spaces WHERE id = ?", id))
	if err != nil {
		return Space{}, fmt.Errorf("store: get space %q: %w", id, describe(err))
	}
	return s, nil
}

// Spaces returns every space, ordered by id.
func (r Reader) Spaces(ctx context.Context) ([]Space, error) {
	rows, err := r.q.QueryContext(ctx, "SELECT "+spaceCols+" FROM spaces ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("store: list spaces: %w", describe(err))
	}
	defer rows.Close()
	var out []Space
	for rows.Next() {
		s, err := scanSpace(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list spaces: %w", describe(err))
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list spaces: %w", describe(err))
	}
	return out, nil
}

// CreateSpace inserts s (UsedBytes is stored as given, normally 0). It
// returns an error wrapping ErrExists if the id is taken.
func (tx *Tx) CreateSpace(ctx context.Context, s Space) error {
	_, err := tx.tx.ExecContext(ctx,
		"INSERT INTO spaces (id, name, quota_bytes, used_bytes, created_at) VALUES (?, ?, ?, ?, ?)",
		s.ID, s.Name, s.QuotaBytes, s.UsedBytes, nanos(s.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: create space %q: %w", s.ID, describe(err))
	}
	return nil
}

// DeleteSpace deletes a space with its nodes, members and tokens, or returns
// an error wrapping ErrNotFound.
func (tx *Tx) DeleteSpace(ctx context.Context, id string) error {
	// Unlink the nodes from each other first so that deleting them does not
	// cascade through parent_id one level at a time (SQLite limits the depth
	// of cascades; a deep tree would fail).
	for _, q := range []string{
		"UPDATE nodes SET parent_id = NULL WHERE space_id = ?",
		"DELETE FROM nodes WHERE space_id = ?",
	} {
		if _, err := tx.tx.ExecContext(ctx, q, id); err != nil {
			return fmt.Errorf("store: delete space %q: %w", id, describe(err))
		}
	}
	return tx.execOne(ctx, fmt.Sprintf("delete space %q", id), "DELETE FROM spaces WHERE id = ?", id)
}

// SetQuota sets a space's quota in bytes (0: none), or returns an error
// wrapping ErrNotFound.
func (tx *Tx) SetQuota(ctx context.Context, id string, bytes int64) error {
	return tx.execOne(ctx, fmt.Sprintf("set quota of space %q", id),
		"UPDATE spaces SET quota_bytes = ? WHERE id = ?", bytes, id)
}

// AddUsed adds delta (which may be negative) to a space's used bytes, or
// returns an error wrapping ErrNotFound.
func (tx *Tx) AddUsed(ctx context.Context, id string, delta int64) error {
	return tx.execOne(ctx, fmt.Sprintf("add %d used bytes to space %q", delta, id),
		"UPDATE spaces SET used_bytes = used_bytes + ? WHERE id = ?", delta, id)
}

// SetUsed overwrites a space's used bytes (for check and repair), or returns
// an error wrapping ErrNotFound.
func (tx *Tx) SetUsed(ctx context.Context, id string, bytes int64) error {
	return tx.execOne(ctx, fmt.Sprintf("set used bytes of space %q", id),
		"UPDATE spaces SET used_bytes = ? WHERE id = ?", bytes, id)
}

// SpacePolicy returns a space's upload policy as stored (JSON, "" for
// none), or an error wrapping ErrNotFound.
func (r Reader) SpacePolicy(ctx context.Context, id string) (string, error) {
	var p string
	err := r.q.QueryRowContext(ctx, "SELECT policy FROM spaces WHERE id = ?", id).Scan(&p)
	if err != nil {
		return "", fmt.Errorf("store: get policy of space %q: %w", id, describe(err))
	}
	return p, nil
}

// SetSpacePolicy stores a space's upload policy (JSON, "" for none), or
// returns an error wrapping ErrNotFound.
func (tx *Tx) SetSpacePolicy(ctx context.Context, id, policy string) error {
	return tx.execOne(ctx, fmt.Sprintf("set policy of space %q", id),
		"UPDATE spaces SET policy = ? WHERE id = ?", policy, id)
}

// SpaceGeneration returns a number that changes whenever a node of the
// space does (kept by triggers, whoever writes), or an error wrapping
// ErrNotFound. Equal numbers mean no node of the space changed between the
// two reads.
func (r Reader) SpaceGeneration(ctx context.Context, id string) (int64, error) {
	var g int64
	err := r.q.QueryRowContext(ctx, "SELECT generation FROM spaces WHERE id = ?", id).Scan(&g)
	if err != nil {
		return 0, fmt.Errorf("store: get generation of space %q: %w", id, describe(err))
	}
	return g, nil
}
