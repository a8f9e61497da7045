package store

import (
	"context"
	"fmt"
	"time"
)

// UploadTokenLimits is a row of upload_token_limits: what an upload token
// may create (0: no limit) and what it has used.
type UploadTokenLimits struct {
	TokenID   string
	MaxBytes  int64
	MaxFiles  int64
	UsedBytes int64
	UsedFiles int64
}

// UploadTokenRow is an upload token with its limits and the name of its
// user, as listed by UploadTokens.
type UploadTokenRow struct {
	Token
	Limits   UploadTokenLimits
	UserName string
}

// PutUploadTokenLimits stores the limits of token l.TokenID (usage
// included), replacing any. It returns an error wrapping ErrNotFound if
// the token does not exist.
func (tx *Tx) PutUploadTokenLimits(ctx context.Context, l UploadTokenLimits) error {
	_, err := tx.tx.ExecContext(ctx,
		`INSERT INTO upload_token_limits (token_id, max_bytes, max_files, used_bytes, used_files) VALUES (?, ?, ?, ?, ?)
		 ON CONFLICT (token_id) DO UPDATE SET max_bytes = excluded.max_bytes, max_files = excluded.max_files,
			used_bytes = excluded.used_bytes, used_files = excluded.used_files`,
		l.TokenID, l.MaxBytes, l.MaxFiles, l.UsedBytes, l.UsedFiles)
	if err != nil {
		return fmt.Errorf("store: put limits of token %q: %w", l.TokenID, describeRef(err))
	}
	return nil
}

// UploadTokenLimits returns the limits of token id, or an error wrapping
// ErrNotFound if it has none.
func (r Reader) UploadTokenLimits(ctx context.Context, id string) (UploadTokenLimits, error) {
	l := UploadTokenLimits{TokenID: id}
	err := r.q.QueryRowContext(ctx,
		"SELECT max_bytes, max_files, used_bytes, used_files FROM upload_token_limits WHERE token_id = ?", id).
		Scan(&l.MaxBytes, &l.MaxFiles, &l.UsedBytes, &l.UsedFiles)
	if err != nil {
		return UploadTokenLimits{}, fmt.Errorf("store: limits of token %q: %w", id, describe(err))
	}
	return l, nil
}

// AddUploadTokenUsage adds bytes and files to what token id has used. It
// returns an error wrapping ErrNotFound if the token has no limits row.
func (tx *Tx) AddUploadTokenUsage(ctx context.Context, id string, bytes, files int64) error {
	return tx.execOne(ctx, fmt.Sprintf("add usage of token %q", id),
		"UPDATE upload_token_limits SET used_bytes = used_bytes + ?, used_files = used_files + ? WHERE token_id = ?",
		bytes, files, id)
}

// UploadTokens returns the tokens of kind upload, of user userID (0: of
// everyone), with their limits (zero when they have none) and user names,
// oldest first.
func (r Reader) UploadTokens(ctx context.Context, userID int64) ([]UploadTokenRow, error) {
	const what = "list upload tokens"
	rows, err := r.q.QueryContext(ctx, "SELECT "+tokenCols+`, u.name,
			COALESCE(l.max_bytes, 0), COALESCE(l.max_files, 0), COALESCE(l.used_bytes, 0), COALESCE(l.used_files, 0)
		 FROM tokens t JOIN users u ON u.id = t.user_id LEFT JOIN upload_token_limits l ON l.token_id = t.id
		 WHERE t.kind = 'upload' AND (? = 0 OR t.user_id = ?)
		 ORDER BY t.created_at, t.id`, userID, userID)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	defer rows.Close()
	var out []UploadTokenRow
	for rows.Next() {
		var row UploadTokenRow
		row.Token, err = scanToken(rows, &row.UserName,
			&row.Limits.MaxBytes, &row.Limits.MaxFiles, &row.Limits.UsedBytes, &row.Limits.UsedFiles)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, describe(err))
		}
		row.Limits.TokenID = row.ID
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	return out, nil
}

// PutNodeMetadata stores the JSON object js as the metadata of node
// nodeID, replacing any. It returns an error wrapping ErrNotFound if the
// node does not exist.
func (tx *Tx) PutNodeMetadata(ctx context.Context, nodeID int64, js string, now time.Time) error {
	_, err := tx.tx.ExecContext(ctx,
		`INSERT INTO node_metadata (node_id, json, updated_at) VALUES (?, ?, ?)
		 ON CONFLICT (node_id) DO UPDATE SET json = excluded.json, updated_at = excluded.updated_at`,
		nodeID, js, nanos(now))
	if err != nil {
		return fmt.Errorf("store: put metadata of node %d: %w", nodeID, describeRef(err))
	}
	return nil
}

// NodeMetadata returns the metadata JSON of node nodeID, or an error
// wrapping ErrNotFound if it has none.
func (r Reader) NodeMetadata(ctx context.Context, nodeID int64) (string, error) {
	var js string
	err := r.q.QueryRowContext(ctx, "SELECT json FROM node_metadata WHERE node_id = ?", nodeID).Scan(&js)
	if err != nil {
		return "", fmt.Errorf("store: metadata of node %d: %w", nodeID, describe(err))
	}
	return js, nil
}

// Finalization is a row of finalizations: the answer given to a
// finalization that is final.
type Finalization struct {
	Key       string
	UserID    int64
	TargetID  string
	CommitID  string
	Answer    string // JSON
	CreatedAt time.Time
	// Request is a hash of what was asked (metadata, form); "": any
	// (recorded before requests were compared).
	Request string
}

// Finalization returns the finalization recorded under key, or an error
// wrapping ErrNotFound.
func (r Reader) Finalization(ctx context.Context, key string) (Finalization, error) {
	f := Finalization{Key: key}
	var created int64
	err := r.q.QueryRowContext(ctx,
		"SELECT user_id, target_id, commit_id, answer, created_at, request FROM finalizations WHERE key = ?", key).
		Scan(&f.UserID, &f.TargetID, &f.CommitID, &f.Answer, &created, &f.Request)
	if err != nil {
		return Finalization{}, fmt.Errorf("store: get finalization: %w", describe(err))
	}
	f.CreatedAt = fromNanos(created)
	return f, nil
}

// InsertFinalization records f. It returns an error wrapping ErrExists if
// its key is recorded and ErrNotFound if its user does not exist.
func (tx *Tx) InsertFinalization(ctx context.Context, f Finalization) error {
	_, err := tx.tx.ExecContext(ctx,
		"INSERT INTO finalizations (key, user_id, target_id, commit_id, answer, created_at, request) VALUES (?, ?, ?, ?, ?, ?, ?)",
		f.Key, f.UserID, f.TargetID, f.CommitID, f.Answer, nanos(f.CreatedAt), f.Request)
	if err != nil {
		return fmt.Errorf("store: insert finalization: %w", describeRef(err))
	}
	return nil
}
