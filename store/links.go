package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Link kinds.
const (
	LinkRead   = "read"   // download a file, or list and zip a folder
	LinkUpload = "upload" // drop files into a folder, nothing shown
)

// ErrLinkUsedUp: a link's download or upload limit is reached.
var ErrLinkUsedUp = errors.New("the link's limit is reached")

// Link is a row of links: a share link to one node. TokenHash is the
// SHA-256 (hex) of its secret; the secret itself is not kept.
type Link struct {
	ID           string
	TokenHash    string
	NodeID       int64
	CreatorID    int64
	Kind         string // LinkRead or LinkUpload
	Label        string
	PasswordHash string // "" for none
	MaxDownloads int64  // 0: no limit
	Downloads    int64
	MaxUploads   int64 // 0: no limit
	Uploads      int64
	CreatedAt    time.Time
	ExpiresAt    time.Time // zero: never

	// Filled by the queries from the node and the creator.
	SpaceID string
	Path    string
	IsDir   bool
	Creator string
}

const linkCols = `l.id, l.token_hash, l.node_id, l.creator_id, l.kind, l.label, l.password_hash,
	l.max_downloads, l.downloads, l.max_uploads, l.uploads, l.created_at, l.expires_at,
	n.space_id, n.path, n.is_dir, u.name`

const linkFrom = ` FROM links l JOIN nodes n ON n.id = l.node_id JOIN users u ON u.id = l.creator_id`

func scanLink(s rowScanner) (Link, error) {
	var l Link
	var created, expires int64
	err := s.Scan(&l.ID, &l.TokenHash, &l.NodeID, &l.CreatorID, &l.Kind, &l.Label, &l.PasswordHash,
		&l.MaxDownloads, &l.Downloads, &l.MaxUploads, &l.Uploads, &created, &expires,
		&l.SpaceID, &l.Path, &l.IsDir, &l.Creator)
	if err != nil {
		return Link{}, err
	}
	l.CreatedAt = fromNanos(created)
	if expires != 0 {
		l.ExpiresAt = fromNanos(expires)
	}
	return l, nil
}

// CreateLink inserts l (its node, creator and counts as given). It returns
// an error wrapping ErrExists if the id or token hash is taken and
// ErrNotFound if the node or the creator does not exist.
func (tx *Tx) CreateLink(ctx context.Context, l Link) error {
	var expires int64
	if !l.ExpiresAt.IsZero() {
		expires = nanos(l.ExpiresAt)
	}
	_, err := tx.tx.ExecContext(ctx,
		`INSERT INTO links (id, token_hash, node_id, creator_id, kind, label, password_hash,
			max_downloads, downloads, max_uploads, uploads, created_at, expires_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, 0, ?, ?)`,
		l.ID, l.TokenHash, l.NodeID, l.CreatorID, l.Kind, l.Label, l.PasswordHash,
		l.MaxDownloads, l.MaxUploads, nanos(l.CreatedAt), expires)
	if err != nil {
		return fmt.Errorf("store: create link: %w", describeRef(err))
	}
	return nil
}

// Link returns link id with its node's place and its creator's name, or
// ErrNotFound (also when its node is gone).
func (r Reader) Link(ctx context.Context, id string) (Link, error) {
	l, err := scanLink(r.q.QueryRowContext(ctx, "SELECT "+linkCols+linkFrom+" WHERE l.id = ?", id))
	if err != nil {
		return Link{}, fmt.Errorf("store: get link %q: %w", id, describe(err))
	}
	return l, nil
}

// LinkByHash returns the link whose token hash is hash, or ErrNotFound.
// Expired links are returned too: expiry is the caller's rule.
func (r Reader) LinkByHash(ctx context.Context, hash string) (Link, error) {
	l, err := scanLink(r.q.QueryRowContext(ctx, "SELECT "+linkCols+linkFrom+" WHERE l.token_hash = ?", hash))
	if err != nil {
		return Link{}, fmt.Errorf("store: get link by token: %w", describe(err))
	}
	return l, nil
}

// Links returns the links whose node is in space spaceID ("": any space)
// and, if creatorID is not 0, made by that user; oldest first.
func (r Reader) Links(ctx context.Context, spaceID string, creatorID int64) ([]Link, error) {
	q := "SELECT " + linkCols + linkFrom + " WHERE (? = '' OR n.space_id = ?) AND (? = 0 OR l.creator_id = ?) ORDER BY l.created_at, l.id"
	rows, err := r.q.QueryContext(ctx, q, spaceID, spaceID, creatorID, creatorID)
	if err != nil {
		return nil, fmt.Errorf("store: list links: %w", describe(err))
	}
	defer rows.Close()
	var out []Link
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list links: %w", describe(err))
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list links: %w", describe(err))
	}
	return out, nil
}

// DeleteLink removes link id, or returns ErrNotFound.
func (tx *Tx) DeleteLink(ctx context.Context, id string) error {
	return tx.execOne(ctx, fmt.Sprintf("delete link %q", id), "DELETE FROM links WHERE id = ?", id)
}

// ChargeLink counts one download (kind LinkRead) or one upload (LinkUpload)
// against link id's limit, atomically: it returns ErrLinkUsedUp when the
// limit is already reached, ErrNotFound when the link is gone.
func (tx *Tx) ChargeLink(ctx context.Context, id, kind string) error {
	col, limit := "downloads", "max_downloads"
	if kind == LinkUpload {
		col, limit = "uploads", "max_uploads"
	}
	res, err := tx.tx.ExecContext(ctx,
		"UPDATE links SET "+col+" = "+col+" + 1 WHERE id = ? AND ("+limit+" = 0 OR "+col+" < "+limit+")", id)
	if err != nil {
		return fmt.Errorf("store: charge link %q: %w", id, describe(err))
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	var one int
	err = tx.tx.QueryRowContext(ctx, "SELECT 1 FROM links WHERE id = ?", id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: charge link %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: charge link %q: %w", id, describe(err))
	}
	return fmt.Errorf("store: charge link %q: %w", id, ErrLinkUsedUp)
}
