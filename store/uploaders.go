package store

import (
	"context"
	"errors"
	"fmt"
)

// A file's uploader is the user whose upload installed its current bytes
// (node_uploaders, migration 20): the publisher of the scheduled
// Phraseanet commits it joins. A move keeps it, a copy carries it, an
// upload over the file replaces it; it goes with the file and with the
// user.

// SetUploader records userID as the uploader of node nodeID, replacing
// any earlier one. A userID of 0, or of a user who no longer exists,
// leaves the node without a known uploader: its new bytes are nobody's
// known upload. It returns an error wrapping ErrNotFound if the node does
// not exist.
func (tx *Tx) SetUploader(ctx context.Context, nodeID, userID int64) error {
	what := fmt.Sprintf("set uploader of node %d", nodeID)
	if userID != 0 {
		// One statement for the usual case (every install writes it): the
		// row made or changed if the user exists; none touched otherwise.
		res, err := tx.tx.ExecContext(ctx,
			`INSERT INTO node_uploaders (node_id, user_id) SELECT ?, id FROM users WHERE id = ?
			 ON CONFLICT (node_id) DO UPDATE SET user_id = excluded.user_id`, nodeID, userID)
		if err != nil {
			return fmt.Errorf("store: %s: %w", what, describeRef(err))
		}
		if n, err := res.RowsAffected(); err == nil && n > 0 {
			return nil
		}
	}
	if _, err := tx.tx.ExecContext(ctx, "DELETE FROM node_uploaders WHERE node_id = ?", nodeID); err != nil {
		return fmt.Errorf("store: %s: %w", what, describe(err))
	}
	return nil
}

// Uploaders returns the uploader of each given node that has a known one.
func (r Reader) Uploaders(ctx context.Context, nodeIDs []int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	for _, id := range nodeIDs {
		var uid int64
		err := r.q.QueryRowContext(ctx, "SELECT user_id FROM node_uploaders WHERE node_id = ?", id).Scan(&uid)
		if err == nil {
			out[id] = uid
			continue
		}
		if err = describe(err); !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("store: uploaders: %w", err)
		}
	}
	return out, nil
}

// SubtreeUploaders returns the known uploaders of the node at path in a
// space and of every node below it, by node id (what a trash item keeps,
// so that a restore gives them back).
func (r Reader) SubtreeUploaders(ctx context.Context, spaceID, path string) (map[int64]int64, error) {
	what := fmt.Sprintf("uploaders below %s/%q", spaceID, path)
	cond, args := below(spaceID, path)
	rows, err := r.q.QueryContext(ctx,
		`SELECT u.node_id, u.user_id FROM node_uploaders u
		 JOIN (SELECT id FROM nodes WHERE space_id = ? AND path = ?
		       UNION ALL SELECT id FROM nodes WHERE `+cond+`) s ON s.id = u.node_id`,
		append([]any{spaceID, path}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	defer rows.Close()
	out := map[int64]int64{}
	for rows.Next() {
		var node, user int64
		if err := rows.Scan(&node, &user); err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, describe(err))
		}
		out[node] = user
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	return out, nil
}
